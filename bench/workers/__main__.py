"""``python -m bench.workers JOB_JSON``: one measurement, driven over stdin and stdout by the
orchestrator (``bench.protocol``)."""

import sys

from bench.workers import worker_main

if len(sys.argv) != 2:
    sys.exit("usage: python -m bench.workers JOB_JSON (the benchmark itself is scripts/bench.py)")
sys.exit(worker_main(sys.argv[1]))
