"""Any process holding both frameworks works whatever was imported first (TensorFlow before
triton segfaults; keras_ref and lightning_mods each guard one order). Each order runs in a
fresh interpreter that builds a tiny net on both sides and must exit 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

BUILD_BOTH = """
import lightning, torchmetrics, torchvision  # the imports that pull in triton
from lightning_mods.nets import MLP
from keras_ref import build_mlp
import torch, numpy as np
assert MLP(hidden=[8], norm="bn")(torch.zeros(2, 28, 28)).shape == (2, 10)
assert build_mlp(hidden_units=[8], norm="bn")(np.zeros((2, 28, 28), "float32")).shape == (2, 10)
print("ok")
"""

ORDERS = {
    "keras_ref then lightning_mods": "import keras_ref\nimport lightning_mods\n",
    "lightning_mods then keras_ref": "import lightning_mods\nimport keras_ref\n",
    "tensorflow then lightning_mods": "import tensorflow\nimport lightning_mods\nimport keras_ref\n",
    "lightning_mods then keras itself": "import lightning_mods\nimport keras\n",  # as tests/ and notebooks do
    "parity alone": "import parity\n",
}


NO_TORCH = "import sys, keras_ref\nkeras_ref.build_lstm(units=4)\nprint('torch' in sys.modules)"


@pytest.fixture(scope="module")
def results() -> dict[str, subprocess.CompletedProcess]:
    """Start every interpreter at once (each spends most of its time importing), then collect."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    codes = {order: code + BUILD_BOTH for order, code in ORDERS.items()} | {"no torch": NO_TORCH}
    procs = {name: subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name, code in codes.items()}
    out = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return out


@pytest.mark.parametrize("order", list(ORDERS))
def test_both_frameworks_work_whatever_is_imported_first(order, results):
    result = results[order]
    assert result.returncode == 0, f"{order}: exit {result.returncode} (-11 is a segfault)\n{result.stderr[-2000:]}"
    assert result.stdout.strip().endswith("ok")


def test_keras_ref_imports_no_torch(results):
    result = results["no torch"]
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"
