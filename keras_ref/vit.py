"""The Keras twin of ``lightning_mods.vit.ViT``: 16 patch tokens of 7x7, pre-norm encoder blocks with
Keras's own ``MultiHeadAttention``, mean pooling; logits out.

Norms on ``(B, T, C)`` tokens: ``LayerNormalization()`` (per token over C) or ``BatchNormalization()``
(axis=-1: per channel over the batch AND the tokens). MHA's weights are per-projection
``(D, heads, head_dim)`` kernels; torch packs them: ``parity/attention.py`` maps them.
"""

from __future__ import annotations

import keras
from keras import layers

from keras_ref.models import IMAGE_SIDE, NUM_CLASSES, make_norm_layer

PATCH = 7
SIDE = IMAGE_SIDE // PATCH  # 4 patches a side
TOKENS = SIDE * SIDE


@keras.saving.register_keras_serializable(package="normlab")
class PositionEmbedding(layers.Layer):
    """Adds a learned ``(1, tokens, width)`` embedding. Registered, so that a saved ViT (``scripts/convert.py
    torch-to-keras``) loads with ``keras.saving.load_model`` once this module is imported."""

    def build(self, input_shape):
        self.embedding = self.add_weight(shape=(1, *input_shape[1:]), initializer=keras.initializers.RandomNormal(
            stddev=0.02), name="embedding")

    def call(self, x):
        return x + self.embedding


def build_vit(norm: str = "ln", activation: str = "relu", width: int = 64, depth: int = 2, heads: int = 4,
              mlp_width: int = 128, bn_momentum: float = 0.99, epsilon: float = 1e-3,
              dtype: str = "float32") -> keras.Model:
    """Patches (row-major, pixels row-major) -> Dense(width) -> + position -> blocks -> norm -> mean -> Dense(10).

    >>> build_vit(norm="bn").output.shape
    (None, 10)
    """
    kw = dict(bn_momentum=bn_momentum, epsilon=epsilon, dtype=dtype)
    inputs = keras.Input(shape=(IMAGE_SIDE, IMAGE_SIDE), name="image", dtype=dtype)
    x = layers.Reshape((SIDE, PATCH, SIDE, PATCH), name="grid", dtype=dtype)(inputs)
    x = layers.Permute((1, 3, 2, 4), name="patch_major", dtype=dtype)(x)
    x = layers.Reshape((TOKENS, PATCH * PATCH), name="patches", dtype=dtype)(x)
    x = layers.Dense(width, name="embed", dtype=dtype)(x)
    x = PositionEmbedding(name="position", dtype=dtype)(x)
    for i in range(depth):
        h = make_norm_layer(norm, name=f"norm1_{i}", **kw)(x) if norm != "none" else x
        h = layers.MultiHeadAttention(heads, key_dim=width // heads, name=f"mha_{i}", dtype=dtype)(h, h)
        x = layers.Add(name=f"add1_{i}", dtype=dtype)([x, h])
        h = make_norm_layer(norm, name=f"norm2_{i}", **kw)(x) if norm != "none" else x
        h = layers.Dense(mlp_width, name=f"mlp1_{i}", dtype=dtype)(h)
        h = layers.Activation(activation, name=f"act_{i}", dtype=dtype)(h)
        h = layers.Dense(width, name=f"mlp2_{i}", dtype=dtype)(h)
        x = layers.Add(name=f"add2_{i}", dtype=dtype)([x, h])
    if norm != "none":
        x = make_norm_layer(norm, name="norm_out", **kw)(x)
    x = layers.GlobalAveragePooling1D(name="mean", dtype=dtype)(x)
    logits = layers.Dense(NUM_CLASSES, name="logits", dtype=dtype)(x)
    return keras.Model(inputs, logits, name=f"vit_{norm}")
