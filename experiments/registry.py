"""Every experiment by name: the one place that lists them (``scripts/experiment.py``, the ledger, the notebook)."""

from __future__ import annotations

from types import ModuleType

from experiments import batch_one, ex1, ex2, ex3, ex4, ex5, homework, landscape, lr_sweep, regularization, stale_stats, transformer, vision

EXPERIMENTS: dict[str, ModuleType] = {
    "ex1": ex1, "ex2": ex2, "ex3": ex3, "ex4": ex4, "ex5": ex5, "homework": homework, "landscape": landscape,
    "lr_sweep": lr_sweep, "regularization": regularization, "batch_one": batch_one, "stale_stats": stale_stats,
    "vision": vision, "transformer": transformer,
}
NAMES = tuple(EXPERIMENTS)
