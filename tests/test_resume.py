"""Interrupted runs resume with nothing lost: a run stopped at an epoch boundary, or killed
mid-epoch by SIGTERM or SIGINT, ends with exactly the weights of an uninterrupted run; an --out
that holds a run is never silently mixed with another."""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_mods.errors import EXIT_USAGE

ROOT = Path(__file__).resolve().parents[1]

EPOCHS = 3
ARGS = ["--data", "synthetic", "--hidden", "32", "16", "--batch-size", "128", "--optimizer", "adam",
        "--accelerator", "cpu", "--devices", "1", "--no-progress"]  # 16 steps per epoch


def rows(out, columns=None) -> list[dict]:
    with (out / "epochs.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "seconds" and (columns is None or k in columns)}
                for row in csv.DictReader(handle)]


def logged_rows(out) -> list[dict]:
    """Lightning's metrics.csv."""
    with (out / "lightning_logs" / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def weights(out) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"weights differ (tolerance 0): {different}"


@pytest.fixture(scope="module")
def train():
    """scripts/train.py as a module (conftest's ``train_script``, shared by the module's tests)."""
    spec = importlib.util.spec_from_file_location("scripts_train_resume", ROOT / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(train, tmp_path_factory):
    """An uninterrupted run of EPOCHS epochs."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert train.main(ARGS + ["--epochs", str(EPOCHS), "--out", str(out)]) == 0
    return out


def test_resume_at_epoch_boundary_equals_uninterrupted_run(train, reference, tmp_path):
    out = tmp_path / "run"
    assert train.main(ARGS + ["--epochs", "2", "--out", str(out)]) == 0
    logged = [row for row in logged_rows(out) if not row.get("test/loss")]  # a resumed run tests again
    assert train.main(["--resume", "--epochs", str(EPOCHS), "--out", str(out)]) == 0  # the saved settings
    assert rows(out) == rows(reference)  # every metric of every epoch, bit for bit
    assert_same_weights(weights(out), weights(reference))
    assert logged_rows(out)[: len(logged)] == logged  # continued


def test_rerun_from_saved_config_is_identical(train, reference, tmp_path):
    """The same settings and seed twice give the same metrics, bit for bit: config.yaml holds them all."""
    out = tmp_path / "rerun"
    assert train.main(["--config", str(reference / "config.yaml"), "--out", str(out)]) == 0
    assert rows(out) == rows(reference)
    assert_same_weights(weights(out), weights(reference))


# The child: the real script, whose training stands still at step PAUSE_AT (mid-epoch 2) until a
# signal arrives, so that the kill lands mid-epoch on any machine, busy or not. It groups 4 steps
# per training batch (the reference: 16), and Lightning stops after the batch: at step STOP_AT.
PAUSE_AT = 20  # 16 steps per epoch: the 5th step of epoch 2, in its 2nd batch of 4 steps
STOP_AT = 24
CHILD = """
import runpy, sys, time
from pathlib import Path
import lightning_mods
from lightning_mods.module import NormClassifier

marker, loss_of = Path(sys.argv[1]), NormClassifier.minibatch_loss

def paused(self, minibatch):  # every optimizer step computes its loss here (step_group.py or not)
    if self.global_step == %d:
        marker.touch()
        while not self.trainer.received_sigterm:  # SIGINT too: it is turned into SIGTERM
            time.sleep(0.01)
    return loss_of(self, minibatch)

NormClassifier.minibatch_loss = paused
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
""" % PAUSE_AT


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_killed_mid_epoch_resumes_to_the_same_weights(train, reference, tmp_path, signum, capsys):
    out, marker = tmp_path / "run", tmp_path / "paused"
    # The child computes with as many threads as this process (bitwise equality depends on it).
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    # Many epochs: it must be the signal that stops it. Resumed with --epochs EPOCHS, as the order of
    # epoch e depends on (seed, e) alone and nothing else depends on the epoch count.
    command = [sys.executable, "-c", CHILD, str(marker), str(ROOT / "scripts" / "train.py"), *ARGS,
               "--epochs", "50", "--steps-per-execution", "4", "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    name = signal.Signals(signum).name
    stopped = [line for line in err.splitlines() if line.startswith("stopped: ")]
    assert process.returncode == 128 + signum, err
    assert stopped == [f"stopped: {name}: stopped at epoch 2, step {STOP_AT} and saved "
                       f"{out / 'checkpoints' / 'last.ckpt'}; continue with: python scripts/train.py --resume --out {out}"]
    assert not (out / "summary.json").exists()
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == STOP_AT
    # Mid-epoch, Lightning counts the epoch's progress in training batches: their grouping must stay
    # (8 steps per batch); and 1 step per batch counts steps in Lightning's other loop. Both refused.
    for steps, said in (("8", "stopped mid-epoch with training batches of 512 samples"), ("1", "several optimizer")):
        capsys.readouterr()
        assert train.main(["--resume", "--steps-per-execution", steps, "--out", str(out)]) == EXIT_USAGE
        assert said in capsys.readouterr().err
    assert train.main(["--resume", "--epochs", str(EPOCHS), "--out", str(out)]) == 0
    assert_same_weights(weights(out), weights(reference))
    # Validation is exact too; the interrupted epoch's train/* average only the batches run after the resume.
    assert rows(out, {"epoch", "val/loss", "val/acc"}) == rows(reference, {"epoch", "val/loss", "val/acc"})


def refused(train, argv, capsys) -> str:
    code = train.main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == EXIT_USAGE and len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def snapshot(folder) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_out_holding_a_run_is_refused_unless_resume_or_overwrite(train, reference, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = snapshot(out)
    line = refused(train, ARGS + ["--epochs", "1", "--out", str(out)], capsys)
    assert "already holds a run" in line and "--resume" in line and "--overwrite" in line
    line = refused(train, ["--resume", "--lr", "0.5", "--out", str(out)], capsys)
    assert "--lr 0.5" in line and "differ" in line
    line = refused(train, ARGS + ["--resume", "--overwrite", "--out", str(out)], capsys)
    assert "pass only one" in line
    assert snapshot(out) == before  # nothing written by any refusal
    assert train.main(ARGS + ["--epochs", "1", "--overwrite", "--out", str(out)]) == 0
    assert [row["epoch"] for row in rows(out)] == ["1"]  # replaced, not mixed


def test_resume_without_a_checkpoint_is_refused(train, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no run" in refused(train, ARGS + ["--resume", "--out", str(empty)], capsys)
    started = tmp_path / "started"  # killed before its first checkpoint: a config and nothing else
    started.mkdir()
    (started / "config.yaml").write_text("data: synthetic\nhidden: [32, 16]\n")
    line = refused(train, ["--resume", "--out", str(started)], capsys)
    assert "last.ckpt does not exist" in line and "--overwrite" in line
