"""MultiHeadAttention (self- and cross-attention, attention dropout) converted to torch's packed
``nn.MultiheadAttention`` through ``parity.attention``'s mapping: training-mode parity in both
columns, a scrambled head order fails, and a layer torch cannot hold is refused in one line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import to_torch
from parity.convert.report import markdown, table
from parity.convert.spec import read_model, spec_from_model


def transformer_block() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 8))
    x = L.LayerNormalization()(i)
    x = L.Add()([i, L.MultiHeadAttention(2, key_dim=4, dropout=0.1, name="self_attention")(x, x)])
    value, key = L.Dense(8, name="to_value")(x), L.Dense(8, name="to_key")(x)
    x = L.MultiHeadAttention(4, key_dim=2, name="cross_attention")(x, value, key)
    return keras.Model(i, L.Dense(3)(L.GlobalAveragePooling1D()(x)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("mha") / "mha.keras"
    transformer_block().save(path)
    return path


def test_attention_entries_and_inference(saved):
    model = read_model(saved)
    spec, net = to_torch(model)
    entries = {e["name"]: e for e in spec if e["layer"] == "mha"}
    assert entries["self_attention"]["heads"] == 2 and entries["self_attention"]["dropout"] == 0.1
    assert len(entries["self_attention"]["inputs"]) == 2 and entries["cross_attention"]["inputs"][1:] == ["to_value", "to_key"]
    x = np.random.default_rng(0).normal(size=(4, 6, 8)).astype("float32")
    net.eval()
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(),
                               keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)
    with torch.no_grad():  # the two heads' query rows swapped: a layout error the outputs show
        w = net.weighted["self_attention"].in_proj_weight
        w[:8] = torch.cat([w[4:8], w[:4]]).clone()
    assert np.abs(net(torch.from_numpy(x)).detach().numpy() - keras.ops.convert_to_numpy(model(x, training=False))).max() > 1e-4


def test_attention_passes_both_columns_over_20_float64_steps(saved):
    model = read_model(saved)
    spec = spec_from_model(model)
    report = check(model, spec, Settings(steps=20, batch_size=16), model_path=saved)
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10
    assert "packed in_proj_weight" in markdown(report, "mha.keras", spec)


def test_heads_torch_cannot_hold_are_refused(convert_script, capsys, tmp_path):
    i = keras.Input((5, 8))
    path = tmp_path / "wide.keras"
    keras.Model(i, L.MultiHeadAttention(2, key_dim=16, name="wide")(i, i)).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'wide' (MultiHeadAttention)" in err and "key_dim" in err, err
