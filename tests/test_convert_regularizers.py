"""Keras's L1, L2 and L1L2 ``kernel_regularizer``/``bias_regularizer`` (and an LSTM's
``recurrent_regularizer``) converted as a penalty on the torch training loss: the penalty equals
Keras's ``sum(model.losses)``, training parity holds with it in both columns, and without it fails."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L
from keras import regularizers as R

from lightning_mods.module import NormClassifier
from lightning_mods.spec_net import SpecNet
from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import to_torch
from parity.convert.report import markdown, table
from parity.convert.spec import read_model, spec_from_model


def regularized() -> keras.Model:
    keras.utils.set_random_seed(0)
    i = keras.Input((8, 3))
    x = L.Conv1D(4, 3, kernel_regularizer=R.L1L2(l1=0.01, l2=0.02), bias_regularizer=R.L2(0.5))(i)
    x = L.LSTM(5, kernel_regularizer=R.L2(0.03), recurrent_regularizer=R.L1(0.02), bias_regularizer=R.L1L2(0.1, 0.1))(x)
    x = L.Dense(6, activation="tanh", kernel_regularizer="l2", bias_regularizer=R.L1(0.05))(x)
    return keras.Model(i, L.Dense(3, bias_initializer="ones", bias_regularizer=R.L2(0.2))(x))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("reg") / "reg.keras"
    regularized().save(path)
    return path


def test_the_penalty_is_keras_s_model_losses(saved):
    model = read_model(saved)
    spec, net = to_torch(model)
    assert next(e for e in spec if e["layer"] == "dense")["kernel_regularizer"] == {"l1": 0.0, "l2": 0.01}  # "l2"
    ours = net.double().regularization_loss().item()
    theirs = float(sum(keras.ops.convert_to_numpy(loss).astype(np.float64) for loss in model.losses))
    assert len(model.losses) == 8 and ours == pytest.approx(theirs, rel=1e-6)  # float32 weights, summed in float64
    assert SpecNet(spec_from_model(keras.Sequential([keras.Input((3,)), L.Dense(2)]))).regularization_loss() is None


def test_regularized_training_passes_both_columns_and_fails_without_the_penalty(saved):
    model = read_model(saved)
    spec = spec_from_model(model)
    given = np.random.default_rng(0).normal(size=(200, 8, 3)).astype("float32")
    report = check(model, spec, Settings(steps=20, batch_size=16), given=given, model_path=saved)
    assert report.passed, table(report)
    assert report.columns["torch module"].weights.rel < 1e-10
    bare = [{k: v for k, v in e.items() if not k.endswith("_regularizer")} for e in spec]
    without = check(model, bare, Settings(steps=5, batch_size=16), given=given, keras_torch=False)
    assert not without.columns["torch module"].passed  # the penalty moves the weights far past 1e-4
    assert without.columns["torch module"].weights.rel > 1e-3
    assert "kernel_regularizer l1=0.01, l2=0.02 added to the training loss" in markdown(report, "reg.keras", spec)


def test_the_lightning_module_trains_on_the_penalty(convert_script, capsys, tmp_path):
    """train.py --net's module: the training loss of a converted regularized net is cross-entropy + the penalty."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(10, kernel_regularizer=R.L2(0.1))])
    model.save(tmp_path / "reg.keras")
    assert convert_script.main(["keras-to-torch", str(tmp_path / "reg.keras"), "--out", str(tmp_path / "net"),
                                "--steps", "1", "--no-keras-torch"]) == 0
    capsys.readouterr()
    lit = NormClassifier({"net_dir": str(tmp_path / "net")})
    assert lit.net_regularized and not NormClassifier().net_regularized
    x, y = torch.rand(4, 28, 28), torch.tensor([0, 1, 2, 3])
    loss = lit.minibatch_loss((x, y))
    penalty = 0.1 * lit.net.layers[1].weight.square().sum()
    assert penalty.item() > 0.5  # glorot-uniform 784 x 10: far above the rel=1e-6 below
    assert loss.item() == pytest.approx((torch.nn.functional.cross_entropy(lit.net(x), y) + penalty).item(), rel=1e-6)


@pytest.mark.parametrize("option, expected", [
    (dict(kernel_regularizer=R.OrthogonalRegularizer()), "kernel_regularizer=OrthogonalRegularizer (only Keras's L1, L2, L1L2)"),
    (dict(activity_regularizer="l2"), "activity_regularizer="),
])
def test_other_regularizers_are_refused_in_one_line(convert_script, capsys, tmp_path, option, expected):
    path = tmp_path / "m.keras"
    keras.Sequential([keras.Input((4,)), L.Dense(3, name="reg", **option)]).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1 and "'reg'" in err and expected in err, err
    assert not (tmp_path / "o").exists()


def test_a_copied_net_keeps_its_penalty():
    """deepcopy (the check's float64 twin and its control) keeps the regularized modules its own."""
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, kernel_regularizer=R.L1(0.5))])
    net = SpecNet(spec_from_model(model))
    twin = copy.deepcopy(net)
    with torch.no_grad():
        twin.layers[0].weight.zero_()
    assert twin.regularization_loss().item() == 0.0 and net.regularization_loss().item() > 0.0
