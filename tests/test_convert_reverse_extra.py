"""``parity.convert.reverse_extra``: the Keras layers of the new spec entries (relu, elu, embedding,
gru, mha) and options (regularizers, recurrent dropout), through ``torch_to_keras.keras_model``:
the spec read back is the spec, the weights copy back bitwise, the outputs agree."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import parity.convert
import keras
from keras import layers as L
from keras import regularizers as R

from parity.convert import torch_to_keras
from parity.convert.keras_to_torch import copy_to_torch, to_torch
from parity.convert.spec import spec_from_model


def every_new_layer() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 8))
    x = L.ReLU(max_value=3.0, negative_slope=0.1, threshold=0.2)(L.Dense(8, activation="selu", kernel_regularizer="l2")(i))
    x = L.Add()([x, L.MultiHeadAttention(2, key_dim=4, dropout=0.1, kernel_regularizer=R.L1(0.01))(x, x)])
    x = L.GRU(5, return_sequences=True, dropout=0.2, recurrent_dropout=0.1, bias_regularizer=R.L1L2(0.1, 0.2))(x)
    x = L.LSTM(4, dropout=0.3, recurrent_regularizer=R.L2(0.05))(L.ELU()(L.LeakyReLU(0.3)(x)))
    return keras.Model(i, L.Dense(2, activation="hard_sigmoid")(x))


def test_new_layers_go_back_to_keras():
    model = every_new_layer()
    spec, net = to_torch(model)
    back = torch_to_keras.spec_net_to_keras(net)
    assert spec_from_model(back) == spec
    x = np.random.default_rng(0).normal(size=(3, 6, 8)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5,
                               atol=1e-6)
    again = copy_to_torch(back, type(net)(spec))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    losses = lambda m: sum(float(keras.ops.convert_to_numpy(v)) for v in m.losses)  # noqa: E731
    assert losses(back) == pytest.approx(losses(model), rel=1e-6) and losses(model) > 0


def test_the_script_writes_and_loads_every_new_layer(convert_script, capsys, tmp_path):
    """spec.yaml (None, nested dicts) and weights.pt of every new kind: parity.convert.load gives Keras's outputs."""
    model = every_new_layer()
    model.save(tmp_path / "m.keras")
    out = tmp_path / "net"
    assert convert_script.main(["keras-to-torch", str(tmp_path / "m.keras"), "--out", str(out), "--steps", "2",
                                "--no-keras-torch"]) == 0
    assert "PASS" in capsys.readouterr().out
    net = parity.convert.load(out).eval()
    x = np.random.default_rng(1).normal(size=(3, 6, 8)).astype("float32")
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(), keras.ops.convert_to_numpy(model(x)),
                               rtol=1e-5, atol=1e-6)
    assert net.regularization_loss() is not None and "LSTM/GRU recurrent_dropout: in training the torch module runs Keras's step loop" in (out / "parity.md").read_text()
