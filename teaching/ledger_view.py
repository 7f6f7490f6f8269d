"""The claims ledger (``reports/claims.json``) as the notebook reads it: a row's Spanish text,
verdict and measured parts, and one generated sentence that says plainly what was found."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.rows_es import REASONS_ES, ROWS_ES
from ledger.spanish import part_line, verdict_es

LEDGER = Path(__file__).resolve().parents[1] / "reports" / "claims.json"
NOT_TESTABLE = ("not testable here", "not testable")


def load(path: Path = LEDGER) -> dict[int, dict]:
    """The ledger's rows by id (empty when ``claims.json`` is missing)."""
    path = Path(path)
    return {row["id"]: row for row in json.loads(path.read_text())["claims"]} if path.exists() else {}


def sentence(row: dict | None, row_id: int) -> str:
    """What the lesson says and what was measured, from the row's numbers and verdict."""
    said = ROWS_ES.get(row_id, row["claim"] if row else f"fila {row_id}")
    if row is None:
        return f"«{said}»: **no medido aún** (no está en `reports/claims.json`)."
    if row["verdict"] in NOT_TESTABLE:
        reason = REASONS_ES.get(row_id, row.get("reason") or "")
        return f"«{said}»: **no medido aún** en este proyecto: {reason}"
    notes = " ".join(row.get("notes") or [])
    note = f" Nota del informe (en inglés): {notes}" if notes else ""
    if row["verdict"] == "obsolete":
        return f"«{said}»: **{verdict_es(row['verdict'])}**: la comprobación del proyecto encontró que la premisa ya no existe.{note}"
    parts = [part_line(p) for p in row.get("parts", [])]
    seeds = sorted({sample["n"] for p in row.get("parts", []) for sample in (p, p.get("fresh") or {}) if sample.get("n")})
    where = f" (n = {', '.join(map(str, seeds))}, datos reales)" if seeds else ""
    return f"«{said}»: **{verdict_es(row['verdict'])}**{where}. Medido: {'; '.join(parts) or 'nada aún'}.{note}"


def rows_table(ledger: dict[int, dict], ids: list[int]) -> tuple[list[str], list[list[str]]]:
    """Columns and rows (id, afirmación, veredicto) for some of the ledger's rows."""
    rows = []
    for row_id in ids:
        row = ledger.get(row_id)
        verdict = "no medido aún" if row is None or row["verdict"] in NOT_TESTABLE else verdict_es(row["verdict"])
        rows.append([str(row_id), ROWS_ES.get(row_id, row["claim"] if row else ""), f"**{verdict}**"])
    return ["fila", "afirmación de la lección", "veredicto (reports/claims.json)"], rows
