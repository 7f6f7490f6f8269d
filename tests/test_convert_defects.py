"""The converter's defects of issues 27 and 29, one test each (each failed before its fix):
Dropout and Géron's BN-after model in the Keras-on-torch column, raw 0-255 inputs judged on a
float32 control, --inputs .npz, SavedModel folders, malformed .keras configs, --out and --lr
checked before any work, momenta printed as 0.01, and train.py --net's refusals."""

from __future__ import annotations

import json
import pickle
import zipfile

import numpy as np
import pytest
import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from parity.convert.check import Settings, check
from parity.convert.report import table
from parity.convert.spec import read_model, spec_from_model


def refused(script, capsys, argv: list[str]) -> str:
    assert script.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    return err


def saved(model: keras.Model, tmp_path, name: str = "m.keras") -> str:
    path = tmp_path / name
    model.save(path)
    return str(path)


def small() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu"), L.Dropout(0.5),
                             L.BatchNormalization(momentum=0.99), L.Dense(3)])


def test_dropout_passes_the_keras_on_torch_column(tmp_path):
    """Keras on torch is an nn.Module holding Keras Dropout layers: their rate must go to 0 too."""
    path = saved(small(), tmp_path)
    model = read_model(path)
    report = check(model, spec_from_model(model), Settings(steps=5, batch_size=16), model_path=path)
    assert report.passed, {name: column.checks() for name, column in report.columns.items()}


def test_geron_bn_after_on_raw_pixels_passes_both_columns_over_20_steps(tmp_path):
    """Géron's BN-after model on 0-255 inputs: float32 rounding alone moves the inference outputs
    past 1e-5 (it FAILed before the controls); each float32 row is judged on Keras f32 vs f64."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([
        keras.Input((28, 28)), L.Flatten(), L.BatchNormalization(),
        L.Dense(300, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization(),
        L.Dense(100, activation="relu", kernel_initializer="he_normal"), L.BatchNormalization(),
        L.Dense(10, activation="softmax")])
    path = saved(model, tmp_path)
    model = read_model(path)
    pixels = np.random.default_rng(0).uniform(0, 255, (256, 28, 28)).astype("float32")
    pixels[:, :3] = 0  # blank top rows, as Fashion-MNIST's: features of variance 0 under the first BN
    report = check(model, spec_from_model(model), Settings(steps=20), given=pixels, model_path=path)
    assert report.passed, table(report)
    assert report.columns["torch module"].eval.rel > 1e-5  # rounding, which the old fixed 1e-5 called a FAIL
    assert report.columns["torch module"].tolerances["weights"] == 1e-4  # true float64: no allowance
    assert report.reference.forward_control["eval"].rel > 1e-6


def test_raw_pixel_inputs_are_judged_on_the_float32_control(tmp_path):
    model = small()
    pixels = np.random.default_rng(0).uniform(0, 255, (64, 6)).astype("float32")
    report = check(model, spec_from_model(model), Settings(steps=3, batch_size=16), given=pixels, keras_torch=False)
    column = report.columns["torch module"]
    assert report.passed, column.checks()
    control = report.reference.forward_control["train"]
    assert column.tolerances["train"] == max(1e-5, 10 * control.rel)


def test_a_wrong_epsilon_still_fails_the_forward_rows():
    """The controls widen a tolerance to rounding, never to a conversion error."""
    model = small()
    spec = spec_from_model(model)
    next(e for e in spec if e["layer"] == "bn")["eps"] = 1e-5  # torch's default, not Keras's 1e-3
    column = check(model, spec, Settings(steps=2, batch_size=16), keras_torch=False).columns["torch module"]
    assert not column.train.within(column.tolerances["train"])


def test_momenta_are_stored_rounded():
    spec = spec_from_model(small())
    momentum = next(e for e in spec if e["layer"] == "bn")["momentum"]
    assert momentum == 0.01 and repr(momentum) == "0.01"


def test_npz_inputs(convert_script, capsys, tmp_path):
    path = saved(small(), tmp_path)
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "one.npz", x=rng.normal(size=(40, 6)).astype("float32"))
    assert convert_script.main(["keras-to-torch", path, "--out", str(tmp_path / "o"), "--inputs",
                                str(tmp_path / "one.npz"), "--steps", "2", "--no-keras-torch"]) == 0
    capsys.readouterr()
    np.savez(tmp_path / "two.npz", x=np.zeros((4, 6)), y=np.zeros(4))
    err = refused(convert_script, capsys, ["keras-to-torch", path, "--out", str(tmp_path / "p"), "--inputs",
                                           str(tmp_path / "two.npz")])
    assert "holds 2 arrays" in err and not (tmp_path / "p").exists()


def malformed(tmp_path, config) -> str:
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps(config))
    return str(path)


@pytest.mark.parametrize("config", [[1, 2], "text", {"class_name": "Sequential", "config": {"layers": [1, "a"]}},
                                    {"class_name": "Sequential", "config": "x"}, {"class_name": "Sequential"}],
                         ids=["list", "string", "non-dict layers", "string config", "no config"])
def test_malformed_keras_configs(convert_script, capsys, tmp_path, config):
    err = refused(convert_script, capsys, ["keras-to-torch", malformed(tmp_path, config), "--out", str(tmp_path / "o")])
    assert "Keras model config" in err and not (tmp_path / "o").exists()


def test_a_savedmodel_folder_is_named_as_such(convert_script, capsys, tmp_path):
    (tmp_path / "sm").mkdir()
    (tmp_path / "sm" / "saved_model.pb").write_bytes(b"")
    assert "SavedModel" in refused(convert_script, capsys, ["keras-to-torch", str(tmp_path / "sm"), "--out",
                                                            str(tmp_path / "o")])


@pytest.mark.parametrize("case", ["out is a file", "out under a file", "out read-only", "lr inf", "lr nan",
                                  "steps huge", "seed negative"])
def test_settings_and_out_are_refused_before_the_check(convert_script, capsys, tmp_path, case):
    """A model that WOULD convert: each refusal must come before the parity check."""
    path = saved(small(), tmp_path)
    (tmp_path / "file").write_text("x")
    out = {"out is a file": tmp_path / "file", "out under a file": tmp_path / "file" / "sub",
           "out read-only": "/proc/normlab-out"}.get(case, tmp_path / "o")
    extra = {"lr inf": ["--lr", "inf"], "lr nan": ["--lr", "nan"], "steps huge": ["--steps", "1000000"],
             "seed negative": ["--seed", "-1"]}.get(case, [])
    err = refused(convert_script, capsys, ["keras-to-torch", path, "--out", str(out), *extra])
    assert ("--out" in err) if case.startswith("out") else (extra[0] in err)


def test_refusals_do_not_load_torch_or_keras(tmp_path):
    """--help and a refused file return before torch and Keras are imported (the 5 s goal)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "bad.keras").write_text("x")
    probe = ("import sys, runpy; sys.argv = ['convert.py', 'keras-to-torch', sys.argv[1], '--out', sys.argv[2]]\n"
             "try:\n    runpy.run_path('scripts/convert.py', run_name='__main__')\n"
             "except SystemExit as e:\n    print(e.code, 'torch' in sys.modules, 'keras' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe, str(tmp_path / "bad.keras"), str(tmp_path / "o")],
                          cwd=root, capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["2", "False", "False"], done.stdout + done.stderr


def test_train_net_refuses_ignored_flags_and_pickled_weights(convert_script, train_script, capsys, tmp_path):
    model = keras.Sequential([keras.Input((28, 28)), L.Flatten(), L.Dense(10)])
    path = saved(model, tmp_path)
    net = tmp_path / "net"
    assert convert_script.main(["keras-to-torch", path, "--out", str(net), "--steps", "1", "--no-keras-torch"]) == 0
    capsys.readouterr()
    base = ["--net", str(net), "--data", "synthetic", "--no-progress", "--out", str(tmp_path / "run")]
    err = refused(train_script, capsys, base + ["--norm", "ln", "--dropout", "0.5"])
    assert "--norm" in err and "--dropout" in err and not (tmp_path / "run").exists()

    class Payload:
        def __reduce__(self):
            return (print, ("ran",))

    with open(net / "weights.pt", "wb") as handle:
        pickle.dump(Payload(), handle)
    err = refused(train_script, capsys, base)
    assert "pickled objects" in err
    assert "ran" not in capsys.readouterr().out


def test_a_functional_model_with_dropout_converts(tmp_path, convert_script, capsys):
    """Keras records training=False on every Dropout of a Functional model (its call's default) and
    overrides it with the outer call's training when it runs the graph (fit drops): not a refusal."""
    i = keras.Input((8,))
    x = L.Dropout(0.5)(L.Dense(6, activation="relu")(i))
    y = L.Concatenate()([x, L.Dense(3)(i)])
    keras.Model(i, L.Dense(10)(y)).save(tmp_path / "m.keras")
    out = tmp_path / "net"
    assert convert_script.main(["keras-to-torch", str(tmp_path / "m.keras"), "--out", str(out), "--steps", "2",
                                "--no-keras-torch"]) == 0
    assert "PASS" in capsys.readouterr().out
