"""The ledger's part labels and margins, the seconds parts (steps x the benchmark), negligible parts,
the follow-up plan and its fresh seeds, and Holm's column: on hand-made results (fast)."""

from __future__ import annotations

import json

import pytest

from ledger import followup
from ledger.build import build, write
from ledger.parts import PARTS, part
from ledger.rows import ROWS
from experiments.stats import Claim


def test_every_part_is_declared_with_a_label_unique_in_its_row():
    for row in ROWS:
        labels = [part(s).label for s in row.sources]
        assert len(set(labels)) == len(labels), (row.id, labels)
        for source in row.sources:
            assert source in PARTS, f"{source}: declare its label and margin in ledger/parts.py"
            declared = PARTS[source]
            assert declared.reason and (declared.margin is None or declared.margin > 0)


def _row(key: str, values, side=">", threshold=0.0, method="t", mean=None, low=None, high=None) -> dict:
    from experiments.stats import mean_ci, ratio_ci

    e = ratio_ci(values, [1.0] * len(values)) if method == "ratio" else mean_ci(values)
    return Claim(f"claim {key}", "effect", e, side, threshold, key=key).to_dict()


def _write(folder, name, claims, seeds=5, offset=0, summary=None):
    (folder / name).mkdir(parents=True)
    (folder / name / "results.json").write_text(json.dumps(
        {"claims": claims, "summary": summary or {}, "settings": {"seeds": seeds, "seed_offset": offset}}))


@pytest.fixture()
def reports(tmp_path):
    gelu = [-0.008, 0.001, -0.006, -0.004, -0.002]  # straddles 0, wider than the margin: undecided
    silu = [-0.003, 0.002, 0.0, -0.002, 0.001]  # inside +-0.005: negligible
    _write(tmp_path, "ex2", [_row("relu_before", [0.01, 0.012, 0.008, 0.011, 0.009]), _row("gelu_after", gelu),
                             _row("silu_after", silu)])
    steps = {"bn": [1548, 1719, 1376, 1891, 1548], "none": [2407, 3267, 3438, 2579, 2063]}
    _write(tmp_path, "ex1", [_row("epochs_to_acc", [0.6, 0.55, 0.4, 0.7, 0.75], "<", 1.0, "ratio")],
           summary={n: {"to_acc_0.85": {"steps": s, "reached": [True] * 5}} for n, s in steps.items()})
    (tmp_path / "bench").mkdir()
    rows = [{"variant": "lightning", "norm": norm, "batch_size": 32, "device": "cpu", "images": 55000, "seconds": s}
            for norm, s in (("none", [2.9, 3.1, 2.8, 2.9, 3.0]), ("bn", [3.6, 3.7, 3.8, 3.7, 3.9]))]
    (tmp_path / "bench" / "cpu.json").write_text(json.dumps({"rows": rows}))
    return tmp_path


def test_negligible_and_undecided_parts_and_their_plan(reports):
    entries = {e.row.id: e for e in build(reports)}
    seven = {p.source: p for p in entries[7].parts}
    assert seven["ex2:silu_after"].reading == "contradicted (negligible)"
    assert seven["ex2:gelu_after"].verdict == "inconclusive" and seven["ex2:gelu_after"].need.seeds is not None
    assert entries[7].verdict == "contradicted"  # the negligible part contradicts "after is better"
    seconds = {p.source: p for p in entries[8].parts}["ex1:seconds_to_acc"]
    assert "steps x s/step" in seconds.pilot.effect and "Welch" in seconds.pilot.estimate.method
    rows, commands = followup.plan(reports)
    sources = [r[1] for r in rows]
    assert "ex2:gelu_after" in sources and "ex2:silu_after" not in sources
    ex2 = [c for c in commands if " ex2 " in c]
    assert len(ex2) == 1 and "--seed-offset 5" in ex2[0] and f"--out {reports / 'followup'}" in ex2[0]
    assert commands[-1].endswith(f"claims --out {reports}")


def test_fresh_seeds_decide_an_undecided_part_and_the_row_shows_both(reports):
    fresh = [-0.010, -0.012, -0.009, -0.011, -0.010, -0.013, -0.008, -0.011, -0.010]  # clearly below 0
    _write(reports / "followup", "ex2", [_row("gelu_after", fresh), _row("relu_before", [-0.01] * 9)], seeds=9, offset=5)
    entries = {e.row.id: e for e in build(reports)}
    parts = {p.source: p for p in entries[7].parts}
    gelu = parts["ex2:gelu_after"]
    assert gelu.pilot.estimate.n == 5 and gelu.fresh.estimate.n == 9 and gelu.verdict == "contradicted"
    assert parts["ex2:relu_before"].fresh is None  # decided by the pilot: not followed up
    md, js = write(list(entries.values()), reports)
    assert "fresh seeds (the verdict's sample)" in md.read_text()
    data = json.loads(js.read_text())
    part_json = next(p for p in data["claims"][6]["parts"] if p["source"] == "ex2:gelu_after")
    assert part_json["fresh"]["n"] == 9 and part_json["n"] == 5 and "p_holm" in part_json
    assert "part_counts" in data
    assert "ex2:gelu_after" not in [r[1] for r in followup.plan(reports)[0]]  # it has its fresh seeds


def test_fresh_seeds_that_overlap_the_pilot_are_left_out(reports):
    _write(reports / "followup", "ex2", [_row("gelu_after", [-0.01] * 5)], seeds=5, offset=3)
    entries = {e.row.id: e for e in build(reports)}
    gelu = {p.source: p for p in entries[7].parts}["ex2:gelu_after"]
    assert gelu.fresh is None and any("overlap" in n for n in entries[7].notes)


def test_a_part_censored_in_most_seeds_asks_for_longer_runs_not_more_seeds(reports):
    path = reports / "ex1" / "results.json"
    data = json.loads(path.read_text())
    data["summary"]["bn"]["to_acc_0.85"]["reached"] = [False] * 5
    data["summary"]["none"]["to_acc_0.85"]["reached"] = [False] * 5
    path.write_text(json.dumps(data))
    seconds = {p.source: p for e in build(reports) for p in e.parts}["ex1:seconds_to_acc"]
    assert seconds.verdict == "inconclusive" and seconds.need.seeds is None and "longer runs" in seconds.need.text
    assert "both sides never reached the target in 5 of 5 seeds" in seconds.pilot.censoring_note
    assert not [c for c in followup.plan(reports)[1] if " ex1 " in c]
