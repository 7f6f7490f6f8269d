"""Keras's elu, selu, leaky_relu, relu6, hard_sigmoid and softplus (as ``activation=`` and as
``Activation`` layers) and the ReLU(max_value, negative_slope, threshold), LeakyReLU and ELU layers:
each torch module against Keras's own function, and training-mode parity in both columns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.spec_net import SpecNet
from parity.convert.check import Settings, check
from parity.convert.report import markdown, table
from parity.convert.spec import read_model, spec_from_model

NAMES = ("elu", "selu", "leaky_relu", "relu6", "hard_sigmoid", "softplus")
GRID = np.concatenate([np.linspace(-8, 8, 161), [-3.0, 3.0, 0.3, 2.5, 6.0, 25.0, -25.0]])


def one_layer(layer) -> torch.nn.Module:
    """The torch module the converter makes of one Keras activation layer."""
    model = keras.Sequential([keras.Input((len(GRID),)), layer])
    return SpecNet(spec_from_model(model)).double()


@pytest.mark.parametrize("name", NAMES)
def test_each_activation_is_keras_s_function(name):
    net = one_layer(L.Activation(name))
    ours = net(torch.from_numpy(GRID[None])).detach().numpy()[0]
    theirs = keras.ops.convert_to_numpy(getattr(keras.activations, name)(GRID))
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_hard_sigmoid_is_keras_3_s_not_keras_2_s():
    """Keras 3: relu6(x + 3) / 6 (0 at -3, 1 at 3); Keras 2 was clip(0.2 x + 0.5): they differ at x = 2."""
    net = one_layer(L.Activation("hard_sigmoid"))
    ours = net(torch.from_numpy(GRID[None])).detach().numpy()[0]
    assert ours[GRID == 2.0][0] == pytest.approx(5 / 6) and ours[GRID == -3.0][0] == 0.0 and ours[GRID == 3.0][0] == 1.0
    assert ours[GRID == 2.0][0] != pytest.approx(np.clip(0.2 * 2 + 0.5, 0, 1))


@pytest.mark.parametrize("layer, keras_fn", [
    (L.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.3), lambda x: keras.activations.relu(
        x, negative_slope=0.1, max_value=2.5, threshold=0.3)),
    (L.ReLU(max_value=6.0), keras.activations.relu6),
    (L.ReLU(negative_slope=0.05), lambda x: keras.activations.relu(x, negative_slope=0.05)),
    (L.ReLU(threshold=1.0), lambda x: keras.activations.relu(x, threshold=1.0)),
    (L.LeakyReLU(negative_slope=0.25), lambda x: keras.activations.leaky_relu(x, negative_slope=0.25)),
    (L.ELU(alpha=1.0), keras.activations.elu),
], ids=["relu all options", "relu max 6", "relu slope", "relu threshold", "leaky", "elu"])
def test_parametric_layers_are_keras_s_formula(layer, keras_fn):
    net = one_layer(layer)
    ours = net(torch.from_numpy(GRID[None])).detach().numpy()[0]
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(keras_fn(GRID)), rtol=1e-12, atol=1e-12)


def activations_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((10, 3))
    x = L.Conv1D(6, 3, activation="selu", padding="same")(i)
    x = L.Flatten()(L.LeakyReLU(negative_slope=0.25)(x))
    x = L.Dense(12, activation="elu")(x)
    x = L.ReLU(max_value=2.5, negative_slope=0.1, threshold=0.3)(L.Dense(12, activation="softplus")(x))
    x = L.Activation("hard_sigmoid")(L.Dense(12, activation="relu6")(x))
    x = L.ELU()(L.Dense(12, activation="leaky_relu")(x))
    return keras.Model(i, L.Dense(3)(x))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    path = tmp_path_factory.mktemp("act") / "act.keras"
    activations_model().save(path)
    model = read_model(path)
    given = np.random.default_rng(0).normal(0, 3, (200, 10, 3)).astype("float32")  # every piece of every function
    return check(model, spec_from_model(model), Settings(steps=20, batch_size=16), given=given, model_path=path), model


def test_activations_pass_both_columns_over_20_float64_steps(report):
    report, _ = report
    assert set(report.columns) == {"torch module", "Keras, torch backend"}
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10  # true float64, far inside 1e-4
    assert report.columns["torch module"].tolerances["weights"] == 1e-4


def test_a_wrong_slope_fails_the_check(report):
    """The check sees a LeakyReLU slope of Keras's default 0.3 instead of the model's 0.25."""
    _, model = report
    spec = spec_from_model(model)
    next(e for e in spec if e["layer"] == "relu" and e["threshold"] == 0.0)["negative_slope"] = 0.3
    given = np.random.default_rng(0).normal(0, 3, (80, 10, 3)).astype("float32")
    bad = check(model, spec, Settings(steps=2, batch_size=16), given=given, keras_torch=False)
    assert not bad.passed


def test_the_summary_names_the_mapped_activations(report):
    report, model = report
    text = markdown(report, "act.keras", spec_from_model(model))
    assert "KerasReLU" in text and "ELU" in text and "HardSigmoid" in text and "negative_slope" in text
