"""Worker (c): Keras ``fit`` of ``keras_ref.build_mlp``, in a process that never imports torch."""

from __future__ import annotations

import os
from pathlib import Path

from bench.protocol import Gate

GROUPS = 8  # as bench.workers.torch_loop.GROUPS (this process must not import torch)


def run(job: dict, gate: Gate) -> dict:
    """(c): ``model.fit`` with Keras's defaults (SGD lr 0.01, shuffling, jit_compile="auto"),
    no progress bar; float images in memory as NumPy. Slices start in on_epoch_begin and
    on_train_batch_begin. Never imports torch."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from keras_ref import build_mlp  # imports triton before TensorFlow; never torch
    from keras_ref.conv_models import build_cnn, build_lenet
    from keras_ref.vit import build_vit

    keras.utils.set_random_seed(0)
    x, y = _numpy_train_split(job["data"])
    arch = job.get("arch", "mlp")
    if arch == "mlp":
        model = build_mlp(hidden_units=job["hidden"], norm=job["norm"])
    elif arch == "vit":
        model = build_vit(norm=job["norm"])
    else:
        model = {"cnn": build_cnn, "lenet": build_lenet}[arch](norm=job["norm"], groups=GROUPS,
                                                                activation="relu")
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    seconds: list[float] = []
    cuts = gate.cuts(-(-len(y) // job["batch_size"]))

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None) -> None:
            gate.start_epoch()

        def on_train_batch_begin(self, batch, logs=None) -> None:
            if batch in cuts:
                gate.pause()

        def on_epoch_end(self, epoch, logs=None) -> None:
            seconds.append(gate.end_epoch())

    model.fit(x, y, batch_size=job["batch_size"], epochs=job["warmup"] + job["epochs"], shuffle=True, verbose=0,
              callbacks=[EpochTimer()])
    return {"seconds": seconds[job["warmup"]:], "images": len(y), "device": "cpu (tensorflow)"}


def _numpy_train_split(data: str):
    """The training split as float32 NumPy in [0, 1], read without torch (this is the TF process)."""
    import gzip

    import numpy as np

    if data == "synthetic":  # the same recipe as lightning_mods.data.synthetic_split, in NumPy
        rng = np.random.default_rng(0)
        labels = rng.permutation(np.arange(2_000) % 10)
        templates = np.random.default_rng(1234).random((10, 28, 28))
        images = 0.35 * templates[labels] + 0.65 * rng.random((2_000, 28, 28))
        return images.astype("float32"), labels.astype("int64")
    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype("int64")
    return (images[:55_000] / np.float32(255)).astype("float32"), labels[:55_000]
