"""Nested Sequential and Functional models inside a model: flattened into the outer graph (their
layers keep their names, so weights pair), with training-mode parity in both columns."""

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


def nested() -> keras.Model:
    keras.utils.set_random_seed(0)
    block = keras.Sequential([keras.Input((6,)), L.Dense(8, name="inner_dense"), L.BatchNormalization(name="inner_bn"),
                              L.Activation("relu")], name="block")
    a = keras.Input((8,))
    residual = keras.Model(a, L.Add(name="inner_add")([a, L.Dense(8, name="branch")(a)]), name="residual")
    outer_block = keras.Sequential([keras.Input((6,)), block, residual], name="outer_block")
    i = keras.Input((6,))
    return keras.Model(i, L.Dense(3, name="head")(outer_block(i)))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("nested") / "nested.keras"
    nested().save(path)
    return path


def test_nested_models_are_flattened_with_their_names(saved):
    model = read_model(saved)
    spec, net = to_torch(model)
    names = [e.get("name") for e in spec[1:]]
    assert [n for n in names if n in ("inner_dense", "inner_bn", "branch", "inner_add", "head")] == \
        ["inner_dense", "inner_bn", "branch", "inner_add", "head"]
    assert sorted(net.weighted) == ["branch", "head", "inner_bn", "inner_dense"]
    add = next(e for e in spec if e.get("name") == "inner_add")
    assert len(add["inputs"]) == 2 and "branch" in add["inputs"]  # the Add takes the block's output and the branch
    x = np.random.default_rng(0).normal(size=(4, 6)).astype("float32")
    net.eval()
    np.testing.assert_allclose(net(torch.from_numpy(x)).detach().numpy(),
                               keras.ops.convert_to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)


def test_nested_models_pass_both_columns_over_20_float64_steps(saved):
    model = read_model(saved)
    report = check(model, spec_from_model(model), Settings(steps=20, batch_size=16), model_path=saved)
    assert report.passed, table(report)
    column = report.columns["torch module"]
    assert column.weights.rel < 1e-10 and column.moving is not None and column.moving.rel < 1e-10


def test_a_subclassed_model_inside_is_refused_in_one_line(convert_script, capsys, tmp_path):
    @keras.saving.register_keras_serializable(package="tests")
    class Block(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = L.Dense(4)

        def call(self, x):
            return self.dense(x)

    i = keras.Input((4,))
    path = tmp_path / "sub.keras"
    keras.Model(i, L.Dense(2)(Block(name="custom_block")(i))).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'custom_block'" in err and "rebuild it" in err, err
    assert not (tmp_path / "o").exists()


def test_a_lambda_inside_a_nested_model_is_refused_before_keras_loads_it(convert_script, capsys, tmp_path):
    inner = keras.Sequential([keras.Input((4,)), L.Lambda(lambda x: x * 2, name="double")], name="inner")
    i = keras.Input((4,))
    path = tmp_path / "lam.keras"
    keras.Model(i, L.Dense(2)(inner(i))).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'double' (Lambda) is not supported" in err and "rebuild it" in err, err


def test_a_name_used_in_two_nested_models_is_refused(convert_script, capsys, tmp_path):
    first = keras.Sequential([keras.Input((4,)), L.Dense(4, name="twin")], name="first")
    second = keras.Sequential([keras.Input((4,)), L.Dense(4, name="twin")], name="second")
    i = keras.Input((4,))
    path = tmp_path / "twins.keras"
    keras.Model(i, second(first(i))).save(path)
    assert convert_script.main(["keras-to-torch", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "'twin'" in err and "unique name" in err, err
