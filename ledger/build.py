"""Build the ledger: every row's parts (the claims of ``<out>/<experiment>/results.json``, the
facts report's among them), its verdict by rule, and ``<out>/claims.md`` / ``<out>/claims.json``.

A row's verdict: ``not testable here`` (with its reason) when nothing here can test it;
``obsolete`` when a premise check finds the thing gone; otherwise the verdicts of its parts,
each made again from its numbers (``experiments.decide.decide``: the CI rule, censored times that
cannot carry a verdict, and ``negligible`` against the part's declared margin, ``ledger/parts.py``),
joined as a conjunction (the lesson's sentence holds only if every part does): ``supported`` when
every part is, ``contradicted`` when any part is (a negligible effect contradicts "X is better"),
``inconclusive`` otherwise, also when a part was not measured yet.

A part inconclusive on the pilot seeds (0-4) is decided by fresh seeds when a follow-up ran
(``<out>/followup/<experiment>/results.json``, seeds disjoint from the pilot's; ``ledger/followup.py``
says how many and the commands): its verdict uses the fresh sample only, the row shows both.
Holm's step-down adjusts the parts' p-values across the whole ledger.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ledger import facts
from ledger.facts_report import NAME
from ledger.parts import Part, part
from ledger.rows import ROWS, Row
from ledger.timing import seconds_claims
from experiments.decide import Need, decide, equivalence_p, holm, p_value, reading, seeds_needed
from experiments.report import json_safe, markdown_table
from experiments.stats import CONTRADICTED, INCONCLUSIVE, NEGLIGIBLE, RULE, SUPPORTED, Claim
from lightning_mods.files import write_all_atomically

FOLLOWUP = "followup"  # <out>/followup/<experiment>/results.json: the fresh seeds of a follow-up
SURVIVES = 0.05  # a Holm-adjusted p below it: the verdict survives the multiplicity of the whole ledger

NOT_TESTABLE, OBSOLETE = "not testable here", "obsolete"
CONJUNCTION = ("a row with several parts is supported when every part is, contradicted when any part is, "
               "inconclusive otherwise (also when a part is not measured yet); negligible: the whole CI inside the "
               "part's smallest effect that matters (-m, +m), which contradicts a claimed effect (\"contradicted "
               "(negligible)\") and supports a claimed absence of one; a time to a target never reached is censored "
               "and cannot carry a verdict it would bias")


@dataclass
class PartResult:
    """One part of a row: the pilot's claim, the follow-up's (fresh seeds), its verdict and what it reads as."""

    source: str
    part: Part
    pilot: Claim | None  # None: not measured yet
    fresh: Claim | None = None
    need: Need | None = None  # the fresh seeds an undecided pilot needs
    p: float = math.nan
    p_holm: float = math.nan

    @property
    def claim(self) -> Claim | None:
        """The claim the verdict is made on: the fresh sample when there is one, else the pilot."""
        return self.fresh or self.pilot

    @property
    def verdict(self) -> str | None:
        return None if self.claim is None else decide(self.claim, self.part.margin)

    @property
    def reading(self) -> str | None:
        return None if self.verdict is None else reading(self.verdict, self.part.equivalence)

    @property
    def survives(self) -> bool | None:
        """Does the verdict survive Holm's adjustment? (None: nothing to adjust, inconclusive)."""
        if self.verdict in (None, INCONCLUSIVE) or math.isnan(self.p_holm):
            return None
        return self.p_holm < SURVIVES


@dataclass
class Entry:
    row: Row
    parts: list[PartResult]
    verdict: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self, command: str) -> dict:
        return {"id": self.row.id, "claim": self.row.claim, "section": self.row.section, "verdict": self.verdict,
                "reason": self.row.not_testable or None, "notes": self.notes, "figure": self.row.figure or None,
                "reports": experiments(self.row), "command": command,
                "parts": [_part_dict(p) for p in self.parts]}


def _part_dict(p: PartResult) -> dict:
    out = {"source": p.source, "label": p.part.label, "margin": p.part.margin, "margin_reason": p.part.reason}
    out.update(p.pilot.to_dict() if p.pilot else {"not_measured": True})
    out.update(verdict=p.verdict, reading=p.reading, p=p.p, p_holm=p.p_holm, survives_holm=p.survives,
               fresh=p.fresh.to_dict() if p.fresh else None,
               seeds_needed=None if p.need is None else {"seeds": p.need.seeds, "power": p.need.power_at, "text": p.need.text})
    return out


def combine(verdicts: list[str | None]) -> str:
    """The conjunction rule (None: a part not measured).

    >>> combine(["supported", "supported"]), combine(["supported", "contradicted"]), combine(["supported", None])
    ('supported', 'contradicted', 'inconclusive')
    >>> combine(["supported", "contradicted (negligible)"]), combine(["supported (negligible)"])
    ('contradicted', 'supported')
    """
    base = [v.split(" (")[0] if v else v for v in verdicts]  # "contradicted (negligible)" counts as contradicted
    if base and all(v == SUPPORTED for v in base):
        return SUPPORTED
    return CONTRADICTED if CONTRADICTED in base else INCONCLUSIVE


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


def pilot_and_fresh(out_root: Path) -> tuple[dict[str, Claim], dict[str, Claim], list[str]]:
    """The claims of the pilot reports and of the follow-up's fresh seeds (those disjoint from the
    pilot's seeds only), the seconds parts made from steps x the benchmark, and notes on what was left out."""
    out_root = Path(out_root)
    pilot = {**experiment_claims(out_root), **seconds_claims(out_root, out_root)}
    fresh_root = out_root / FOLLOWUP
    fresh = {**experiment_claims(fresh_root), **seconds_claims(fresh_root, out_root)}
    notes = []
    for name in {source.split(":")[0] for source in fresh}:
        if not disjoint(out_root / name, fresh_root / name):
            notes.append(f"{FOLLOWUP}/{name} left out: its seeds overlap the pilot's")
            fresh = {k: v for k, v in fresh.items() if not k.startswith(f"{name}:")}
    return pilot, fresh, notes


def seeds_of(folder: Path) -> set[int]:
    """The seeds an experiment's runs were trained with: those its results.json records per run (the
    settings' seed range only where no run is recorded, e.g. the facts report)."""
    results = json.loads((folder / "results.json").read_text()) if (folder / "results.json").exists() else {}
    runs = results.get("runs", [])
    if runs:
        return {int(run["seed"]) for run in runs}
    settings = results.get("settings", {})
    offset = settings.get("seed_offset", 0)
    return set(range(offset, offset + settings.get("seeds", 0)))


def disjoint(pilot_folder: Path, fresh_folder: Path) -> bool:
    return (fresh_folder / "results.json").exists() and not (seeds_of(pilot_folder) & seeds_of(fresh_folder))


def build(out_root: Path) -> list[Entry]:
    """The ledger from the results.json files under ``out_root`` (the facts report's and a follow-up's included)."""
    pilot, fresh, fresh_notes = pilot_and_fresh(out_root)
    fact_notes, premises = facts_extras(out_root)
    entries, results = [], {}
    for row in ROWS:
        parts = []
        for source in row.sources:
            if source not in results:
                result = PartResult(source, part(source), pilot.get(source))
                if result.pilot is not None and decide(result.pilot, result.part.margin) == INCONCLUSIVE:
                    cut = sum(a or b for a, b in result.pilot.censored)
                    result.need = (Need(None, math.nan, f"the target was not reached in {cut} of {len(result.pilot.censored)} "
                                        "seeds: more seeds of the same length cannot decide it; longer runs (--epochs) can")
                                   if 2 * cut > len(result.pilot.censored) else
                                   seeds_needed(result.pilot, result.part.margin))
                    result.fresh = fresh.get(source)  # only an undecided pilot is followed up
                results[source] = result
            parts.append(results[source])
        notes = [fact_notes[s.split(":")[1]] for s in row.sources if s.startswith("facts:") and fact_notes.get(s.split(":")[1])]
        if row.not_testable:
            verdict = NOT_TESTABLE
        elif row.obsolete_check:
            premise = premises.get(row.obsolete_check)
            notes.append(premise["text"] if premise else "not checked yet (see the command)")
            verdict = OBSOLETE if premise and premise["gone"] else INCONCLUSIVE
        else:
            verdict = combine([p.reading for p in parts])
        entries.append(Entry(row, parts, verdict, notes + fresh_notes))
    _adjust(list(results.values()))
    return entries


def _adjust(parts: list[PartResult]) -> None:
    """Holm across every measured part of the ledger (each source once)."""
    for p in parts:
        p.p = p_value(p.claim) if p.claim is not None else math.nan
        if p.verdict == NEGLIGIBLE:
            p.p = equivalence_p(p.claim, p.part.margin)
    for p, adjusted in zip(parts, holm([p.p for p in parts])):
        p.p_holm = adjusted


def command_for(row: Row) -> str:
    names = [name for name in experiments(row) if name != NAME]  # the facts: measured by `claims` itself
    steps = [f"python scripts/experiment.py {name} --seeds 5" for name in names]
    if any(s.startswith("facts:cpu_cost") or s.startswith("facts:gpu_cost") for s in row.sources):
        steps.insert(0, facts.BENCH_COMMAND)
    return " && ".join(steps + ["python scripts/experiment.py claims"])


def _effects(entry: Entry) -> str:
    if entry.row.not_testable:
        return entry.row.not_testable
    return "<br>".join([part_text(p) for p in entry.parts] + entry.notes)


def part_text(p: PartResult) -> str:
    """One part's line: its label, the pilot's number, the fresh seeds' (when run), verdict, margin, Holm."""
    if p.pilot is None:
        return f"{p.part.label} (`{p.source}`): not measured yet (see the command)"
    c = p.pilot
    text = (f"{p.part.label}: {c.effect} = {c.estimate.text(4, c.percent)} ({c.estimate.method}), claimed {c.side} "
            f"{c.threshold:g}, n={c.estimate.n}")
    if c.censoring_note:
        text += f"; {c.censoring_note}"
    if p.fresh is not None:
        f = p.fresh
        text += (f"; fresh seeds (the verdict's sample): {f.estimate.text(4, f.percent)}, n={f.estimate.n}"
                 + (f"; {f.censoring_note}" if f.censoring_note else ""))
    text += f": **{p.reading}**"
    if p.part.margin is not None:  # its reason: ledger/parts.py and claims.json
        text += f" (margin {p.part.margin:g})"
    if p.need is not None and p.fresh is None:
        text += f"; to decide: {p.need.text}"
    if p.survives is not None:
        text += f"; Holm p {p.p_holm:.2g}: {'survives' if p.survives else 'does not survive'} multiplicity"
    return text


def _links(entry: Entry, out_root: Path) -> str:
    links = [f"[{name}]({name}/report.md)" for name in experiments(entry.row) if (out_root / name / "report.md").exists()]
    if entry.row.figure and (out_root / entry.row.figure).exists():
        links.append(f"[figure]({entry.row.figure})")
    return ", ".join(links) or "-"


def write(entries: list[Entry], out_root: Path, header: str = "") -> tuple[Path, Path]:
    """``claims.md`` (the table) and ``claims.json`` (every part's numbers) in ``out_root``."""
    out_root = Path(out_root)
    counts = {v: sum(e.verdict == v for e in entries) for v in (SUPPORTED, CONTRADICTED, INCONCLUSIVE, OBSOLETE, NOT_TESTABLE)}
    parts = {p.source: p for e in entries for p in e.parts if p.verdict is not None}
    part_counts = {v: sum(p.verdict == v for p in parts.values()) for v in (SUPPORTED, CONTRADICTED, NEGLIGIBLE, INCONCLUSIVE)}
    table = markdown_table(["id", "claim", "where the lesson says it", "verdict", "effect [95% CI], n, per part",
                            "report", "reproduce"],
                           [[str(e.row.id), e.row.claim, e.row.section, f"**{e.verdict}**", _effects(e), _links(e, out_root),
                             f"`{command_for(e.row)}`"] for e in entries])
    text = "\n\n".join(p for p in [
        "# What the lesson claims, and what we measured",
        header,
        "Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({len(entries)} claims). Parts: "
        + ", ".join(f"{n} {v}" for v, n in part_counts.items()) + f" ({len(parts)} measured parts); "
        + f"{sum(p.survives is True for p in parts.values())} verdicts survive Holm's adjustment across them.",
        f"Rule (in code, `experiments/stats.py`): {RULE}; {CONJUNCTION} (`ledger/build.py`). "
        "n is the number of seeds (for the benchmark rows: timed epochs). Every number comes from the reports "
        "linked in each row, regenerated by its command.",
        table] if p)
    md, js = out_root / "claims.md", out_root / "claims.json"
    write_all_atomically({md: (text + "\n").encode(), js: (json.dumps(json_safe({
        "counts": counts, "part_counts": part_counts, "rule": RULE, "conjunction": CONJUNCTION,
        "claims": [e.to_dict(command_for(e.row)) for e in entries]}), indent=1) + "\n").encode()})
    return md, js

