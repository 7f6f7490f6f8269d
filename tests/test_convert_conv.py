"""The models porters have: keras-io's MNIST convnet, a residual block (Conv2D + BN + Add, strided
'same' padding, DepthwiseConv2D, Concatenate, pooling with 'same'), Rescaling and an adapted
Normalization, Conv1D with dilation: round trips and training-mode parity of the torch module."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.spec_net import SpecNet
from parity.compare import torch_logits
from parity.convert.check import Settings, check
from parity.convert.keras_to_torch import copy_to_torch, to_torch
from parity.convert.spec import read_model, spec_from_model
from parity.convert.torch_to_keras import spec_net_to_keras


def convnet() -> keras.Model:
    """keras-io's examples/vision/mnist_convnet.py, as written there."""
    return keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                             L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(), L.Dropout(0.5),
                             L.Dense(10, activation="softmax")])


def residual() -> keras.Model:
    i = keras.Input((12, 12, 3))
    x = L.Rescaling(1 / 255.0)(i)
    x = L.Conv2D(8, 3, padding="same", strides=2)(x)
    x = L.Activation("relu")(L.BatchNormalization()(x))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    x = L.ReLU()(L.Add()([x, y]))
    d = L.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    c = L.AveragePooling2D(2, padding="same")(L.Concatenate()([x, d]))
    c = L.MaxPooling2D(2, padding="same", strides=1)(c)
    return keras.Model(i, L.Dense(4)(L.GlobalAveragePooling2D()(c)))


def sequence() -> keras.Model:
    i = keras.Input((20, 3))
    norm = L.Normalization()
    norm.adapt(np.random.default_rng(0).uniform(0, 5, (50, 20, 3)).astype("float32"))
    x = L.Conv1D(6, 3, dilation_rate=2, padding="same")(norm(i))
    x = L.MaxPooling1D(2)(L.LayerNormalization()(x))
    x = L.GlobalMaxPooling1D()(L.GroupNormalization(groups=2)(x))
    return keras.Model(i, L.Dense(3)(x))


BUILDS = {"convnet": convnet, "residual": residual, "sequence": sequence}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("conv")
    paths = {}
    for name, build in BUILDS.items():
        keras.utils.set_random_seed(0)
        paths[name] = folder / f"{name}.keras"
        build().save(paths[name])
    return paths


@pytest.mark.parametrize("name", list(BUILDS))
def test_round_trips(saved, name):
    model = read_model(saved[name])
    spec, net = to_torch(model)
    back = spec_net_to_keras(net)
    assert spec_from_model(back) == spec
    x = np.random.default_rng(1).uniform(0, 5, (4, *model.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(back(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6,
                               atol=1e-6)
    again = copy_to_torch(back, SpecNet(spec))
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))


def test_the_residual_block_is_a_graph(saved):
    spec = spec_from_model(read_model(saved["residual"]))
    merges = {e["op"]: e["inputs"] for e in spec if e["layer"] == "merge"}
    assert set(merges) == {"add", "concatenate"} and all(len(v) == 2 for v in merges.values())
    assert {e["layer"] for e in spec} >= {"rescale", "conv", "bn", "pool", "global_pool", "dense"}
    assert any(e.get("depthwise") for e in spec)


@pytest.mark.parametrize("name", list(BUILDS))
def test_parity_passes(saved, name):
    model = read_model(saved[name])
    given = np.random.default_rng(0).uniform(0, 255, (96, *model.inputs[0].shape[1:])).astype("float32")
    report = check(model, spec_from_model(model), Settings(steps=5, batch_size=16), given=given, keras_torch=False)
    column = report.columns["torch module"]
    assert report.passed, column.checks()
    assert column.weights.rel < 1e-8  # float64: far inside the tolerance


def test_a_wrong_conv_layout_fails(saved):
    """A kernel with its two spatial axes swapped (a plausible porting mistake) is far off Keras: the layout matters."""
    model = read_model(saved["convnet"])
    spec, net = to_torch(model)
    x = np.random.default_rng(0).normal(size=(8, 28, 28, 1)).astype("float32")
    with torch.no_grad():
        conv = net.weighted[spec[1]["name"]]
        conv.weight.copy_(conv.weight.transpose(2, 3).clone())  # kh <-> kw: a plausible porting mistake
    expected = keras.ops.convert_to_numpy(model(x))
    assert np.max(np.abs(torch_logits(net, x, training=False) - expected)) > 1e-3


def test_shared_layers_and_lambdas_are_refused_with_advice(convert_script, capsys, tmp_path):
    a = keras.Input((8,))
    dense = L.Dense(8, name="shared")
    path = tmp_path / "shared.keras"
    keras.Model(a, L.Add()([dense(a), dense(L.Dense(8)(a))])).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "'shared' is used more than once" in err and len(err.splitlines()) == 1
    lam = tmp_path / "lam.keras"
    keras.Sequential([keras.Input((4,)), L.Lambda(lambda x: x * 2, name="double"), L.Dense(2)]).save(lam)
    assert convert_script.main(["keras-to-torch", str(lam), "--out", str(tmp_path / "o")]) == 2
    assert "rebuild it from Keras's built-in layers" in capsys.readouterr().err
