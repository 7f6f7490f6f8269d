"""Keras 3 Functional models with the layer structure of ``lightning_mods.nets``; they output logits.

Defaults are Keras's own (``BatchNormalization(momentum=0.99, epsilon=1e-3)``, 1e-3 for LN/GN);
``parity.conventions`` says how each maps to the torch side. Layers carry fixed names
(``dense_0``, ``norm_0``, ``act_0``, ..., ``logits``; ``input_norm``, ``lstm``) so weights can
be matched layer by layer.
"""

from __future__ import annotations

import keras
from keras import layers

NORMS = ("none", "bn", "ln", "gn")
PLACEMENTS = ("pre", "post")
IMAGE_SIDE = 28
NUM_CLASSES = 10


def make_norm_layer(norm: str, groups: int = 32, bn_momentum: float = 0.99, epsilon: float = 1e-3,
                    name: str | None = None, dtype: str = "float32") -> layers.Layer | None:
    """The Keras layer for ``norm`` over the LAST axis (features), or None for ``"none"``."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if norm == "bn":
        return layers.BatchNormalization(momentum=bn_momentum, epsilon=epsilon, name=name, dtype=dtype)
    if norm == "ln":
        return layers.LayerNormalization(epsilon=epsilon, name=name, dtype=dtype)
    if norm == "gn":
        return layers.GroupNormalization(groups=groups, axis=-1, epsilon=epsilon, name=name, dtype=dtype)
    return None


def build_mlp(
    hidden_units: list[int] = (512, 256, 128, 64),
    norm: str = "bn",
    placement: str = "pre",
    activation: str = "relu",
    groups: int = 32,
    bn_momentum: float = 0.99,
    epsilon: float = 1e-3,
    kernel_initializer: str = "he_normal",
    num_classes: int = NUM_CLASSES,
    dtype: str = "float32",
    dropout: float = 0.0,
    norm_logits: bool = False,
) -> keras.Model:
    """Flatten -> per hidden layer Dense -> norm -> act (``pre``) or Dense -> act -> norm
    (``post``), then Dropout(``dropout``) when it is > 0 -> Dense(num_classes) logits, then the
    norm on the logits when ``norm_logits``. Dense has no bias when a norm follows it directly
    (``pre``: the norm's beta replaces it). ``dtype``: of every
    weight and computation (``"float64"`` for trajectories free of float32 rounding).

    >>> build_mlp(hidden_units=[32, 16], norm="ln").output.shape
    (None, 10)
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown placement {placement!r}; choose pre or post")
    if not hidden_units or any(h < 1 for h in hidden_units):
        raise ValueError(f"hidden_units {list(hidden_units)} must be one or more positive widths")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout {dropout} must be a rate in [0, 1)")
    if norm_logits and norm == "none":
        raise ValueError("norm_logits needs a norm (bn, ln or gn) to put on the logits")
    normalized = [*hidden_units, *([num_classes] if norm_logits else [])]  # widths a norm sees
    if norm == "gn" and any(width % groups for width in normalized):
        raise ValueError(f"groups={groups} must divide every normalized width {normalized}")
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image", dtype=dtype)
    x = layers.Flatten(name="flatten", dtype=dtype)(inputs)  # (B, 784), row-major like torch's Flatten
    for i, width in enumerate(hidden_units):
        use_bias = norm == "none" or placement == "post"
        x = layers.Dense(width, use_bias=use_bias, kernel_initializer=kernel_initializer, name=f"dense_{i}",
                         dtype=dtype)(x)
        norm_layer = make_norm_layer(norm, groups, bn_momentum, epsilon, name=f"norm_{i}", dtype=dtype)
        act = layers.Activation(activation, name=f"act_{i}", dtype=dtype)  # "gelu" is exact (approximate=False)
        block = [norm_layer, act] if placement == "pre" else [act, norm_layer]
        for layer in block:
            if layer is not None:
                x = layer(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"dropout_{i}", dtype=dtype)(x)
    logits = layers.Dense(num_classes, use_bias=not norm_logits, kernel_initializer=kernel_initializer, name="logits",
                          dtype=dtype)(x)
    if norm_logits:
        logits = make_norm_layer(norm, groups, bn_momentum, epsilon, name="norm_logits", dtype=dtype)(logits)
    return keras.Model(inputs, logits, name=f"mlp_{norm}_{placement}_{activation}")


def build_lstm(
    units: int = 128,
    norm: str = "none",
    groups: int = 32,
    bn_momentum: float = 0.99,
    epsilon: float = 1e-3,
    num_classes: int = NUM_CLASSES,
    dtype: str = "float32",
) -> keras.Model:
    """The 28 image rows as a 28-step sequence of 28 features -> optional norm over the 28
    features (``axis=-1``) -> LSTM(units) (last hidden state) -> Dense(num_classes) logits.

    On ``(B, T, C)`` inputs: BN averages over B and T per feature; LN over C per sample and
    step; GN per sample over T and the C/groups features of a group (as torch's GroupNorm on
    ``(B, C, T)``). Keras's LSTM defaults: tanh/sigmoid, glorot_uniform, orthogonal,
    ``unit_forget_bias=True``.

    >>> build_lstm(units=16, norm="ln").output.shape
    (None, 10)
    """
    if norm == "gn" and IMAGE_SIDE % groups:
        raise ValueError(f"groups={groups} must divide the {IMAGE_SIDE} features of a row, e.g. 4, 7 or 14")
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image", dtype=dtype)  # (B, T=28 rows, C=28 pixels)
    x = inputs
    norm_layer = make_norm_layer(norm, groups, bn_momentum, epsilon, name="input_norm", dtype=dtype)
    if norm_layer is not None:
        x = norm_layer(x)
    x = layers.LSTM(units, name="lstm", dtype=dtype)(x)  # (B, units): the last hidden state
    logits = layers.Dense(num_classes, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, logits, name=f"lstm_{norm}")
