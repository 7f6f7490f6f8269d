"""scripts/train.py end to end on synthetic data, and its refusals of bad input."""

import json

import pytest
import yaml


def test_fit_writes_every_artifact(train_script, tiny_args, tmp_path, capsys):
    assert train_script.main(tiny_args + ["--epochs", "2"]) == 0
    out = tmp_path / "run"
    for name in ("config.yaml", "epochs.csv", "lightning_logs/metrics.csv", "summary.json", "checkpoints/best.ckpt", "checkpoints/last.ckpt"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2 and 0.0 <= summary["val_acc"] <= 1.0 and 0.0 <= summary["test_acc"] <= 1.0
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["norm"] == "bn" and config["hidden"] == [32, 16] and config["init"] == "he_normal"
    assert len((out / "epochs.csv").read_text().strip().splitlines()) == 3  # header + one row per epoch
    printed = capsys.readouterr().out
    assert "test accuracy" in printed and "val loss < 0.4" in printed


@pytest.mark.parametrize("extra", [["--norm", "ln", "--placement", "post", "--activation", "gelu"],
                                   ["--norm", "gn", "--groups", "8", "--optimizer", "adam"],
                                   ["--arch", "lstm", "--norm", "ln", "--lstm-units", "8"],
                                   ["--dropout", "0.2", "--norm-logits"]])
def test_other_configurations_train(train_script, tiny_args, extra):
    assert train_script.main(tiny_args + extra) == 0


@pytest.mark.parametrize("extra,message", [
    (["--groups", "5", "--norm", "gn"], "--groups 5 does not divide"),
    (["--batch-size", "1"], "--batch-size 1 with --norm bn"),
    (["--epochs", "0"], "--epochs 0 must be at least 1"),
    (["--lr", "-1"], "--lr -1.0 must be a positive finite number"),
    # every flag's bad values, as a new user would try them (tiny_args run on the CPU)
    (["--seed", "-1"], "--seed -1 is outside numpy's seed range [0, 4294967295]"),
    (["--seed", str(2**32)], "--seed 4294967296 is outside numpy's seed range"),
    (["--lr", "inf"], "--lr inf must be a positive finite number"),
    (["--lr", "nan"], "--lr nan must be a positive finite number"),
    (["--eps", "nan"], "--eps nan must be a positive finite number"),
    (["--eps", "0"], "--eps 0.0 must be a positive finite number"),
    (["--bn-momentum", "1.5"], "--bn-momentum 1.5 is outside [0, 1]"),
    (["--hidden", "0"], "--hidden [0] must be one or more positive widths"),
    (["--arch", "lstm", "--lstm-units", "0"], "--lstm-units 0 must be at least 1"),
    (["--batch-size", "0"], "--batch-size 0 must be at least 1"),
    (["--steps-per-execution", "0"], "--steps-per-execution 0 must be at least 1"),
    (["--epochs", "-3"], "--epochs -3 must be at least 1"),
    (["--num-nodes", "0"], "--num-nodes 0 must be at least 1"),
    (["--accelerator", "foo"], "unknown --accelerator 'foo'; choose one of auto, gpu, cpu"),
    (["--accelerator", "tpu"], "--accelerator tpu --devices 1 --strategy auto --num-nodes 1 cannot run here"),
    (["--devices", "0"], "--devices '0' must be auto, a number of devices (1 or more)"),
    (["--devices", "two"], "--devices 'two' must be auto"),
    (["--devices", "-1"], "--accelerator cpu --devices -1 --strategy auto --num-nodes 1 cannot run here"),
    (["--strategy", "dp"], "unknown --strategy 'dp' (did you mean ddp?)"),
    (["--dropout", "1.0"], "--dropout 1.0 must be a rate in [0, 1)"),
    (["--dropout", "nan"], "--dropout nan must be a rate in [0, 1)"),
    (["--norm", "none", "--norm-logits"], "--norm-logits puts the net's norm on the logits: it needs --norm bn"),
    (["--arch", "lstm", "--dropout", "0.2"], "--dropout applies to the MLP only"),
    (["--arch", "lstm", "--norm", "ln", "--norm-logits"], "--norm-logits applies to the MLP only"),
    (["--norm", "gn", "--groups", "4", "--norm-logits"], "--groups 4 does not divide"),
])
def test_bad_input_is_one_line_and_exit_2(train_script, tiny_args, extra, message, capsys, tmp_path):
    assert train_script.main(tiny_args + extra) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_unknown_norm_is_refused_by_the_parser(train_script, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_script.main(["--norm", "batchnorm"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'batchnorm'" in capsys.readouterr().err


def test_missing_dataset_says_how_to_get_it(train_script, tiny_args, tmp_path, capsys):
    args = [a if a != "synthetic" else "real" for a in tiny_args] + ["--data-dir", str(tmp_path / "empty")]
    (tmp_path / "empty").mkdir()
    assert train_script.main(args) == 2
    assert "apt-get install dataset-fashion-mnist" in capsys.readouterr().err


def test_out_dir_that_is_a_file(train_script, tiny_args, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert train_script.main(tiny_args[:-1] + [str(blocker / "run")]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_help_explains_every_flag(train_script, capsys):
    with pytest.raises(SystemExit):
        train_script.main(["--help"])
    text = capsys.readouterr().out
    for flag in ("--norm", "--placement", "--activation", "--hidden", "--arch", "--groups", "--batch-size", "--epochs",
                 "--lr", "--optimizer", "--init", "--seed", "--data", "--data-dir", "--out", "--accelerator", "--devices"):
        assert flag in text


def test_epoch_seconds_exclude_validation(train_script, tiny_args, tmp_path, monkeypatch):
    """epochs.csv's ``seconds`` time the training steps only, not the validation after them."""
    import csv
    import time

    from lightning_mods.module import NormClassifier

    original = NormClassifier.validation_step

    def slow_validation(self, batch, batch_idx):
        time.sleep(3.0)
        return original(self, batch, batch_idx)

    monkeypatch.setattr(NormClassifier, "validation_step", slow_validation)
    assert train_script.main(tiny_args) == 0
    rows = list(csv.DictReader((tmp_path / "run" / "epochs.csv").open()))
    assert len(rows) == 1 and 0 < float(rows[0]["seconds"]) < 3.0


def test_summary_covers_every_epoch_when_the_best_is_an_earlier_one(train_script, tiny_args, tmp_path, monkeypatch):
    """Testing the best checkpoint must not roll the summary back to that checkpoint's epoch."""
    import json

    import lightning_mods.training as training
    from lightning_mods.run_folder import RunFolderCheckpoint

    class WorstIsBest(RunFolderCheckpoint):
        def __init__(self, **kwargs):
            super().__init__(**{**kwargs, "mode": "max"})  # the highest val loss: an early epoch

    monkeypatch.setattr(training, "RunFolderCheckpoint", WorstIsBest)
    assert train_script.main(tiny_args + ["--epochs", "3"]) == 0
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    rows = (tmp_path / "run" / "epochs.csv").read_text().strip().splitlines()
    assert summary["best_epoch"] < 3
    assert summary["epochs"] == 3 == len(rows) - 1
    assert summary["val_loss"] == float(rows[-1].split(",")[3])
