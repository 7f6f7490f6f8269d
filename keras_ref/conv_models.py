"""Keras twins of ``lightning_mods.conv_nets`` (NHWC): the small CNN and d2l's BN-LeNet; logits out.

Norms on NHWC feature maps: ``BatchNormalization()`` (axis=-1: per channel over B, H, W),
``GroupNormalization(groups)`` (axis=-1), ``LayerNormalization(axis=[1, 2, 3])`` (over H, W, C with
an (H, W, C) gamma: Wu & He's LN, torch's ``ln_axes="chw"``) or ``LayerNormalization()`` (axis=-1,
per pixel over C: ``ln_axes="c"``). The Flatten after the convolutions reads (H, W, C) here, (C, H, W)
in torch: ``parity/transfer_vision.py`` permutes the rows of the Dense that follows.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_ref.models import IMAGE_SIDE, NUM_CLASSES, make_norm_layer

CNN_CHANNELS = (16, 32, 64)
CNN_DENSE = (128,)
LENET_DENSE = (120, 84)


def image_norm_layer(norm: str, ln_axes: str, name: str, **kwargs) -> layers.Layer | None:
    """The Keras norm for NHWC maps (see the module docstring)."""
    if norm == "ln" and ln_axes == "chw":
        return layers.LayerNormalization(axis=[1, 2, 3], epsilon=kwargs["epsilon"], name=name, dtype=kwargs["dtype"])
    return make_norm_layer(norm, name=name, **kwargs)


def _block(x, layer, norm_layer, activation: str, placement: str, name: str, dtype: str):
    x = layer(x)
    act = layers.Activation(activation, name=f"act_{name}", dtype=dtype)
    for step in ([norm_layer, act] if placement == "pre" else [act, norm_layer]):
        if step is not None:
            x = step(x)
    return x


def _dense_blocks(x, widths: tuple[int, ...], first: int, norm: str, activation: str, placement: str,
                  kernel_initializer: str, kw: dict):
    """After Flatten: [Dense -> norm -> act] (or post) per width, named dense_i / norm_i from i = ``first``;
    bias off when a norm follows."""
    for i, w in enumerate(widths, start=first):
        dense = layers.Dense(w, use_bias=(norm == "none" or placement == "post"), kernel_initializer=kernel_initializer,
                             name=f"dense_{i}", dtype=kw["dtype"])
        x = _block(x, dense, make_norm_layer(norm, name=f"norm_{i}", **kw), activation, placement, str(i), kw["dtype"])
    return x


def build_cnn(norm: str = "bn", placement: str = "pre", activation: str = "relu", groups: int = 32,
              bn_momentum: float = 0.99, epsilon: float = 1e-3, ln_axes: str = "chw",
              kernel_initializer: str = "he_normal", dtype: str = "float32") -> keras.Model:
    """[Conv2D 3x3 'same' -> norm -> act -> MaxPooling2D(2)] x 3 -> Flatten -> Dense 128 -> norm -> act
    -> Dense(10).

    >>> build_cnn(norm="gn", groups=4).output.shape
    (None, 10)
    """
    kw = dict(groups=groups, bn_momentum=bn_momentum, epsilon=epsilon, dtype=dtype)
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image", dtype=dtype)
    x = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="nhwc", dtype=dtype)(inputs)
    for i, c in enumerate(CNN_CHANNELS):
        conv = layers.Conv2D(c, 3, padding="same", use_bias=(norm == "none" or placement == "post"),
                             kernel_initializer=kernel_initializer, name=f"conv_{i}", dtype=dtype)
        x = _block(x, conv, image_norm_layer(norm, ln_axes, f"norm_{i}", **kw), activation, placement, str(i), dtype)
        x = layers.MaxPooling2D(2, name=f"pool_{i}", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)  # (B, H*W*C), channels fastest
    x = _dense_blocks(x, CNN_DENSE, len(CNN_CHANNELS), norm, activation, placement, kernel_initializer, kw)
    logits = layers.Dense(NUM_CLASSES, kernel_initializer=kernel_initializer, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, logits, name=f"cnn_{norm}_{placement}_{activation}")


def build_lenet(norm: str = "bn", placement: str = "pre", activation: str = "sigmoid", groups: int = 32,
                bn_momentum: float = 0.99, epsilon: float = 1e-3, ln_axes: str = "chw",
                kernel_initializer: str = "he_normal", dtype: str = "float32") -> keras.Model:
    """d2l's BN-LeNet: Conv 6@5x5 -> norm -> act -> AvgPool2 -> Conv 16@5x5 -> norm -> act -> AvgPool2
    -> Flatten -> Dense 120 -> norm -> act -> Dense 84 -> norm -> act -> Dense 10.

    >>> build_lenet(norm="bn").output.shape
    (None, 10)
    """
    kw = dict(groups=groups, bn_momentum=bn_momentum, epsilon=epsilon, dtype=dtype)
    bias = norm == "none" or placement == "post"
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image", dtype=dtype)
    x = layers.Reshape((IMAGE_SIDE, IMAGE_SIDE, 1), name="nhwc", dtype=dtype)(inputs)
    for i, c in enumerate((6, 16)):
        conv = layers.Conv2D(c, 5, use_bias=bias, kernel_initializer=kernel_initializer, name=f"conv_{i}", dtype=dtype)
        x = _block(x, conv, image_norm_layer(norm, ln_axes, f"norm_{i}", **kw), activation, placement, str(i), dtype)
        x = layers.AveragePooling2D(2, name=f"pool_{i}", dtype=dtype)(x)
    x = layers.Flatten(name="flatten", dtype=dtype)(x)
    x = _dense_blocks(x, LENET_DENSE, 2, norm, activation, placement, kernel_initializer, kw)
    logits = layers.Dense(NUM_CLASSES, kernel_initializer=kernel_initializer, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, logits, name=f"lenet_{norm}_{placement}_{activation}")
