"""The ledger's Spanish edition: every row and every part has its Spanish text, and
``claims.es.md`` carries the same verdicts as ``claims.json``."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.rows import ROWS
from ledger.rows_es import PARTS_ES, REASONS_ES, ROWS_ES
from ledger.spanish import effect_es, text, verdict_es, write_spanish

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_and_part_has_a_spanish_text():
    assert sorted(ROWS_ES) == sorted(row.id for row in ROWS)
    assert [row.id for row in ROWS if row.not_testable and row.id not in REASONS_ES] == []
    sources = {s for row in ROWS for s in row.sources}
    assert sorted(sources - set(PARTS_ES)) == []


def test_verdicts_are_translated_and_unknown_ones_kept():
    assert verdict_es("supported") == "respaldada" and verdict_es("not testable here") == "no comprobable aquí"
    assert verdict_es("negligible") == "despreciable" and verdict_es("some new verdict") == "some new verdict"
    assert effect_es("epochs, BN / none") == "épocas, BN / sin norma"


def test_the_spanish_edition_has_the_ledgers_verdicts(tmp_path):
    ledger = json.loads((ROOT / "reports" / "claims.json").read_text())
    (tmp_path / "claims.json").write_text(json.dumps(ledger))
    written = write_spanish(tmp_path).read_text()
    rows = [line for line in written.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(ledger["claims"])
    for line, row in zip(rows, ledger["claims"]):
        assert line.startswith(f"| {row['id']} | {ROWS_ES[row['id']]} |")
        assert f"**{verdict_es(row['verdict'])}**" in line
        assert line.replace("\\|", "").count("|") == 7  # six columns


def test_the_committed_spanish_edition_is_current():
    ledger = json.loads((ROOT / "reports" / "claims.json").read_text())
    assert (ROOT / "reports" / "claims.es.md").read_text() == text(ledger), "run `python scripts/experiment.py claims`"
