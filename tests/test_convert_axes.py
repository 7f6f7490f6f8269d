"""Norms on axes other than the last (issue 27): BatchNormalization(axis=1) on a sequence,
LayerNormalization over (H, W, C) of conv maps (Wu & He's LN) and over (H, W), GroupNormalization(axis=1):
converted with training-mode parity in both columns over 20 float64 steps, back to Keras, and a norm put
on the wrong axis fails the check."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.errors import UsageError
from lightning_mods.spec_net import SpecNet
from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import copy_to_torch, to_torch
from parity.convert.report import table
from parity.convert.spec import read_model, spec_from_model
from parity.convert.torch_to_keras import spec_net_to_keras


def axes_model(spatial_ln: bool = True) -> keras.Model:
    """``spatial_ln``: also an LN over (H, W) alone, which Keras on its torch backend cannot run (it hands
    torch's layer_norm axes that are not the trailing ones: a Keras bug), so that model's check has the
    torch-module column only."""
    keras.utils.set_random_seed(0)
    i = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, padding="same")(i)
    x = L.Activation("relu")(L.LayerNormalization(axis=[1, 2, 3])(x))  # per sample over H, W, C: gamma (6, 6, 4)
    x = L.Conv2D(4, 3, padding="same")(x)
    if spatial_ln:
        x = L.LayerNormalization(axis=[1, 2])(x)  # per sample and channel over H, W
    x = L.Reshape((9, 16))(x)
    x = L.BatchNormalization(axis=1, momentum=0.9)(x)  # statistics per step, over the batch and the 16 features
    x = L.GroupNormalization(groups=3, axis=1)(L.Dense(5)(x))  # 3 groups of the 9 steps
    return keras.Model(i, L.Dense(3)(L.Flatten()(x)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("axes") / "axes.keras"
    axes_model().save(path)
    return path


@pytest.fixture(scope="module")
def saved_both(tmp_path_factory):
    path = tmp_path_factory.mktemp("axes") / "axes_both.keras"
    axes_model(spatial_ln=False).save(path)
    return path


def test_the_spec_keeps_each_norms_axes(saved):
    spec = spec_from_model(read_model(saved))
    norms = [(e["layer"], e.get("axis"), e["features"]) for e in spec if e["layer"] in ("bn", "ln", "gn")]
    assert norms == [("ln", [1, 2, 3], [6, 6, 4]), ("ln", [1, 2], [6, 6]), ("bn", [1], 9), ("gn", [1], 9)]


def test_parity_in_both_columns_over_20_float64_steps(saved_both):
    model = read_model(saved_both)
    given = np.random.default_rng(0).normal(size=(96, 6, 6, 2)).astype("float32")
    report = check(model, spec_from_model(model), Settings(steps=20, batch_size=16), given=given, model_path=saved_both)
    assert set(report.columns) == {"torch module", "Keras, torch backend"}
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10  # true float64, far inside 1e-4


def test_a_spatial_layer_norm_has_parity_in_the_torch_column(saved):
    model = read_model(saved)
    given = np.random.default_rng(0).normal(size=(96, 6, 6, 2)).astype("float32")
    report = check(model, spec_from_model(model), Settings(steps=20, batch_size=16), given=given, keras_torch=False)
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10


def test_back_to_keras_and_again(saved):
    model = read_model(saved)
    spec, net = to_torch(model)
    back = spec_net_to_keras(net)
    assert spec_from_model(back) == spec
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 2)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-5,
                               atol=1e-6)
    again = copy_to_torch(back, SpecNet(spec))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_a_norm_on_the_wrong_axis_fails_the_check():
    """BN over the last axis (the converter's only choice before) instead of axis 1, both of size 4: the
    weights fit, the numbers do not."""
    keras.utils.set_random_seed(0)
    i = keras.Input((16,))
    x = L.BatchNormalization(axis=1)(L.Reshape((4, 4))(L.Dense(16)(i)))
    model = keras.Model(i, L.Dense(3)(L.Flatten()(x)))
    spec = spec_from_model(model)
    given = np.random.default_rng(0).normal(size=(48, 16)).astype("float32")
    assert check(model, spec, Settings(steps=2, batch_size=16), given=given, keras_torch=False).passed
    del next(e for e in spec if e["layer"] == "bn")["axis"]
    assert not check(model, spec, Settings(steps=2, batch_size=16), given=given, keras_torch=False).passed


def test_axes_in_any_order_convert(tmp_path, convert_script, capsys):
    """Keras sorts an LN's axes when it builds the layer ([2, 1] is [1, 2]): the conversion follows it."""
    path = tmp_path / "order.keras"
    keras.Sequential([keras.Input((3, 4)), L.LayerNormalization(axis=[2, 1]), L.Flatten(), L.Dense(2)]).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o"), "--steps", "3"]) == 0
    assert "PASS" in capsys.readouterr().out
    assert "axis [1, 2]: moved last around the norm and back" in (tmp_path / "o" / "parity.md").read_text()


def test_a_malformed_axis_in_spec_yaml_is_one_line():
    spec = [{"layer": "input", "shape": [4, 4]}, {"layer": "bn", "name": "b", "features": 4, "momentum": 0.01,
                                                  "eps": 1e-3, "axis": 1}]
    with pytest.raises(UsageError, match="axis 1 is not a list"):
        SpecNet(spec)
