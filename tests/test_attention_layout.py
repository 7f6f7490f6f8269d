"""Keras MultiHeadAttention and torch nn.MultiheadAttention compute the same thing once their
weights are mapped by parity.attention (float64, self-attention, with and without a mask-free batch)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import lightning_mods  # noqa: F401  (the torch side first)
import keras  # noqa: E402
from parity.attention import KERAS_ORDER, check_mappable, keras_from_torch, keras_shapes, torch_from_keras


@pytest.mark.parametrize("dim,heads", [(16, 4), (8, 1)])
def test_mapped_keras_and_torch_attention_agree(dim, heads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, dim))  # (B, T, D)
    layer = keras.layers.MultiHeadAttention(num_heads=heads, key_dim=dim // heads, dtype="float64")
    expected = keras.ops.convert_to_numpy(layer(x, x))  # builds the layer
    keras_w = dict(zip(KERAS_ORDER, layer.get_weights()))
    assert {k: v.shape for k, v in keras_w.items()} == keras_shapes(dim, heads)
    mha = nn.MultiheadAttention(dim, heads, batch_first=True, dtype=torch.float64)
    mha.load_state_dict({k: torch.from_numpy(v) for k, v in torch_from_keras(keras_w).items()})
    got, _ = mha(*(torch.from_numpy(x),) * 3, need_weights=False)
    # A layout error gives O(1) differences; 1e-7 leaves room for the two libraries' float64 kernels (1e-8 seen at 1 head).
    np.testing.assert_allclose(got.detach().numpy(), expected, rtol=0, atol=1e-7)
    back = keras_from_torch({k: v.detach().numpy() for k, v in mha.state_dict().items()}, heads)
    assert all(np.array_equal(back[k], keras_w[k]) for k in KERAS_ORDER)


def test_unmappable_head_sizes_are_refused():
    check_mappable(16, 4, 4)
    with pytest.raises(ValueError, match="key_dim = value_dim = width / heads = 4"):
        check_mappable(16, 4, 8)
