"""The Keras reference models have the structure of the torch nets, layer for layer."""

from __future__ import annotations

import numpy as np
import pytest

import parity  # noqa: F401  (torch side first)
from keras import layers

from keras_ref import build_lstm, build_mlp
from lightning_mods.nets import LSTMClassifier, MLP
from parity.transfer import paired_layers


def n_weights_torch(net) -> int:
    """Parameters plus BN running statistics (Keras counts its moving statistics as weights)."""
    buffers = sum(b.numel() for name, b in net.named_buffers() if not name.endswith("num_batches_tracked"))
    return sum(p.numel() for p in net.parameters()) + buffers


@pytest.mark.parametrize("norm", ["none", "bn", "ln", "gn"])
@pytest.mark.parametrize("placement", ["pre", "post"])
def test_mlp_has_the_torch_structure(norm, placement):
    model = build_mlp(hidden_units=[32, 16], norm=norm, placement=placement, activation="gelu", groups=8)
    net = MLP(hidden=[32, 16], norm=norm, placement=placement, activation="gelu", groups=8)
    kinds = [kind for kind, _, _ in paired_layers(net, model)]  # raises if the layer kinds differ
    assert kinds.count("dense") == 3 and kinds[-1] == "dense"  # no norm after the last layer
    assert model.count_params() == n_weights_torch(net)
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    assert [d.use_bias for d in dense[:-1]] == [norm == "none" or placement == "post"] * 2
    order = [type(layer).__name__ for layer in model.layers if not isinstance(layer, (layers.InputLayer, layers.Flatten))]
    if norm != "none":
        activation_at, norm_at = order.index("Activation"), order.index(type(model.get_layer("norm_0")).__name__)
        assert (norm_at < activation_at) == (placement == "pre")


@pytest.mark.parametrize("norm", ["none", "bn", "ln", "gn"])
def test_lstm_has_the_torch_structure(norm):
    model = build_lstm(units=16, norm=norm, groups=4)
    net = LSTMClassifier(units=16, norm=norm, groups=4)
    kinds = [kind for kind, _, _ in paired_layers(net, model)]
    assert kinds[-2:] == ["lstm", "dense"] and len(kinds) == (2 if norm == "none" else 3)
    # Keras's LSTM has ONE bias of 4u, torch's two: the only parameter-count difference.
    assert model.count_params() == n_weights_torch(net) - 4 * 16
    assert model(np.zeros((3, 28, 28), "float32")).shape == (3, 10)


def test_defaults_are_keras_defaults():
    model = build_mlp(hidden_units=[8], norm="bn")
    bn = model.get_layer("norm_0")
    assert (bn.momentum, bn.epsilon) == (0.99, 1e-3)
    assert model.get_layer("act_0").activation.__name__ == "relu"


def test_gelu_is_the_exact_gelu_like_torch():
    import torch

    x = np.linspace(-4, 4, 101, dtype="float32")
    keras_gelu = layers.Activation("gelu")(x).numpy()
    np.testing.assert_allclose(keras_gelu, torch.nn.functional.gelu(torch.from_numpy(x)).numpy(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(norm="batch"), "unknown norm"),
    (dict(placement="middle"), "unknown placement"),
    (dict(norm="gn", hidden_units=[30], groups=32), "must divide"),
    (dict(hidden_units=[]), "positive widths"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_mlp(**kwargs)
    if "norm" in kwargs and "groups" not in kwargs:
        with pytest.raises(ValueError, match=message):
            build_lstm(norm=kwargs["norm"])
