"""The facts the ledger measures without training, as a report like the experiments' own:
``<out>/facts/report.md``, ``results.json`` (claims with keys, notes, premise checks) and, when a
benchmark JSON exists, ``bn_cost.png``."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt

from ledger import facts
from experiments.report import Report, claims_json, claims_markdown, mean_band, write
from experiments.stats import CLAIM_COLUMNS

NAME = "facts"


def write_facts(out_root: Path, images, seeds: int, data: str) -> Path:
    """Measure every fact, write the report, return its folder."""
    checked = facts.keras_batch_one(seeds)
    in_claims, in_note = facts.instance_norm(images, seeds)
    cost_claims, cost_note = facts.bench_cost(Path(out_root) / "bench")
    fused = facts.keras_fused()
    checked += in_claims + cost_claims
    notes = {"in_per_sample": in_note, "cpu_cost_32": cost_note}
    report = Report(
        name=NAME, title="Facts measured without training: Keras's BN at batch 1, `fused`, InstanceNorm, BN's cost",
        setup=(f"{seeds} seeds (random layers and inputs; InstanceNorm: random batches of {facts.IN_BATCH} {data} "
               "validation images); the benchmark rows: the epochs `scripts/bench.py` timed side by side, from the "
               f"JSON files in `{Path(out_root) / 'bench'}` (n: timed epochs, not seeds)."),
        columns=CLAIM_COLUMNS, rows=[c.row() for c in checked],
        paragraph=" ".join(note for note in [fused["text"], in_note, cost_note] if note),
        extra="## The claims, with the rule\n\n" + claims_markdown(checked),
        figures={"bn_cost.png": _cost_figure(cost_claims)} if cost_claims else {},
        results={"claims": claims_json(checked), "notes": notes, "premises": {"keras_fused": fused}, "seeds": seeds})
    return write(report, out_root)


def _cost_figure(claims) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    mid, low, high = mean_band([c.estimate for c in claims])
    names = [c.key.replace("_cost_", ", batch ").upper().replace("BATCH", "batch") for c in claims]
    ax.bar(names, mid, color=["tab:blue" if c.key.startswith("cpu") else "tab:green" for c in claims], alpha=0.7,
           yerr=[[m - lo for m, lo in zip(mid, low)], [hi - m for m, hi in zip(mid, high)]], capsize=4)
    ax.axhline(1.0, color="grey", linewidth=1)
    ax.axhline(facts.GPU_FREE, color="grey", linestyle=":", linewidth=1)
    top = max(h for h in high if not math.isnan(h))
    ax.set(ylabel="seconds per epoch, BN / no norm", ylim=(0, max(1.5, 1.1 * top)),
           title="BN's cost per epoch, Lightning path (geometric mean, 95% CI over timed epochs)")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig
