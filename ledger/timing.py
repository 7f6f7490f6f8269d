"""Times to a target in seconds, made from stored numbers: each seed's optimizer steps to the target
(ex1's and the homework's results.json) x the benchmark's seconds per step (``experiments.cost``),
instead of the wall clock of runs that shared their cores."""

from __future__ import annotations

import json
from pathlib import Path

from experiments.cost import BENCH_FOLDER, bn_cost, seconds_ratio
from experiments.stats import Claim

BATCH = 32  # ex1 and the homework train at Keras's default batch size
TARGETS = {  # source -> (experiment, summary key, the claim)
    "ex1:seconds_to_acc": ("ex1", "to_acc_0.85", "BN reaches val acc 0.85 in less training time"),
    "homework:seconds_to_loss": ("homework", "to_val_loss_0.4", "BN reaches val loss < 0.4 in less training time than no norm"),
}


def seconds_claims(results_root: Path, bench_root: Path) -> dict[str, Claim]:
    """``source -> Claim`` for each seconds part whose experiment report and benchmark JSON exist."""
    cost = bn_cost(Path(bench_root) / BENCH_FOLDER, BATCH)
    out = {}
    for source, (name, key, text) in TARGETS.items():
        path = Path(results_root) / name / "results.json"
        if cost is None or not path.exists():
            continue
        summary = json.loads(path.read_text()).get("summary", {})
        if key not in summary.get("bn", {}) or key not in summary.get("none", {}):
            continue
        bn, none = summary["bn"][key], summary["none"][key]
        out[source] = Claim(text, f"seconds = steps x s/step (bench, batch {BATCH}), BN / none",
                            seconds_ratio(bn["steps"], none["steps"], cost), "<", 1.0, key=source.split(":")[1],
                            censored=tuple((not a, not b) for a, b in zip(bn["reached"], none["reached"])),
                            sides=("BN", "none"))
    return out
