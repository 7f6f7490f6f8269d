"""The reverse path as a user runs it: scripts/train.py on synthetic data (--arch cnn, lenet, vit; and
--net of a Keras DAG converted with keras-to-torch: Rescaling, adapted Normalization, strided 'same'
Conv2D, BN, Add, DepthwiseConv2D, Subtract, Multiply, Average, Concatenate, LN and GN on conv maps,
pooling, Flatten after channels-last maps), then scripts/convert.py torch-to-keras: exit 0,
both rows within their float32 controls, the file loads in Keras and, for the DAG, reads back into
the very spec it was trained from (Keras -> Lightning training -> Keras)."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from parity.convert.spec import read_model, spec_from_model

RUN = ["--data", "synthetic", "--epochs", "1", "--batch-size", "64", "--accelerator", "cpu", "--devices", "1",
       "--no-progress"]
VISION = {"cnn bn": ["--arch", "cnn", "--norm", "bn"], "cnn ln c": ["--arch", "cnn", "--norm", "ln", "--ln-axes", "c"],
          "lenet gn": ["--arch", "lenet", "--norm", "gn", "--groups", "2"], "vit bn": ["--arch", "vit", "--norm", "bn"]}


def train_and_convert(train, convert, capsys, tmp_path, args: list[str]) -> list[str]:
    run = tmp_path / "run"
    assert train.main(RUN + args + ["--out", str(run)]) == 0
    capsys.readouterr()
    code = convert.main(["torch-to-keras", str(run / "checkpoints" / "best.ckpt"), "--out", str(tmp_path / "m.keras")])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = out.strip().splitlines()
    assert lines[-2].startswith("PASS") and lines[-1].endswith("predictions that differ: 0"), out
    assert lines[-4].startswith("inference outputs, test set (500 images)") and " pass " in lines[-4], out
    assert lines[-3].startswith("training-mode outputs") and " pass " in lines[-3], out
    return lines


@pytest.mark.parametrize("name", list(VISION))
def test_a_vision_run_converts_back(name, train_script, convert_script, capsys, tmp_path):
    train_and_convert(train_script, convert_script, capsys, tmp_path, VISION[name])
    model = keras.saving.load_model(tmp_path / "m.keras")  # keras_ref.vit is imported: PositionEmbedding is known
    assert model.output.shape == (None, 10)


def dag() -> keras.Model:
    i = keras.Input((28, 28, 1))
    x = L.Rescaling(2.0, offset=-1.0)(i)
    norm = L.Normalization(axis=None)
    norm.adapt(np.random.default_rng(0).uniform(-1, 1, (64, 28, 28, 1)).astype("float32"))
    x = L.Conv2D(8, 3, strides=2, padding="same")(norm(x))  # 14 x 14 x 8
    x = L.ReLU()(L.BatchNormalization()(x))
    y = L.BatchNormalization()(L.Conv2D(8, 3, padding="same", use_bias=False)(x))
    x = L.Add()([x, y])
    d = L.DepthwiseConv2D(3, padding="same")(x)
    gate = L.Multiply()([d, L.Activation("sigmoid")(x)])
    x = L.Concatenate()([L.Subtract()([x, d]), L.Average()([x, gate])])  # 14 x 14 x 16
    x = L.MaxPooling2D(2)(L.LayerNormalization()(x))  # 7 x 7 x 16
    x = L.AveragePooling2D(2, padding="same")(L.GroupNormalization(groups=4)(x))  # 4 x 4 x 16
    x = L.Flatten()(x)  # (H, W, C) order: the Dense after it is not permuted
    return keras.Model(i, L.Dense(10, activation="softmax")(x), name="porter_dag")


def test_a_converted_dag_goes_keras_torch_training_keras(train_script, convert_script, capsys, tmp_path):
    keras.utils.set_random_seed(0)
    dag().save(tmp_path / "dag.keras")
    net = tmp_path / "net"
    assert convert_script.main(["keras-to-torch", str(tmp_path / "dag.keras"), "--out", str(net), "--steps", "2",
                                "--batch-size", "8", "--no-keras-torch"]) == 0
    train_and_convert(train_script, convert_script, capsys, tmp_path, ["--net", str(net)])
    back = read_model(tmp_path / "m.keras")
    assert spec_from_model(back) == yaml.safe_load((net / "spec.yaml").read_text())
    assert {"Add", "Subtract", "Multiply", "Average", "Concatenate", "DepthwiseConv2D", "Normalization", "Rescaling",
            "GroupNormalization"} <= {type(layer).__name__ for layer in back.layers}
