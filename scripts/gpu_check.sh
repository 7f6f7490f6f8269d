#!/usr/bin/env bash
# The GPU check (scripts/gpu_check.py says what it runs, with each step's time limit: 355 s in all).
# Made for the lent GPU machine: no .venv there, nothing to install, no network. Python: $PYTHON if
# set, else the project's .venv when there is one, else the first python3 on PATH.
# Usage: bash scripts/gpu_check.sh [--rehearse] [--data-dir DIR]   (results also into $OUT when set)
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [[ -z $PY ]]; then
  if [[ -x .venv/bin/python ]]; then PY=.venv/bin/python; else PY="$(command -v python3 || true)"; fi
fi
if [[ -z $PY ]]; then
  echo "error: no python3 on PATH and no .venv; put a Python with torch and Lightning on PATH, or set PYTHON" >&2
  exit 2
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
exec "$PY" scripts/gpu_check.py "$@"
