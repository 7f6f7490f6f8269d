"""Bring your own Keras model: round trips for every supported layer and option, the parity
check (and that it can fail), frozen BatchNorm, Géron's two BN models with the Keras-on-torch
column, and the script's whole path: convert, train with --net, convert the run back."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.spec_net import SpecNet, load_net
from parity.compare import torch_logits, torch_sgd_steps
from parity.convert.check import Settings, check, mse
from parity.convert.keras_to_torch import copy_to_torch, to_torch
from parity.convert.spec import read_model, spec_from_model
from parity.convert.torch_to_keras import keras_model, spec_net_to_keras

QUICK = Settings(steps=5, batch_size=16)


def dense_model() -> keras.Model:
    """Every dense-side layer and option: BN (momentum, epsilon, center, scale), LN, GN (groups,
    -1 = InstanceNorm), each activation, Dropout, Dense without bias."""
    return keras.Sequential([
        keras.Input((28, 28)), L.Flatten(), L.BatchNormalization(momentum=0.9, epsilon=1e-2),
        L.Dense(32, activation="gelu"), L.BatchNormalization(center=False), L.Dense(16, use_bias=False),
        L.LayerNormalization(scale=False), L.Activation("swish"), L.Dropout(0.3), L.Dense(16, activation="tanh"),
        L.GroupNormalization(groups=4, center=False), L.ReLU(), L.Dense(12, activation="sigmoid"),
        L.GroupNormalization(groups=-1), L.Activation("linear"), L.Dense(10, activation="softmax"),
    ], name="dense_all")


def sequence_model() -> keras.Model:
    """LSTMs both ways, norms on (B, T, C), a frozen BN, Reshape, a Functional chain."""
    inputs = keras.Input((784,))
    x = L.Reshape((28, 28))(inputs)
    x = L.LayerNormalization()(x)
    x = L.LSTM(8, return_sequences=True)(x)
    x = L.BatchNormalization(trainable=False)(x)
    x = L.GroupNormalization(groups=2)(x)
    x = L.LSTM(6, unit_forget_bias=False)(x)
    x = L.Dense(10)(x)
    return keras.Model(inputs, L.Activation("softmax")(x), name="sequence_all")


def geron(before: bool) -> keras.Model:
    """Géron ch. 11's BN models as the book describes them (not built by this project's code)."""
    if not before:
        body = [L.Dense(300, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization(),
                L.Dense(100, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization()]
    else:
        body = [L.Dense(300, kernel_initializer="he_normal", use_bias=False), L.BatchNormalization(),
                L.Activation("relu"), L.Dense(100, kernel_initializer="he_normal", use_bias=False),
                L.BatchNormalization(), L.Activation("relu")]
    return keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.BatchNormalization(), *body,
                             L.Dense(10, activation="softmax")])


def stir(model: keras.Model, seed: int = 0) -> keras.Model:
    """Non-trivial gammas, betas and moving statistics, so that every array is checked."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        for name in ("gamma", "beta", "moving_mean", "moving_variance"):
            variable = getattr(layer, name, None)
            if variable is not None:
                value = rng.uniform(0.5, 1.5, variable.shape) if name in ("gamma", "moving_variance") else \
                    rng.normal(0, 0.1, variable.shape)
                variable.assign(value.astype("float32"))
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    paths = {}
    for name, build in {"dense": dense_model, "sequence": sequence_model}.items():
        keras.utils.set_random_seed(1)
        paths[name] = folder / f"{name}.keras"
        stir(build()).save(paths[name])
    return paths


@pytest.mark.parametrize("name", ["dense", "sequence"])
def test_round_trips_are_bitwise(saved, name):
    model = read_model(saved[name])
    spec, net = to_torch(model)
    assert yaml.safe_load(yaml.safe_dump(spec)) == spec
    back = spec_net_to_keras(net)  # torch -> Keras
    assert spec_from_model(back) == spec
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), back.get_weights()))
    again = copy_to_torch(back, SpecNet(spec))  # and torch -> Keras -> torch
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    kinds = {entry["layer"] for entry in spec}
    expected = {"dense": {"flatten", "bn", "dense", "ln", "activation", "dropout", "gn"},
                "sequence": {"reshape", "ln", "lstm", "bn", "gn", "dense", "activation"}}[name]
    assert expected <= kinds


def test_spec_keeps_every_option(saved):
    spec = spec_from_model(read_model(saved["dense"]))
    bn, bn_nocenter = [e for e in spec if e["layer"] == "bn"]
    assert bn["momentum"] == pytest.approx(0.1) and bn["eps"] == pytest.approx(1e-2)  # torch's momentum
    assert not bn_nocenter["center"] and bn_nocenter["scale"]
    assert [e["groups"] for e in spec if e["layer"] == "gn"] == [4, 12]  # groups=-1: one per channel
    lstm = [e for e in spec_from_model(read_model(saved["sequence"])) if e["layer"] == "lstm"]
    assert [e["return_sequences"] for e in lstm] == [True, False]


@pytest.mark.parametrize("name", ["dense", "sequence"])
def test_parity_passes(saved, name):
    model = read_model(saved[name])
    report = check(model, spec_from_model(model), QUICK, keras_torch=False)
    column = report.columns["torch module"]
    assert report.passed, column.checks()
    assert column.moving is not None and column.weights.rel < 1e-10


def test_parity_fails_on_torch_momentum(saved):
    """The check can fail: torch's own BN momentum (0.1 for Keras 0.99) moves the statistics apart."""
    model = read_model(saved["dense"])
    spec = copy.deepcopy(spec_from_model(model))
    for entry in spec:
        if entry["layer"] == "bn":
            entry["momentum"] = 0.3  # not 1 - 0.9
    column = check(model, spec, QUICK, keras_torch=False).columns["torch module"]
    assert column.train.within(1e-5) and column.eval.within(1e-5)  # outputs alone would not tell
    assert not column.moving.within(1e-4)


def test_frozen_batchnorm_keeps_its_statistics_and_weights(saved):
    """Keras 3: trainable=False normalizes with the moving statistics even with training=True."""
    model = read_model(saved["sequence"])
    spec, net = to_torch(model)
    frozen = next(layer for layer in model.layers if isinstance(layer, L.BatchNormalization))
    module = net.weighted[frozen.name]
    assert not module.weight.requires_grad and not module.bias.requires_grad
    stats = [t.clone() for t in (module.running_mean, module.running_var, module.weight)]
    x = np.random.default_rng(0).normal(size=(16, 784)).astype("float32")
    train_out = torch_logits(net, x, training=True)
    np.testing.assert_array_equal(train_out, torch_logits(net, x, training=False))  # no batch statistics
    torch_sgd_steps(net, [(x, np.zeros((16, 10), "float32"))], 0.1, mse)
    assert all(torch.equal(a, b) for a, b in zip(stats, (module.running_mean, module.running_var, module.weight)))
    before = keras.ops.convert_to_numpy(frozen.moving_mean).copy()
    model(x, training=True)
    np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(frozen.moving_mean))


@pytest.mark.parametrize("before", [False, True], ids=["bn-after", "bn-before"])
def test_geron_models_pass_every_column(tmp_path, before):
    keras.utils.set_random_seed(0)
    path = tmp_path / "geron.keras"
    geron(before).save(path)
    model = read_model(path)
    report = check(model, spec_from_model(model), Settings(steps=10), model_path=path)
    assert set(report.columns) == {"torch module", "Keras, torch backend"}
    assert report.passed, {name: column.checks() for name, column in report.columns.items()}


def test_script_converts_trains_and_converts_back(saved, tmp_path, capsys, convert_script, train_script):
    convert, train = convert_script, train_script
    out = tmp_path / "net"
    inputs = tmp_path / "inputs.npy"
    np.save(inputs, np.random.default_rng(0).uniform(size=(64, 784)).astype("float32"))
    assert convert.main(["keras-to-torch", str(saved["sequence"]), "--out", str(out), "--inputs", str(inputs),
                         "--steps", "3", "--no-keras-torch"]) == 0
    assert "# Parity of the converted model: PASS" in (out / "parity.md").read_text()
    torch.load(out / "weights.pt", weights_only=True)
    net = parity.convert.load(out)
    assert isinstance(net, SpecNet) and isinstance(net.layers[-1], torch.nn.Softmax)
    assert not isinstance(load_net(out, logits=True).layers[-1], torch.nn.Softmax)
    run = tmp_path / "run"
    assert train.main(["--net", str(out), "--data", "synthetic", "--epochs", "1", "--batch-size", "64",
                       "--accelerator", "cpu", "--devices", "1", "--no-progress", "--out", str(run)]) == 0
    capsys.readouterr()
    assert convert.main(["torch-to-keras", str(run / "checkpoints" / "best.ckpt"), "--out", str(tmp_path / "m.keras")]) == 0
    assert "predictions that differ: 0" in capsys.readouterr().out
    assert spec_from_model(read_model(tmp_path / "m.keras")) == yaml.safe_load((out / "spec.yaml").read_text())


def test_a_training_run_becomes_a_keras_model(train_script, convert_script, tiny_args, tmp_path, capsys):
    assert train_script.main(tiny_args + ["--norm", "bn", "--bn-variance", "biased"]) == 0
    capsys.readouterr()
    convert = convert_script
    ckpt = tmp_path / "run" / "checkpoints" / "best.ckpt"
    assert convert.main(["torch-to-keras", str(ckpt), "--out", str(tmp_path / "mlp.keras")]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    assert line.endswith("predictions that differ: 0"), line
    model = keras.saving.load_model(tmp_path / "mlp.keras")
    assert [type(layer).__name__ for layer in model.layers].count("BatchNormalization") == 2


def test_keras_model_from_spec_names_its_layers():
    spec = [{"layer": "input", "shape": [4]},
            {"layer": "dense", "name": "d", "units": 3, "in_features": 4, "use_bias": True, "activation": "relu"}]
    model = keras_model(spec)
    assert model.get_layer("d").units == 3 and model.outputs[0].shape == (None, 3)
