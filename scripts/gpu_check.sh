#!/usr/bin/env bash
# The GPU check, one script for one NVIDIA GPU (under 8 minutes once installed):
#   1. install (the project's .venv via `make install` unless it already imports everything),
#   2. the tests marked `gpu` (CUDA vs CPU for every norm; SyncBatchNorm vs plain BN),
#   3. the BN MLP for a few epochs on CUDA, real Fashion-MNIST (synthetic if absent),
#   4. scripts/bench.py --device cuda, if that script exists,
#   5. SyncBatchNorm across 2 processes on this GPU vs plain BN on the whole batch,
# then a short table. Each step has a time limit; a failed step is reported, not fatal.
# Usage: bash scripts/gpu_check.sh   (EPOCHS=3 BATCH_SIZE=32 by default)
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
EPOCHS="${EPOCHS:-3}"
BATCH_SIZE="${BATCH_SIZE:-32}"
OUT="${OUT:-runs/gpu_check}"
PY=.venv/bin/python
START=$SECONDS
say() { echo "[gpu_check +$((SECONDS - START))s] $*"; }

# 1. install
if [[ -x $PY ]] && $PY -c "import lightning_mods, lightning, torchmetrics, pytest" 2>/dev/null; then
  say "using the existing .venv"
else
  say "installing (make install: pinned torch, then pip install -e .[dev])"
  make install || { say "install failed"; exit 1; }
fi
DEVICE=$($PY -c "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')")
if [[ $DEVICE == none ]]; then
  say "no CUDA device visible to torch ($($PY -c 'import torch; print(torch.__version__)')); nothing to check"
  exit 1
fi
say "device: $DEVICE, torch $($PY -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda)')"

# 2. the gpu tests
say "pytest -m gpu"
timeout 120 $PY -m pytest -m gpu -q -p no:cacheprovider tests/test_gpu.py
TESTS=$([[ $? -eq 0 ]] && echo passed || echo FAILED)

# 3. a few epochs of the BN MLP on CUDA
DATA=synthetic
if $PY -c "from lightning_mods.fashion_files import find_dataset; find_dataset(download=False)" 2>/dev/null; then DATA=real; fi
say "training the BN MLP: $EPOCHS epochs, batch $BATCH_SIZE, $DATA data"
rm -rf "$OUT"
timeout 150 $PY scripts/train.py --norm bn --accelerator gpu --devices 1 --data "$DATA" --epochs "$EPOCHS" \
  --batch-size "$BATCH_SIZE" --no-progress --out "$OUT"
read -r SPE VAL < <($PY -c "import json; s = json.load(open('$OUT/summary.json')); print(f\"{s['seconds_per_epoch']:.2f} {s['val_acc']:.4f}\")" 2>/dev/null || echo "FAILED FAILED")

# 4. the benchmark, where another part of the project provides it
BENCH="absent"
if [[ -f scripts/bench.py ]]; then
  # no norm too: the claims ledger's "BN is almost free on a GPU" (row 24) reads reports/bench/gpu.json
  say "python scripts/bench.py --device cuda (BN and no-norm MLP, Lightning path vs plain loop) -> reports/bench/gpu.json"
  mkdir -p reports/bench
  timeout 180 $PY scripts/bench.py --device cuda --norms bn none --batch-sizes 32 128 --variants lightning torch \
    --json reports/bench/gpu.json && BENCH=ran || BENCH="FAILED (exit $?)"
fi

# 5. SyncBatchNorm: 2 processes on this GPU (gloo) vs plain BN on the concatenated batch
say "SyncBatchNorm check"
SYNC_JSON=$(timeout 90 $PY tests/sync_bn_check.py --device cuda)
SYNC=$($PY -c "import json, sys; r = json.loads(sys.argv[1]); print(('match' if r['ok'] else 'MISMATCH') + ', max |diff| ' + format(max(r['max_abs_diff'].values()), '.1e') + ' (tol ' + str(r['tolerance']) + ')' if 'max_abs_diff' in r else 'FAILED: ' + r.get('error', '?'))" "$SYNC_JSON" 2>/dev/null || echo FAILED)

cat <<EOF

| check | result |
|---|---|
| device | $DEVICE |
| pytest -m gpu | $TESTS |
| BN MLP, $DATA data, batch $BATCH_SIZE: s/epoch (median, training steps) | $SPE |
| BN MLP: val acc after $EPOCHS epochs | $VAL |
| scripts/bench.py --device cuda | $BENCH |
| SyncBatchNorm, 2 processes on 1 GPU vs plain BN | $SYNC |
| total wall time | $((SECONDS - START)) s |
EOF
[[ $TESTS == passed && $SPE != FAILED && $SYNC == match* ]]
