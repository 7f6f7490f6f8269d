"""Batch normalization from scratch (d2l's ``batch_norm``, in Keras's conventions), and its
check against the frameworks: torch's ``nn.BatchNorm1d`` (the project's ``KerasBatchNorm1d``
for the moving variance, which Keras updates with the biased variance) and Keras's
``BatchNormalization``, in training and in inference mode, at the project's tolerance for one
forward pass (``parity.compare.FORWARD_RTOL``, relative to the largest value)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lightning_mods.norms import KERAS_BN_MOMENTUM, KERAS_EPS, make_norm
from teaching.keras_side import load_keras  # Keras loaded quietly, before parity loads it
from parity.compare import FORWARD_RTOL, diff  # noqa: E402

MOMENTUM = 1 - KERAS_BN_MOMENTUM  # Keras's 0.99: moving = 0.99 * moving + 0.01 * batch


def batch_norm(x, gamma, beta, moving_mean, moving_var, training, momentum=MOMENTUM, eps=KERAS_EPS):
    """``(y, moving_mean, moving_var)`` for a batch ``x`` of shape (B, C), in numpy.

    Training: normalize with the batch's mean and (biased) variance and move the averages;
    inference: normalize with the moving averages, which stay as they are.
    """
    if training:
        mean = x.mean(axis=0)
        var = ((x - mean) ** 2).mean(axis=0)  # biased: divided by B, as for normalizing
        moving_mean = momentum * moving_mean + (1 - momentum) * mean
        moving_var = momentum * moving_var + (1 - momentum) * var
    else:
        mean, var = moving_mean, moving_var
    x_hat = (x - mean) / np.sqrt(var + eps)
    return gamma * x_hat + beta, moving_mean, moving_var


def example(seed: int = 0, batch: int = 32, features: int = 8) -> dict:
    """A training batch, an inference batch, and trained-looking gamma and beta (float32)."""
    rng = np.random.default_rng(seed)
    return {"train": (3 + 2 * rng.standard_normal((batch, features))).astype("float32"),
            "infer": (3 + 2 * rng.standard_normal((batch, features))).astype("float32"),
            "gamma": (1 + 0.1 * rng.standard_normal(features)).astype("float32"),
            "beta": (0.1 * rng.standard_normal(features)).astype("float32")}


def scratch(function, data: dict) -> dict:
    """What ``function`` (``batch_norm``'s signature) gives: the training output, the moving
    averages after that step, and the inference output on the second batch."""
    c = data["gamma"].shape[0]
    y_train, mean, var = function(data["train"], data["gamma"], data["beta"], np.zeros(c, "float32"),
                                  np.ones(c, "float32"), training=True)
    y_infer, _, _ = function(data["infer"], data["gamma"], data["beta"], mean, var, training=False)
    return {"train": y_train, "moving_mean": mean, "moving_var": var, "infer": y_infer}


def torch_side(data: dict, layer: nn.BatchNorm1d) -> dict:
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(data["gamma"]))
        layer.bias.copy_(torch.from_numpy(data["beta"]))
        y_train = layer.train()(torch.from_numpy(data["train"])).numpy()
        y_infer = layer.eval()(torch.from_numpy(data["infer"])).numpy()
    return {"train": y_train, "moving_mean": layer.running_mean.numpy(), "moving_var": layer.running_var.numpy(),
            "infer": y_infer}


def keras_side(data: dict, keras) -> dict:
    layer = keras.layers.BatchNormalization(momentum=MOMENTUM, epsilon=KERAS_EPS)
    layer.build(data["train"].shape)
    layer.gamma.assign(data["gamma"])
    layer.beta.assign(data["beta"])
    y_train = keras.ops.convert_to_numpy(layer(data["train"], training=True))
    y_infer = keras.ops.convert_to_numpy(layer(data["infer"], training=False))
    return {"train": y_train, "moving_mean": keras.ops.convert_to_numpy(layer.moving_mean),
            "moving_var": keras.ops.convert_to_numpy(layer.moving_variance), "infer": y_infer}


def frameworks(data: dict) -> dict[str, dict]:
    """Each framework's numbers on ``data``: torch's ``nn.BatchNorm1d`` (momentum and eps in
    Keras's terms), the project's ``KerasBatchNorm1d`` and Keras's layer."""
    c = data["gamma"].shape[0]
    return {"torch nn.BatchNorm1d": torch_side(data, nn.BatchNorm1d(c, eps=KERAS_EPS, momentum=KERAS_BN_MOMENTUM)),
            "torch KerasBatchNorm1d": torch_side(data, make_norm("bn", c, bn_variance="biased")),
            "Keras BatchNormalization": keras_side(data, load_keras())}


def compare(mine: dict, theirs: dict[str, dict], tol: float = FORWARD_RTOL) -> list[dict]:
    """One row per framework and quantity: the relative difference and whether it is within ``tol``."""
    return [{"framework": name, "what": key, "rel": diff(mine[key], ref[key]).rel,
             "ok": diff(mine[key], ref[key]).within(tol)} for name, ref in theirs.items() for key in ref]
