"""Every experiment trains the seeds --seed-offset asks for: a follow-up's fresh seeds are disjoint
from the pilot's, and the ledger reads the seeds the runs were trained with, not the settings."""

from __future__ import annotations

import json

import pytest

from experiments.registry import EXPERIMENTS
from experiments.runner import Settings
from ledger.build import disjoint, seeds_of


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_plan_uses_the_offset_seeds(name):
    specs = EXPERIMENTS[name].plan(Settings(seeds=2, seed_offset=7, data="synthetic"))
    assert specs, f"{name} plans no run"
    assert {spec.config.seed for spec in specs} == {7, 8}, name


def write_results(folder, seeds, offset):
    folder.mkdir(parents=True)
    runs = [{"variant": "a", "seed": s} for s in seeds]
    (folder / "results.json").write_text(json.dumps({"settings": {"seeds": 2, "seed_offset": offset}, "runs": runs}))


def test_the_ledger_reads_the_seeds_the_runs_used(tmp_path):
    write_results(tmp_path / "pilot", [0, 1], 0)
    write_results(tmp_path / "honest", [5, 6], 5)
    write_results(tmp_path / "mislabelled", [0, 1], 5)  # settings say 5, 6; the runs used 0, 1
    assert seeds_of(tmp_path / "mislabelled") == {0, 1}
    assert disjoint(tmp_path / "pilot", tmp_path / "honest")
    assert not disjoint(tmp_path / "pilot", tmp_path / "mislabelled")
