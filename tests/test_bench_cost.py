"""BN's cost per step comes from the lesson's MLP in the benchmark's JSON, never from another net's
file lying in the same folder (``scripts/bench.py --arch cnn --json reports/bench/...``)."""

from __future__ import annotations

import json

from experiments.cost import bench_rows, bn_cost


def bench_json(path, arch, seconds_bn, seconds_none):
    rows = [{"variant": "lightning", "device": "cpu", "batch_size": 128, "norm": norm, "images": 55_000,
             "seconds": seconds} for norm, seconds in (("bn", seconds_bn), ("none", seconds_none))]
    path.write_text(json.dumps({"config": {"arch": arch}, "rows": rows}))


def test_other_nets_files_are_left_out(tmp_path):
    bench_json(tmp_path / "cpu.json", "mlp", [1.2, 1.2, 1.2], [1.0, 1.0, 1.0])
    bench_json(tmp_path / "cpu_vit.json", "vit", [9.0, 9.0, 9.0], [3.0, 3.0, 3.0])  # sorts after cpu.json
    rows = bench_rows(tmp_path)
    assert rows[("cpu", 128, "bn")]["file"] == "cpu.json"
    assert round(bn_cost(tmp_path, 128).mean, 6) == 1.2
