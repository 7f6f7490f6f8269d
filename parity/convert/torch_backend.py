"""The third column: the same Keras model file run by Keras itself on its torch backend.

``KERAS_BACKEND=torch`` must be set before Keras is first imported, so this runs in a
process of its own (``python -m parity.convert.torch_backend_worker IN.npz OUT.npz``). There every
Keras layer is a ``torch.nn.Module`` with Keras's semantics: the mode is ``training=``, not
``.train()``. Each SGD step is the body of Keras's torch ``train_step`` (forward with
``training=True``, ``loss.backward()``, ``optimizer.apply``) with the loss in float64 and the
inputs handed over as float64 tensors (a float64 numpy array alone becomes float32 there).
Keras on torch still computes float64 matmuls in float32 (64-bit result types are forced to
32-bit outside TensorFlow), which ``parity.convert.check`` accounts for.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from lightning_mods.errors import UsageError

TIMEOUT_S = 600


def run_keras_on_torch(model_path, names: list[str], inputs, settings) -> dict:
    """Run the worker on ``model_path`` with the check's inputs; its outputs and arrays."""
    with tempfile.TemporaryDirectory() as tmp:
        request, result = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(request, x=inputs.x, xs=np.stack([b[0] for b in inputs.batches]),
                 ys=np.stack([b[1] for b in inputs.batches]),
                 meta=json.dumps({"model": str(Path(model_path).resolve()), "names": names,
                                  "learning_rate": settings.learning_rate}))
        env = {**os.environ, "KERAS_BACKEND": "torch"}
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        done = subprocess.run([sys.executable, "-m", "parity.convert.torch_backend_worker", str(request), str(result)],
                              env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        if done.returncode != 0 or not result.is_file():
            tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise UsageError(f"Keras on its torch backend failed on {model_path} ({tail}); "
                             "run with --no-keras-torch to skip that column")
        with np.load(result, allow_pickle=False) as out:
            arrays = {key[2:]: out[key] for key in out.files if key.startswith("w:")}
            return {"eval": out["eval"], "train": out["train"], "eval_after": out["eval_after"], "arrays": arrays}
