"""GRU (reset_after=True, Keras's default: gates z, r, h -> torch r, z, n, two biases) and LSTM/GRU
with ``dropout``/``recurrent_dropout``: converted, the rates kept, the parity check run at rate 0."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.spec_extra import SequenceDropout
from parity.convert.arrays_extra import swap_gates
from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import to_torch
from parity.convert.report import markdown, table
from parity.convert.spec import read_model, spec_from_model


def recurrent() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((7, 3))
    x = L.GRU(5, return_sequences=True, dropout=0.3, name="gru")(i)
    x = L.LSTM(4, return_sequences=True, dropout=0.2, recurrent_dropout=0.1, name="lstm")(x)
    x = L.GRU(4, name="last", bias_initializer="random_normal")(x)
    return keras.Model(i, L.Dense(2)(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("rnn") / "rnn.keras"
    recurrent().save(path)
    return path


def test_rates_are_kept_in_the_spec_and_the_module(saved):
    spec, net = to_torch(read_model(saved))
    gru, lstm = spec[1], spec[2]
    assert gru["layer"] == "gru" and gru["dropout"] == 0.3 and "recurrent_dropout" not in gru
    assert lstm["dropout"] == 0.2 and lstm["recurrent_dropout"] == 0.1
    drops = [m for m in net.modules() if isinstance(m, SequenceDropout)]
    assert [d.p for d in drops] == [0.3]  # the LSTM's rates go to its step loop (recurrent_dropout is set)
    lstm_module = next(m for m in net.modules() if hasattr(m, "lstm"))
    assert (lstm_module.drop_inputs.p, lstm_module.drop_state.p) == (0.2, 0.1)
    x = torch.ones(64, 7, 5)
    drops[0].train()
    out = drops[0](x)
    assert torch.equal(out[:, 0], out[:, 3])  # one mask per sequence, the same at every step (Keras's)
    assert 0.1 < (out[:, 0] == 0).float().mean() < 0.5 and not torch.equal(out, drops[0](x))


def test_gate_order_and_biases_map(saved):
    """Keras's z, r, h blocks are torch's second, first and third; bias rows go to bias_ih and bias_hh."""
    model = read_model(saved)
    spec, net = to_torch(model)
    keras_cell, gru = model.get_layer("last").cell, net.weighted["last"]
    kernel = keras.ops.convert_to_numpy(keras_cell.kernel)
    z, r, h = np.split(kernel, 3, axis=1)
    torch_r, torch_z, torch_n = np.split(gru.weight_ih_l0.detach().numpy(), 3, axis=0)
    assert np.array_equal(torch_r, r.T) and np.array_equal(torch_z, z.T) and np.array_equal(torch_n, h.T)
    bias = keras.ops.convert_to_numpy(keras_cell.bias)
    assert np.array_equal(gru.bias_hh_l0.detach().numpy(), swap_gates(bias[1], 0))
    assert gru.bias_hh_l0.requires_grad  # two trained biases, as Keras's reset_after GRU
    x = np.random.default_rng(0).normal(size=(4, 7, 3)).astype("float32")
    net.eval()
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(),
                               keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)


def test_recurrent_models_pass_both_columns_at_rate_0(saved):
    model = read_model(saved)
    spec = spec_from_model(model)
    report = check(model, spec, Settings(steps=20, batch_size=16), model_path=saved)
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10
    text = markdown(report, "rnn.keras", spec)
    assert "dropout 0.3, recurrent_dropout 0.0 (0 in the check)" in text
    assert "recurrent_dropout: in training the torch module runs Keras's step loop" in text


def test_reset_after_false_is_refused(convert_script, capsys, tmp_path):
    path = tmp_path / "v1.keras"
    keras.Sequential([keras.Input((5, 2)), L.GRU(3, reset_after=False, name="v1")]).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'v1' (GRU)" in err and "reset_after=False" in err, err
