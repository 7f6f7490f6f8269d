"""What the converter refuses: unsupported layers and options, non-chain models, files that are
not Keras models, bad --inputs; each with exit 2, ONE line, and nothing written."""

from __future__ import annotations

import numpy as np
import pytest

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L



@pytest.fixture
def convert(convert_script):
    return convert_script


def refused(convert, capsys, argv: list[str]) -> str:
    assert convert.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


@keras.saving.register_keras_serializable(package="tests")
class Doubler(L.Layer):
    def call(self, x):
        return 2 * x


def save(model: keras.Model, tmp_path, name: str = "m.keras"):
    path = tmp_path / name
    model.save(path)
    return str(path)


def test_unsupported_layers_and_options_are_named_in_one_line(convert, capsys, tmp_path):
    model = keras.Sequential([
        keras.Input((28, 28)), L.Reshape((28, 28, 1)), L.Conv2D(2, 1, name="conv", data_format="channels_first"),
        L.Flatten(),
        L.Dense(8, kernel_constraint="max_norm", name="reg"), L.BatchNormalization(renorm=True, name="renorm"),
        L.Activation("softsign", name="soft"), L.PReLU(name="prelu"), L.Dense(10, name="out"),
    ])
    out = tmp_path / "out"
    err = refused(convert, capsys, ["keras-to-torch", save(model, tmp_path), "--out", str(out)])
    assert "'conv' (Conv2D) options data_format='channels_first'" in err and "supported: InputLayer" in err
    for piece in ("'reg'", "kernel_constraint=", "'renorm'", "renorm=True", "activation 'softsign'", "'prelu' (PReLU)"):
        assert piece in err, piece
    assert not out.exists()


def test_options_are_refused_after_loading(convert, capsys, tmp_path):
    inputs = keras.Input((4, 6))
    x = L.BatchNormalization(renorm=True, name="renorm")(inputs)  # (axis=1 converts: tests/test_convert_axes.py)
    x = L.LayerNormalization(rms_scaling=True, name="rms")(x)
    x = L.LSTM(3, go_backwards=True, name="back")(x)
    x = L.Dense(10, activation="softsign", name="elu")(x)
    err = refused(convert, capsys, ["keras-to-torch", save(keras.Model(inputs, x), tmp_path), "--out", str(tmp_path / "o")])
    for piece in ("'renorm'", "renorm=True", "'rms'", "rms_scaling=True", "'back'", "go_backwards=True", "'elu'", "activation 'softsign'"):
        assert piece in err, piece
    assert not (tmp_path / "o").exists()


def test_custom_layers_are_refused_without_running_them(convert, capsys, tmp_path):
    model = keras.Sequential([keras.Input((4,)), Doubler(name="double"), L.Dense(2)])
    err = refused(convert, capsys, ["keras-to-torch", save(model, tmp_path), "--out", str(tmp_path / "o")])
    assert "'double' (tests>Doubler) is not supported" in err
    lam = keras.Sequential([keras.Input((4,)), L.Lambda(lambda x: x + 1, name="plus"), L.Dense(2)])
    err = refused(convert, capsys, ["keras-to-torch", save(lam, tmp_path, "lam.keras"), "--out", str(tmp_path / "o")])
    assert "'plus' (Lambda) is not supported" in err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("graph", ["shared", "two inputs", "called with training"])
def test_non_chain_models_are_refused(convert, capsys, tmp_path, graph):
    a = keras.Input((8,))
    if graph == "shared":
        dense = L.Dense(8, name="shared")
        model = keras.Model(a, dense(dense(a)))
        expected = "'shared' is used more than once"
    elif graph == "two inputs":
        b = keras.Input((8,))
        model = keras.Model([a, b], [L.Dense(2)(a), L.Dense(2)(b)])
        expected = "2 inputs and 2 outputs"
    else:
        model = keras.Model(a, L.BatchNormalization(name="bn")(L.Dense(4)(a), training=False))
        expected = "'bn' is called with training"
    err = refused(convert, capsys, ["keras-to-torch", save(model, tmp_path), "--out", str(tmp_path / "o")])
    assert expected in err


@pytest.mark.parametrize("content", ["text", "zip", "npy", "missing"])
def test_files_that_are_not_keras_models(convert, capsys, tmp_path, content):
    path = tmp_path / "model.keras"
    if content == "text":
        path.write_text("not a model")
    elif content == "zip":
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("readme.txt", "hello")
    elif content == "npy":
        path = tmp_path / "model.npy"
        np.save(path, np.zeros(3))
    err = refused(convert, capsys, ["keras-to-torch", str(path), "--out", str(tmp_path / "o")])
    assert "Keras" in err or "does not exist" in err
    assert not (tmp_path / "o").exists()


def test_bad_inputs_and_bad_checkpoints(convert, capsys, tmp_path):
    model = save(keras.Sequential([keras.Input((5,)), L.Dense(3)]), tmp_path)
    np.save(tmp_path / "wrong.npy", np.zeros((4, 6), "float32"))
    err = refused(convert, capsys, ["keras-to-torch", model, "--out", str(tmp_path / "o"), "--inputs",
                                    str(tmp_path / "wrong.npy"), "--no-keras-torch"])
    assert "(4, 6)" in err and not (tmp_path / "o").exists()
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    refused(convert, capsys, ["keras-to-torch", model, "--out", str(tmp_path / "o"), "--inputs", str(tmp_path / "objects.npy")])
    (tmp_path / "best.ckpt").write_text("nope")
    assert "not a checkpoint" in refused(convert, capsys, ["torch-to-keras", str(tmp_path / "best.ckpt"), "--out",
                                                            str(tmp_path / "x.keras")])
    assert ".keras" in refused(convert, capsys, ["torch-to-keras", str(tmp_path / "best.ckpt"), "--out",
                                                  str(tmp_path / "x.h5")])


def test_train_refuses_a_net_that_is_not_for_fashion_mnist(convert, capsys, tmp_path, train_script):
    model = save(keras.Sequential([keras.Input((5,)), L.Dense(3)]), tmp_path)
    assert convert.main(["keras-to-torch", model, "--out", str(tmp_path / "net"), "--steps", "2", "--no-keras-torch"]) == 0
    capsys.readouterr()
    assert train_script.main(["--net", str(tmp_path / "net"), "--data", "synthetic", "--no-progress",
                              "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --net") and "(5,)" in err and len(err.splitlines()) == 1
    assert train_script.main(["--net", str(tmp_path / "nothing"), "--data", "synthetic", "--out", str(tmp_path / "r")]) == 2
    assert "holds no spec.yaml" in capsys.readouterr().err


@keras.saving.register_keras_serializable(package="tests")
class Subclassed(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(2)

    def call(self, x):
        return self.dense(x)


def test_a_subclassed_model_and_mixed_precision_are_refused_with_advice(convert, capsys, tmp_path):
    model = Subclassed()
    model(np.zeros((1, 4), "float32"))
    err = refused(convert, capsys, ["keras-to-torch", save(model, tmp_path), "--out", str(tmp_path / "o")])
    assert "subclassed model" in err and "rebuild it as a Functional model" in err
    mixed = keras.Sequential([keras.Input((4,)), L.Dense(3, dtype="mixed_float16", name="half"), L.Dense(2)])
    err = refused(convert, capsys, ["keras-to-torch", save(mixed, tmp_path, "mixed.keras"), "--out", str(tmp_path / "o")])
    assert "'half'" in err and "mixed_float16" in err and "set_dtype_policy('float32')" in err
    assert not (tmp_path / "o").exists()
