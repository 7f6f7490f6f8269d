"""BN's cost in time, one number per batch size, from the benchmark's JSON (``scripts/bench.py
--json reports/bench/cpu.json``: norms timed side by side, interleaved in slices, on a quiet
machine), and times to a target in seconds = optimizer steps x seconds per step from it.

The README, the facts, the ledger and the notebook all call ``bn_cost``; the seconds to a target
come from ``seconds_ratio``, never from the wall clock of runs that shared their cores.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from scipy import stats

from experiments.stats import CONFIDENCE, Estimate, ratio_ci

BENCH_FOLDER = "bench"  # under the reports folder
VARIANT = "lightning"  # the train.py path, the one the experiments train with


def bench_rows(folder: Path) -> dict[tuple[str, int, str], dict]:
    """``(kind, batch, norm) -> row`` (kind "cpu" or "gpu") of the Lightning path, from every ``*.json`` in
    ``folder`` that times the lesson's MLP (``--arch mlp``; the other nets' JSON files are left out)."""
    found = {}
    for path in sorted(Path(folder).glob("*.json")):
        report = json.loads(path.read_text())
        if report.get("config", {}).get("arch", "mlp") != "mlp":
            continue
        for row in report.get("rows", []):
            if row.get("variant") == VARIANT:
                kind = "gpu" if str(row["device"]).startswith("cuda") else "cpu"
                found[(kind, int(row["batch_size"]), row["norm"])] = {**row, "file": path.name}
    return found


def steps_per_epoch(row: dict) -> int:
    return math.ceil(row["images"] / row["batch_size"])


def seconds_per_step(row: dict) -> list[float]:
    """Each timed epoch's seconds over its optimizer steps."""
    return [s / steps_per_epoch(row) for s in row["seconds"]]


def bn_cost(folder: Path, batch: int, kind: str = "cpu") -> Estimate | None:
    """BN's seconds per step (= per epoch) over no norm's, epochs paired by their index (timed side by
    side): t on the per-epoch log-ratios. None when the benchmark has not timed both there."""
    rows = bench_rows(folder)
    bn, none = rows.get((kind, batch, "bn")), rows.get((kind, batch, "none"))
    if bn is None or none is None:
        return None
    n = min(len(bn["seconds"]), len(none["seconds"]))  # both norms take the same steps per epoch
    return ratio_ci(bn["seconds"][:n], none["seconds"][:n])


def product_ci(a: Estimate, b: Estimate, confidence: float = CONFIDENCE) -> Estimate:
    """The CI of the product of two independent ratios (each a t interval on logs, with its values):
    the log means add, their squared standard errors add, Welch-Satterthwaite degrees of freedom.

    >>> e = product_ci(Estimate(0.5, 0, 0, 3, "t on log-ratios", (0.5, 0.5, 0.5)), Estimate(1.2, 0, 0, 2, "t on log-ratios", (1.2, 1.2)))
    >>> round(e.mean, 6), round(e.low, 6), round(e.high, 6)
    (0.6, 0.6, 0.6)
    """
    parts = []
    for e in (a, b):
        logs = [math.log(v) for v in e.values]
        n = len(logs)
        mean = sum(logs) / n
        var = sum((x - mean) ** 2 for x in logs) / (n - 1) if n > 1 else math.nan
        parts.append((mean, var / n, n))
    centre = parts[0][0] + parts[1][0]
    se2 = parts[0][1] + parts[1][1]
    n = min(p[2] for p in parts)
    if math.isnan(se2):
        return Estimate(math.exp(centre), math.nan, math.nan, n, "product of t on logs")
    if se2 == 0:
        return Estimate(*(math.exp(centre),) * 3, n, "product of t on logs")
    df = se2**2 / sum(p[1] ** 2 / (p[2] - 1) for p in parts if p[1] > 0)
    half = stats.t.ppf(1 - (1 - confidence) / 2, df) * math.sqrt(se2)
    return Estimate(math.exp(centre), math.exp(centre - half), math.exp(centre + half), n,
                    f"t on log steps ratio (seeds) + log s/step ratio (bench epochs), Welch df {df:.1f}")


def seconds_ratio(steps_bn: list[float], steps_none: list[float], cost: Estimate) -> Estimate:
    """BN's seconds to a target over no norm's: per-seed steps ratio x the benchmark's s/step ratio."""
    return product_ci(ratio_ci(steps_bn, steps_none), cost)
