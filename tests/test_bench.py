"""The speed benchmark: its plan and arithmetic, and one tiny end-to-end run of scripts/bench.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from parity.bench import VARIANTS, BenchConfig, format_table, plan, summarize, train_flops_per_sample


def test_plan_covers_every_job_and_rotates_the_variant_order():
    config = BenchConfig(norms=["bn", "none", "ln"], batch_sizes=[32, 128])
    jobs = plan(config)
    keys = [(j["norm"], j["batch_size"], j["variant"]) for j in jobs]
    assert len(keys) == len(set(keys)) == 3 * 2 * 3
    firsts = [jobs[i]["variant"] for i in range(0, len(jobs), 3)]
    assert set(firsts) == set(VARIANTS)  # no variant always runs first (or last)
    assert all(j["epochs"] == config.epochs and j["warmup"] == config.warmup for j in jobs)


def test_flops_count_the_linear_layers_forward_and_backward():
    # [2] hidden: 784*2 + 2*10 multiply-adds; 2 FLOPs each, x3 for forward + backward
    assert train_flops_per_sample([2]) == 6 * (784 * 2 + 2 * 10)


def fake_result(variant: str, seconds: list[float], batch: int = 32) -> dict:
    return {"job": {"variant": variant, "norm": "bn", "batch_size": batch}, "seconds": seconds, "images": 1000,
            "device": "cpu", "peak_rss_mb": 100.0}


def test_summarize_takes_medians_and_ratios_and_checks_targets():
    results = [fake_result("lightning", [1.2, 9.0, 1.1]), fake_result("torch", [1.0, 1.0, 1.0]),
               fake_result("keras", [2.4, 2.2, 2.3])]
    rows, ratios = summarize(results, {"32": 100.0}, [2])
    lightning = rows[0]
    assert lightning["seconds_median"] == pytest.approx(1.2)  # the outlier epoch does not count
    assert lightning["images_per_s"] == pytest.approx(1000 / 1.2)
    assert lightning["gflops"] == pytest.approx(train_flops_per_sample([2]) * 1000 / 1.2 / 1e9)
    assert lightning["peak_fraction"] == pytest.approx(lightning["gflops"] / 100.0)
    (ratio,) = ratios
    assert ratio["a_over_b"] == pytest.approx(1.2) and ratio["a_over_b_ok"] is True  # <= 1.25 at batch 32
    assert ratio["c_over_a"] == pytest.approx(2.3 / 1.2) and ratio["c_over_a_ok"] is True
    rows, ratios = summarize([fake_result("lightning", [1.3]), fake_result("torch", [1.0])], {}, [2])
    assert ratios[0]["a_over_b_ok"] is False and ratios[0]["c_over_a"] is None


@pytest.mark.slow  # four fresh interpreters (torch, Lightning, TensorFlow): about half a minute
def test_bench_script_quick_run_writes_table_and_json(tmp_path):
    out, root = tmp_path / "bench.json", Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--quick", "--json", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {row["variant"] for row in report["rows"]} == set(VARIANTS)
    for row in report["rows"]:
        assert row["images"] == 2_000 and len(row["seconds"]) == 1 and row["seconds_median"] > 0
        assert row["peak_rss_mb"] > 50  # an interpreter with torch or TensorFlow loaded
    (ratio,) = report["ratios"]
    assert ratio["a_over_b"] > 0 and ratio["c_over_a"] > 0
    assert report["matmul"]["gflops"]["64"] > 0
    printed = proc.stdout
    assert "a/b" in printed and "(c) Keras fit" in printed
    assert format_table(report) in printed
