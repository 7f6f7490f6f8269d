"""The speed benchmark: one training epoch of (a) the project's Lightning path, (b) a minimal
hand-written torch loop and (c) Keras ``fit``, on the same MLP, data and batch size.

The orchestrator (``orchestrator``: the plan and the run; ``processes``: the worker processes
and their turns; ``table``: the arithmetic and the printed table) runs every measurement in a
worker subprocess of its own (``python -m bench.workers JOB_JSON``; one module per variant in
``workers/``), so that its peak resident memory is its own and TensorFlow never shares a
process with torch. ``protocol`` holds the text lines both ends speak.

Importing ``bench`` imports neither torch nor TensorFlow (``scripts/bench.py --help`` stays
instant); a worker imports its own side only, when it runs. ``bench`` never imports ``parity``.
"""

from bench.config import VARIANTS, BenchConfig
from bench.orchestrator import run_bench
from bench.table import format_table

__all__ = ["VARIANTS", "BenchConfig", "format_table", "run_bench"]
