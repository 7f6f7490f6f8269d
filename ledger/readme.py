"""The README's views of a ``claims.json``: the short verdict table and the list of rows the lesson is
not borne out in (``tests/test_ledger.py`` keeps the README equal to both)."""

from __future__ import annotations

from experiments.report import markdown_table
from experiments.stats import SUPPORTED


def summary_table(ledger: dict) -> str:
    """The README's short table (id, claim, verdict) from a ``claims.json``'s content."""
    return markdown_table(["id", "claim", "verdict"],
                          [[str(row["id"]), row["claim"], f"**{row['verdict']}**"] for row in ledger["claims"]])


def _part_text(part: dict) -> str:
    if part["verdict"] is None:
        return f"{part['label']}: not measured"
    sample = part.get("fresh") or part
    source = f"n={sample['n']}, fresh seeds" if part.get("fresh") else f"n={sample['n']}"
    return f"{part['label']} {sample['mean']:.4f} [{sample['low']:.4f}, {sample['high']:.4f}] ({source}): {part['verdict']}"


def not_borne_out(ledger: dict) -> str:
    """The README's list of the rows whose verdict is not *supported*, each with its parts that are not
    supported (the effect on the sample its verdict uses, or "not measured"), from a ``claims.json``'s
    content; a row without parts gets its reason, or its first note up to the first semicolon."""
    lines = []
    for row in ledger["claims"]:
        if row["verdict"] == SUPPORTED:
            continue
        parts = [p for p in row["parts"] if p["verdict"] != SUPPORTED]
        first_note = (row.get("notes") or [""])[0].split("; ")[0]
        detail = "; ".join(map(_part_text, parts)) + ";" if parts else (row.get("reason") or first_note).strip()
        lines.append(f"- row {row['id']} (**{row['verdict']}**): {detail}")
    return "\n".join(lines)
