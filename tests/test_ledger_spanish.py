"""The ledger's Spanish edition: every row and every part has its Spanish text, and
``claims.es.md`` carries the same verdicts as ``claims.json``."""

from __future__ import annotations

import json
from pathlib import Path

from ledger.rows import ROWS
from ledger.rows_es import PARTS_ES, REASONS_ES, ROWS_ES
from ledger.spanish import effect_es, part_line, text, verdict_es, write_spanish

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


def test_a_part_decided_on_fresh_seeds_shows_that_interval_beside_the_pilots():
    part = {"source": "vision:cnn_bn_beats_ln_32", "claim": "BN beats LN in vision (CNN) at batch 32",
            "effect": "CNN val acc, BN - LN at batch 32", "mean": 0.0269, "low": -0.0029, "high": 0.0567, "n": 5,
            "side": ">", "threshold": 0.0, "verdict": "supported",
            "fresh": {"mean": 0.0336, "low": 0.0159, "high": 0.0514, "n": 14}}
    line = part_line(part)
    assert "0.0336 [0.0159, 0.0514] con 14 semillas nuevas (piloto: 0.0269 [-0.0029, 0.0567], n=5)" in line
    assert line.endswith("respaldada")
    assert "0.0269 [-0.0029, 0.0567], se afirma" not in line  # the pilot's interval does not stand for the verdict
