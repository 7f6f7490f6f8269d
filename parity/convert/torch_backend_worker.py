"""The Keras-on-torch column's worker (``python -m parity.convert.torch_backend_worker IN.npz OUT.npz``).

Started by ``parity.convert.torch_backend`` with ``KERAS_BACKEND=torch`` in its environment, so the
Keras imported here runs on torch (see that module's docstring).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import keras
import numpy as np
import torch

from keras_ref.cast import cast_model
from parity.convert.keras_state import keras_state, no_dropout


def main(request: Path, result: Path) -> None:
    assert keras.backend.backend() == "torch", "set KERAS_BACKEND=torch before starting this process"
    with np.load(request, allow_pickle=False) as data:
        x, xs, ys, meta = data["x"], data["xs"], data["ys"], json.loads(str(data["meta"]))
    model = keras.saving.load_model(meta["model"], compile=False, safe_mode=True)
    model64 = no_dropout(cast_model(model, "float64"))
    no_dropout(model)
    out = {"eval": keras.ops.convert_to_numpy(model(x, training=False)),
           "train": keras.ops.convert_to_numpy(model(x, training=True))}
    loss_fn = keras.losses.MeanSquaredError(dtype="float64")
    optimizer = keras.optimizers.SGD(learning_rate=meta["learning_rate"])
    as64 = lambda a: keras.ops.convert_to_tensor(a, dtype="float64")  # noqa: E731  (numpy float64 alone becomes float32)
    for bx, by in zip(xs, ys):  # the body of Keras's own torch train_step, with the loss in float64
        model64.zero_grad()
        loss = loss_fn(as64(by), model64(as64(bx), training=True))
        if model64.losses:  # weight regularizers, as fit adds them
            loss = loss + keras.ops.sum(keras.ops.stack(model64.losses))
        loss.backward()
        weights = model64.trainable_weights
        with torch.no_grad():
            optimizer.apply([w.value.grad for w in weights], weights)
    out["eval_after"] = keras.ops.convert_to_numpy(model64(as64(x), training=False))
    out |= {f"w:{key}": value for key, value in keras_state(model64, meta["names"]).items()}
    np.savez(result, **out)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
