"""Which claim parts the pilot seeds left undecided, how many fresh seeds each needs (power 0.8 at its
declared margin, ``experiments.decide.seeds_needed``), and the commands that run them:
``python scripts/experiment.py followup --out reports`` prints it; the fresh reports land in
``reports/followup/<experiment>/`` and the ledger (``claims``) decides those parts on them alone."""

from __future__ import annotations

from pathlib import Path

from ledger.build import FOLLOWUP, build, seeds_of
from ledger.facts_report import NAME
from experiments.decide import MAX_SEEDS
from experiments.report import markdown_table


def plan(out_root: Path, workers: int = 2) -> tuple[list[list[str]], list[str]]:
    """(rows: part, pilot effect, seeds needed, how computed; commands, one per experiment)."""
    out_root = Path(out_root)
    rows, per_experiment = [], {}
    seen = set()
    for entry in build(out_root):
        for p in entry.parts:
            if p.need is None or p.fresh is not None or p.source in seen:
                continue
            seen.add(p.source)
            name = p.source.split(":")[0]
            seeds = "-" if p.need.seeds is None else str(p.need.seeds)
            rows.append([f"{entry.row.id}", p.source, p.part.label, p.pilot.estimate.text(4), seeds, p.need.text])
            if p.need.seeds is not None and name != NAME:
                per_experiment[name] = max(per_experiment.get(name, 0), p.need.seeds)
    commands = []
    for name, seeds in sorted(per_experiment.items()):
        offset = max(seeds_of(out_root / name) | {-1}) + 1  # fresh seeds, disjoint from the pilot's
        commands.append(f"python scripts/experiment.py {name} --seeds {min(seeds, MAX_SEEDS)} --seed-offset {offset} "
                        f"--out {out_root / FOLLOWUP} --workers {workers}")
    if per_experiment:
        commands.append(f"python scripts/experiment.py claims --out {out_root}")
    return rows, commands


def text(out_root: Path, workers: int = 2) -> str:
    rows, commands = plan(out_root, workers)
    if not rows:
        return "Every measured part is decided (or already has its fresh seeds): no follow-up to run."
    facts_note = ("" if not any(r[1].startswith(f"{NAME}:") for r in rows) else
                  "\nA `facts:` part's n is timed epochs of scripts/bench.py: rerun the benchmark with more --epochs.")
    return (markdown_table(["row", "part", "label", "pilot effect [95% CI]", "fresh seeds needed", "computation"], rows)
            + facts_note + "\n\nCommands (fresh seeds, disjoint from the pilot's):\n" + "\n".join(commands))
