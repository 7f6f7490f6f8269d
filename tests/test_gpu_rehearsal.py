"""The GPU check, rehearsed on the CPU in an imitation of the lent GPU machine (scripts/gpu_rehearsal.py):
the working tree as the device call copies it, the carried data bundle, python3 found on PATH with
no .venv, TensorFlow and Keras unimportable, the project not installed, a fresh HOME, $OUT set."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT / "data" / "gpu-bundle"


@pytest.mark.slow  # about 1-2 minutes on 2 idle cores: five steps, the benchmark's four workers among them
def test_the_gpu_check_passes_its_rehearsal_on_the_cpu(tmp_path):
    if not BUNDLE.is_dir():  # built here when missing (make gpu-bundle): fail, never skip, without it
        subprocess.run(["make", "-s", "gpu-bundle"], cwd=ROOT, check=True, capture_output=True)
    keep = tmp_path / "out"
    proc = subprocess.run([sys.executable, "scripts/gpu_rehearsal.py", "--keep", str(keep)], cwd=ROOT,
                          env={k: v for k, v in os.environ.items() if k != "OUT"}, capture_output=True, text=True,
                          timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert sorted(p.name for p in keep.iterdir()) == ["bench_gpu.json", "gpu_check.json", "gpu_check.log",
                                                     "gpu_check.md", "train_summary.json"]
    report = json.loads((keep / "gpu_check.json").read_text())
    steps = {step["step"]: step for step in report["steps"]}
    assert report["ok"] and report["rehearse"] and list(steps) == ["env", "pytest", "train", "syncbn", "bench"]
    assert steps["env"]["details"]["keras"] is False  # TensorFlow/Keras were not importable
    assert "skipped" in steps["pytest"]["result"]  # no CUDA here: the gpu tests are collected (imported) and skipped
    assert "SyncBatchNorm expected input tensor to be on GPU" in steps["syncbn"]["details"]["error"]
    bench = json.loads((keep / "bench_gpu.json").read_text())
    assert {(r["variant"], r["norm"], r["device"]) for r in bench["rows"]} == {
        (v, n, "cpu") for v in ("lightning", "torch") for n in ("bn", "none")}
    assert json.loads((keep / "train_summary.json").read_text())["epochs"] == 1
    assert "skipped: every Keras part" in proc.stdout
