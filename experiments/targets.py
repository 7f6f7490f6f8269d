"""Time to a target (val loss < 0.4, val accuracy >= 0.85) from a run's validations.

Runs that measure it validate every tenth of an epoch (``RunSpec(checks_per_epoch=10)``), so
the time is known to 0.1 epoch, in optimizer steps and in training seconds (validation
excluded). A run that never reaches the target is censored: it counts as its whole length plus
one check interval (a lower bound on its true time) and is flagged; a comparison carries the
flags (``censored``) so that the rule never reads a cut-off value as evidence against a claim
(``experiments.stats.censored_verdict``).
"""

from __future__ import annotations

from experiments.runner import Fit
from lightning_mods.history import first_crossing


def time_to(fit: Fit, metric: str, threshold: float, below: bool = True) -> dict:
    """``{"epochs", "steps", "seconds", "reached"}`` at the first validation that crosses."""
    rows = fit.checks or fit.history
    row = first_crossing(rows, metric, threshold, below)
    if row is not None:
        return {"epochs": row["epoch"], "steps": row.get("step"), "seconds": row.get("seconds"), "reached": True}
    last = rows[-1]
    per_check = last["epoch"] / len(rows)
    steps = last.get("step")
    return {"epochs": last["epoch"] + per_check, "steps": None if steps is None else steps + steps / len(rows),
            "seconds": last.get("seconds"), "reached": False}


def times_to(fits: list[Fit], metric: str, threshold: float, below: bool = True) -> dict:
    """Per seed (in the fits' order): epochs, steps, seconds, and whether each reached it."""
    each = [time_to(fit, metric, threshold, below) for fit in fits]
    return {key: [e[key] for e in each] for key in ("epochs", "steps", "seconds", "reached")}


def resolution(fit: Fit) -> float:
    """The spacing of the run's validations, in epochs."""
    rows = fit.checks or fit.history
    return rows[-1]["epoch"] / len(rows)


def censored(first: dict, second: dict) -> tuple[tuple[bool, bool], ...]:
    """Per seed, (first side not reached, second side not reached), from two ``times_to`` results.

    >>> censored({"reached": [True, False]}, {"reached": [False, False]})
    ((False, True), (True, True))
    """
    return tuple((not a, not b) for a, b in zip(first["reached"], second["reached"]))
