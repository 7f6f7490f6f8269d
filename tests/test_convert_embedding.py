"""Embedding with integer inputs, feeding an LSTM (the keras-io text classifier's shape) or a
GlobalAveragePooling1D -> Dense: training-mode parity in both columns; mask_zero refused."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import to_torch
from parity.convert.report import table
from parity.convert.spec import read_model, spec_from_model

VOCABULARY = 40


def text_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((12,), dtype="int32")
    e = L.Embedding(VOCABULARY, 6)(i)
    pooled = L.Dense(4, activation="relu")(L.GlobalAveragePooling1D()(e))
    recurrent = L.LSTM(5)(e)
    return keras.Model(i, L.Dense(2, activation="sigmoid")(L.Concatenate()([pooled, recurrent])))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("emb") / "text.keras"
    text_model().save(path)
    return path


def test_integer_inputs_look_up_the_same_rows(saved):
    model = read_model(saved)
    spec, net = to_torch(model)
    assert spec[1]["layer"] == "embedding" and spec[1]["input_dim"] == VOCABULARY
    tokens = np.random.default_rng(0).integers(0, VOCABULARY, (5, 12))
    expected = keras.ops.convert_to_numpy(model(tokens.astype("int32")))
    net.eval()
    with torch.no_grad():
        for x in (torch.from_numpy(tokens), torch.from_numpy(tokens.astype("float32"))):  # ids as integers or floats
            np.testing.assert_allclose(net(x).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_embedding_models_pass_both_columns_over_20_float64_steps(saved):
    model = read_model(saved)
    report = check(model, spec_from_model(model), Settings(steps=20, batch_size=16), model_path=saved)
    assert report.inputs_from == f"random integers in [0, {VOCABULARY})"
    assert report.passed, table(report)
    column = report.columns["torch module"]
    assert column.weights.rel < 1e-10 and column.tolerances["weights"] == 1e-4


def test_a_transposed_embedding_fails():
    """Output rows taken as columns (an (output_dim, input_dim) layout) cannot pass."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,), dtype="int32"), L.Embedding(5, 5), L.Flatten(), L.Dense(2)])
    spec, net = to_torch(model)
    with torch.no_grad():
        net.weighted[spec[1]["name"]].weight.copy_(net.weighted[spec[1]["name"]].weight.T.clone())
    tokens = np.array([[0, 1, 4], [2, 3, 3]])
    expected = keras.ops.convert_to_numpy(model(tokens.astype("int32")))
    net.eval()
    assert np.abs(net(torch.from_numpy(tokens)).detach().numpy() - expected).max() > 1e-3


def test_mask_zero_and_float_inputs_without_embedding_are_refused(convert_script, capsys, tmp_path):
    path = tmp_path / "mask.keras"
    keras.Sequential([keras.Input((4,), dtype="int32"), L.Embedding(9, 3, mask_zero=True, name="words"), L.LSTM(2)]).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'words' (Embedding)" in err and "mask_zero=True" in err, err
    ints = tmp_path / "ints.keras"
    keras.Sequential([keras.Input((4,), dtype="int32"), L.Dense(2)]).save(ints)
    assert convert_script.main(["keras-to-torch", str(ints), "--out", str(tmp_path / "o")]) == 2
    assert "integers into an Embedding" in capsys.readouterr().err
