"""The claims ledger (ledger/): its rows, its rule, its facts, and claims.md/claims.json, on
hand-made results and synthetic images (fast). The real ledger is built by `experiment.py all`."""

from __future__ import annotations

import json

import pytest
import torch

from ledger import facts
from ledger.build import NOT_TESTABLE, OBSOLETE, build, combine, experiment_claims, write
from ledger.facts_report import write_facts
from ledger.rows import ROWS
from experiments.registry import NAMES
from experiments.stats import Claim, Estimate

VERDICTS = {"supported", "contradicted", "inconclusive", OBSOLETE, NOT_TESTABLE}
IMAGES = torch.randint(0, 256, (128, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def test_the_28_rows_of_the_issue_each_decided_by_something():
    assert [row.id for row in ROWS] == list(range(1, 29))
    for row in ROWS:
        assert bool(row.sources) + bool(row.not_testable) + bool(row.obsolete_check) == 1, row.id
        for source in row.sources:
            experiment, key = source.split(":")
            assert experiment == "facts" or experiment in NAMES, source
            assert key
        if row.figure:
            assert row.figure.split("/")[0] in (*NAMES, "facts") and row.figure.endswith(".png")


def test_conjunction_rule():
    assert combine(["supported"] * 3) == "supported"
    assert combine(["supported", "inconclusive"]) == "inconclusive"
    assert combine(["inconclusive", "contradicted", "supported"]) == "contradicted"
    assert combine(["supported", None]) == "inconclusive"
    assert combine([]) == "inconclusive"


def _claim(key: str, low: float, high: float, side: str = ">", threshold: float = 0.0) -> dict:
    return Claim(f"claim {key}", "effect", Estimate((low + high) / 2, low, high, 5), side, threshold, key=key).to_dict()


def test_verdicts_are_made_again_from_the_numbers_not_read(tmp_path):
    folder = tmp_path / "ex9"
    folder.mkdir()
    row = _claim("straddles", -0.1, 0.2)
    row["verdict"] = "supported"  # a stale or hand-edited verdict in the JSON
    (folder / "results.json").write_text(json.dumps({"claims": [row, _claim("above", 0.1, 0.2)]}))
    found = experiment_claims(tmp_path)
    assert found["ex9:straddles"].verdict == "inconclusive"
    assert found["ex9:above"].verdict == "supported"


@pytest.fixture(scope="module")
def ledger_folder(tmp_path_factory):
    """Results where every experiment claim the rows cite is supported, except ex1's (missing) and
    ex2:gelu_after (contradicted); a benchmark JSON for the CPU only."""
    out = tmp_path_factory.mktemp("reports")
    by_experiment: dict[str, list[dict]] = {}
    for row in ROWS:
        for source in row.sources:
            experiment, key = source.split(":")
            if experiment in ("facts", "ex1"):
                continue
            low, high = (-0.3, -0.1) if source == "ex2:gelu_after" else (0.1, 0.3)
            by_experiment.setdefault(experiment, []).append(_claim(key, low, high))
    by_experiment["homework"] = [c for c in by_experiment["homework"] if c["key"] != "seconds_to_loss"]
    steps = {"bn": [1900, 2000, 2100], "none": [4000, 4100, 3900]}  # the seconds part: steps x the bench's s/step
    summaries = {"homework": {n: {"to_val_loss_0.4": {"steps": s, "reached": [True] * 3}} for n, s in steps.items()}}
    for experiment, claims in by_experiment.items():
        (out / experiment).mkdir()
        (out / experiment / "results.json").write_text(json.dumps({"claims": claims, "summary": summaries.get(experiment, {}),
                                                                   "settings": {"seeds": 3, "seed_offset": 0}}))
    (out / "bench").mkdir()
    rows = [{"variant": "lightning", "norm": norm, "batch_size": batch, "device": "cpu", "seconds": seconds}
            for batch in (32, 128) for norm, seconds in (("none", [2.0, 2.1, 2.0]), ("bn", [2.4, 2.5, 2.3]))]
    (out / "bench" / "cpu.json").write_text(json.dumps({"rows": rows}))
    write_facts(out, IMAGES, seeds=3, data="synthetic")
    entries = build(out)
    return out, {e.row.id: e for e in entries}, write(entries, out, "header line")


def test_row_verdicts_follow_their_parts(ledger_folder):
    _, entries, _ = ledger_folder
    assert {e.verdict for e in entries.values()} <= VERDICTS
    assert entries[8].verdict == "inconclusive"  # ex1 not measured
    assert all(part.pilot is None and part.verdict is None for part in entries[8].parts)
    assert entries[1].verdict == "inconclusive"  # ex1's parts missing, homework's supported
    assert entries[7].verdict == "contradicted"  # one contradicted part of three
    assert entries[2].verdict == "supported"
    assert entries[21].verdict == entries[22].verdict == "supported"  # transformer, vision: parts supported here
    assert entries[23].verdict == OBSOLETE  # Keras 3 has no fused argument
    assert entries[15].verdict == "supported"  # torch refuses (hand-made) and Keras outputs beta (measured here)
    assert entries[28].verdict == "supported"  # InstanceNorm per sample, measured on the images here
    assert entries[24].verdict == "inconclusive"  # CPU measured, GPU not
    parts = {p.source: p for p in entries[24].parts}
    cpu = parts["facts:cpu_cost_32"].pilot
    assert cpu.verdict == "supported" and cpu.estimate.n == 3 and 1.1 < cpu.estimate.mean < 1.3
    assert parts["facts:gpu_cost_32"].pilot is None


def test_claims_md_and_json(ledger_folder):
    out, _, (md, js) = ledger_folder
    text = md.read_text()
    assert text.startswith("# What the lesson claims") and "header line" in text
    table = [line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| id")]
    assert [int(line.split("|")[1]) for line in table] == list(range(1, 29))
    data = json.loads(js.read_text())
    assert len(data["claims"]) == 28 and sum(data["counts"].values()) == 28
    seven = data["claims"][6]
    assert seven["verdict"] == "contradicted" and seven["reports"] == ["ex2"] and seven["figure"] == "ex2/val_acc.png"
    assert "python scripts/experiment.py ex2" in seven["command"] and seven["command"].endswith("experiment.py claims")
    assert data["claims"][22]["reports"] == ["facts"] and data["claims"][22]["command"] == "python scripts/experiment.py claims"
    assert [p["verdict"] for p in seven["parts"]] == ["supported", "contradicted", "supported"]
    assert data["claims"][20]["reason"] is None and data["claims"][20]["reports"] == ["transformer"]
    assert data["claims"][21]["reports"] == ["vision"] and data["claims"][21]["figure"] == "vision/val_acc_vs_batch.png"


def test_the_facts_report_is_written_like_an_experiment_report(ledger_folder):
    out, _, _ = ledger_folder
    report = (out / "facts" / "report.md").read_text()
    assert report.startswith("# Facts measured") and "](bn_cost.png)" in report
    results = json.loads((out / "facts" / "results.json").read_text())
    assert {c["key"] for c in results["claims"]} >= {"keras_outputs_beta", "in_per_sample", "cpu_cost_32", "cpu_cost_128"}
    assert results["premises"]["keras_fused"]["gone"] is True
    assert (out / "facts" / "bn_cost.png").read_bytes()[:4] == b"\x89PNG"


def test_keras_outputs_beta_at_batch_one_and_torch_refuses():
    (claim,) = facts.keras_batch_one(seeds=2)
    assert claim.estimate.high <= facts.TOLERANCE and claim.verdict == "supported"
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(4).train()(torch.randn(1, 4))


def test_instance_norm_facts_on_images():
    claims, note = facts.instance_norm(IMAGES, seeds=2)
    assert [c.verdict for c in claims] == ["supported", "supported"]
    assert "refuses it in training" in note and "LayerNorm without gamma and beta" in note


def test_bench_cost_pairs_timed_epochs(tmp_path):
    rows = [{"variant": "lightning", "norm": "none", "batch_size": 32, "device": "cuda:0", "seconds": [1.0, 1.0, 1.0]},
            {"variant": "lightning", "norm": "bn", "batch_size": 32, "device": "cuda:0", "seconds": [1.5, 1.6, 1.4]},
            {"variant": "torch", "norm": "bn", "batch_size": 32, "device": "cpu", "seconds": [9.0]}]
    (tmp_path / "gpu.json").write_text(json.dumps({"rows": rows}))
    claims, note = facts.bench_cost(tmp_path)
    assert [c.key for c in claims] == ["gpu_cost_32"]
    assert claims[0].verdict == "contradicted"  # 1.5x is not "almost free"
    assert "CPU batch 32" in note and "GPU batch 128" in note


def test_the_readme_table_is_the_committed_ledger():
    """The README's "What the lesson claims" table is summary_table of reports/claims.json."""
    from pathlib import Path

    from ledger.readme import summary_table

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme.split("## What the lesson claims, and what we measured", 1)[1].split("\n## ", 1)[0]
    table = "\n".join(line for line in section.splitlines() if line.startswith("|"))
    assert table == summary_table(json.loads((root / "reports" / "claims.json").read_text()))


def test_the_readme_list_of_rows_not_borne_out_is_the_committed_ledger():
    from pathlib import Path

    from ledger.readme import not_borne_out

    root = Path(__file__).resolve().parents[1]
    ledger = json.loads((root / "reports" / "claims.json").read_text())
    section = (root / "README.md").read_text().split("## What the lesson claims, and what we measured", 1)[1].split("\n## ", 1)[0]
    listed = "\n".join(line for line in section.splitlines() if line.startswith("- row "))
    assert listed == not_borne_out(ledger)
    assert listed.count("- row ") == sum(row["verdict"] != "supported" for row in ledger["claims"])
