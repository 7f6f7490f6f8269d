"""2-process CPU DDP (gloo) of the CNN through the real script: the new nets scale out like the MLP."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "ddp_probe.py"
ARGS = ["--accelerator", "cpu", "--devices", "2", "--data", "synthetic", "--epochs", "1", "--arch", "cnn",
        "--norm", "bn", "--batch-size", "50", "--no-progress"]


@pytest.mark.ddp
def test_cnn_trains_under_ddp_with_identical_replicas(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(PROBE), *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test accuracy") == 1, proc.stdout
    rank0, rank1 = (torch.load(out / "probe" / f"rank{r}.pt", weights_only=True) for r in range(2))
    assert rank0["world_size"] == rank1["world_size"] == 2
    first, second, initial = rank0["final_state"], rank1["final_state"], rank0["initial_state"]
    params = [name for name in first if name.endswith(("weight", "bias"))]
    assert any("layers.1." in name for name in params)  # the first Conv2d
    assert all(torch.equal(first[name], second[name]) for name in params)  # gradients all-reduced: bit-identical
    assert any(not torch.equal(first[name], initial[name]) for name in params)
    assert first["net.layers.2.running_mean"].abs().max() > 0  # BatchNorm2d's statistics moved
