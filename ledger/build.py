"""Build the ledger: every row's parts (the claims of ``<out>/<experiment>/results.json``, the
facts report's among them), its verdict by rule, and ``<out>/claims.md`` / ``<out>/claims.json``.

A row's verdict: ``not testable here`` (with its reason) when nothing here can test it;
``obsolete`` when a premise check finds the thing gone; otherwise the verdicts of its parts,
each made again from its numbers by ``stats.verdict``, joined as a conjunction (the lesson's
sentence holds only if every part does): ``supported`` when every part is, ``contradicted``
when any part is, ``inconclusive`` otherwise, also when a part was not measured yet.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from ledger import facts
from ledger.facts_report import NAME
from ledger.rows import ROWS, Row
from experiments.report import json_safe, markdown_table
from experiments.stats import CONTRADICTED, INCONCLUSIVE, RULE, SUPPORTED, Claim
from lightning_mods.files import write_all_atomically

NOT_TESTABLE, OBSOLETE = "not testable here", "obsolete"
CONJUNCTION = ("a row with several parts is supported when every part is, contradicted when any part is, "
               "inconclusive otherwise (also when a part is not measured yet)")


@dataclass
class Entry:
    row: Row
    parts: list[tuple[str, Claim | None]]  # (source, its claim; None: not measured yet)
    verdict: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self, command: str) -> dict:
        return {"id": self.row.id, "claim": self.row.claim, "section": self.row.section, "verdict": self.verdict,
                "reason": self.row.not_testable or None, "notes": self.notes, "figure": self.row.figure or None,
                "reports": experiments(self.row), "command": command,
                "parts": [{"source": source, **(claim.to_dict() if claim else {"verdict": None, "not_measured": True})}
                          for source, claim in self.parts]}


def combine(verdicts: list[str | None]) -> str:
    """The conjunction rule (None: a part not measured).

    >>> combine(["supported", "supported"]), combine(["supported", "contradicted"]), combine(["supported", None])
    ('supported', 'contradicted', 'inconclusive')
    """
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return CONTRADICTED if CONTRADICTED in verdicts else INCONCLUSIVE


def experiments(row: Row) -> list[str]:
    """The reports a row's parts come from (the facts report included)."""
    return list(dict.fromkeys(s.split(":")[0] for s in (*row.sources, *([row.obsolete_check] if row.obsolete_check else ()))))


def experiment_claims(out_root: Path) -> dict[str, Claim]:
    """``"<experiment>:<key>" -> Claim`` from every ``results.json`` under ``out_root``."""
    found = {}
    for path in sorted(Path(out_root).glob("*/results.json")):
        for row in json.loads(path.read_text()).get("claims", []):
            if row.get("key"):
                found[f"{path.parent.name}:{row['key']}"] = Claim.from_dict(row)
    return found


def facts_extras(out_root: Path) -> tuple[dict[str, str], dict[str, dict]]:
    """The facts report's notes and premise checks (``ledger.facts_report``), if it was written."""
    path = Path(out_root) / NAME / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    return results.get("notes", {}), {f"{NAME}:{k}": v for k, v in results.get("premises", {}).items()}


def build(out_root: Path) -> list[Entry]:
    """The ledger from the results.json files under ``out_root`` (the facts report's included)."""
    known = experiment_claims(out_root)
    fact_notes, premises = facts_extras(out_root)
    entries = []
    for row in ROWS:
        parts = [(source, known.get(source)) for source in row.sources]
        notes = [fact_notes[s.split(":")[1]] for s in row.sources if s.startswith("facts:") and fact_notes.get(s.split(":")[1])]
        if row.not_testable:
            verdict = NOT_TESTABLE
        elif row.obsolete_check:
            premise = premises.get(row.obsolete_check)
            notes.append(premise["text"] if premise else "not checked yet (see the command)")
            verdict = OBSOLETE if premise and premise["gone"] else INCONCLUSIVE
        else:
            verdict = combine([claim.verdict if claim else None for _, claim in parts])
        entries.append(Entry(row, parts, verdict, notes))
    return entries


def command_for(row: Row) -> str:
    names = [name for name in experiments(row) if name != NAME]  # the facts: measured by `claims` itself
    steps = [f"python scripts/experiment.py {name} --seeds 5" for name in names]
    if any(s.startswith("facts:cpu_cost") or s.startswith("facts:gpu_cost") for s in row.sources):
        steps.insert(0, facts.BENCH_COMMAND)
    return " && ".join(steps + ["python scripts/experiment.py claims"])


def _effects(entry: Entry) -> str:
    if entry.row.not_testable:
        return entry.row.not_testable
    lines = []
    for source, claim in entry.parts:
        if claim is None:
            lines.append(f"`{source}`: not measured yet (see the command)")
        else:
            lines.append(f"{claim.effect} = {claim.estimate.text(4, claim.percent)}, claimed {claim.side} "
                         f"{claim.threshold:g}, n={claim.estimate.n}: {claim.verdict}")
    return "<br>".join(lines + entry.notes)


def _links(entry: Entry, out_root: Path) -> str:
    links = [f"[{name}]({name}/report.md)" for name in experiments(entry.row) if (out_root / name / "report.md").exists()]
    if entry.row.figure and (out_root / entry.row.figure).exists():
        links.append(f"[figure]({entry.row.figure})")
    return ", ".join(links) or "-"


def write(entries: list[Entry], out_root: Path, header: str = "") -> tuple[Path, Path]:
    """``claims.md`` (the table) and ``claims.json`` (every part's numbers) in ``out_root``."""
    out_root = Path(out_root)
    counts = {v: sum(e.verdict == v for e in entries) for v in (SUPPORTED, CONTRADICTED, INCONCLUSIVE, OBSOLETE, NOT_TESTABLE)}
    table = markdown_table(["id", "claim", "where the lesson says it", "verdict", "effect [95% CI], n, per part",
                            "report", "reproduce"],
                           [[str(e.row.id), e.row.claim, e.row.section, f"**{e.verdict}**", _effects(e), _links(e, out_root),
                             f"`{command_for(e.row)}`"] for e in entries])
    text = "\n\n".join(p for p in [
        "# What the lesson claims, and what we measured",
        header,
        "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(entries)} claims).",
        f"Rule (in code, `experiments/stats.py`): {RULE}; {CONJUNCTION} (`ledger/build.py`). "
        "n is the number of seeds (for the benchmark rows: timed epochs). Every number comes from the reports "
        "linked in each row, regenerated by its command.",
        table] if p)
    md, js = out_root / "claims.md", out_root / "claims.json"
    write_all_atomically({md: (text + "\n").encode(), js: (json.dumps(json_safe({
        "counts": counts, "rule": RULE, "conjunction": CONJUNCTION,
        "claims": [e.to_dict(command_for(e.row)) for e in entries]}), indent=1) + "\n").encode()})
    return md, js


def summary_table(ledger: dict) -> str:
    """The README's short table (id, claim, verdict) from a ``claims.json``'s content."""
    return markdown_table(["id", "claim", "verdict"],
                          [[str(row["id"]), row["claim"], f"**{row['verdict']}**"] for row in ledger["claims"]])
