"""Lightning's metrics.csv after kills and resumes holds each epoch once, exactly as an
uninterrupted run's (issue 29): rows are written as they are logged, a resumed log is cut back to
its checkpoint, and the training row a kill can still lose is put back from the checkpoint."""

from __future__ import annotations

import csv
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--data", "synthetic", "--hidden", "32", "16", "--batch-size", "128", "--optimizer", "adam",
        "--accelerator", "cpu", "--devices", "1", "--no-progress"]  # 16 steps per epoch, one training batch
EPOCHS = 3
PAUSE_AT = 20  # the 5th step of epoch 2

# The child: the real script, stopped for the SIGKILL at a chosen moment, on any machine, busy or not:
# mid-epoch 2 (a training step), just before epoch 2's checkpoint (its validation row is logged), or
# just after it (before Lightning logs epoch 2's training row).
CHILD = """
import runpy, sys, time
from pathlib import Path
from lightning_mods.module import NormClassifier
from lightning_mods.run_folder import RunFolderCheckpoint

marker, where = Path(sys.argv[1]), sys.argv[2]

def wait():
    marker.touch()
    while True:
        time.sleep(0.01)

def patch(cls, name, when):
    original = getattr(cls, name)
    def hook(self, *args):
        trainer = args[0] if args else self.trainer  # a callback's hooks get the trainer, a module's have it
        if when == "before" and trainer.current_epoch == 1:
            wait()
        result = original(self, *args)
        if when == "after" and trainer.current_epoch == 1:
            wait()
        return result
    setattr(cls, name, hook)

if where == "mid-epoch":
    loss_of = NormClassifier.minibatch_loss
    def paused(self, minibatch):
        if self.global_step == %d:
            wait()
        return loss_of(self, minibatch)
    NormClassifier.minibatch_loss = paused
elif where == "before-checkpoint":
    patch(NormClassifier, "on_train_epoch_end", "before")
else:
    patch(RunFolderCheckpoint, "on_train_epoch_end", "after")
sys.argv = sys.argv[3:]
runpy.run_path(sys.argv[0], run_name="__main__")
""" % PAUSE_AT


def metrics(out: Path) -> list[dict]:
    with (out / "lightning_logs" / "metrics.csv").open() as handle:
        return list(csv.DictReader(handle))


def per_epoch(rows: list[dict]) -> dict[tuple[str, str], int]:
    """How many rows each (epoch, stage) has."""
    counts: dict[tuple[str, str], int] = {}
    for row in rows:
        for stage in ("train", "val"):
            if row.get(f"{stage}/loss"):
                counts[row["epoch"], stage] = counts.get((row["epoch"], stage), 0) + 1
    return counts


@pytest.fixture(scope="module")
def train():
    spec = importlib.util.spec_from_file_location("scripts_train_metrics_log", ROOT / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(train, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert train.main(ARGS + ["--epochs", str(EPOCHS), "--out", str(out)]) == 0
    assert per_epoch(metrics(out)) == {(str(e), s): 1 for e in range(EPOCHS) for s in ("train", "val")}
    return out


# What a kill there leaves on disk: epoch 1's rows; epoch 2's validation row too before its checkpoint
# (the resumed run validates epoch 2 again); after the checkpoint, epoch 2's validation row without its
# training row (the resumed run does not train epoch 2 again).
ON_DISK = {
    "mid-epoch": {("0", "train"): 1, ("0", "val"): 1},
    "before-checkpoint": {("0", "train"): 1, ("0", "val"): 1, ("1", "val"): 1},
    "after-checkpoint": {("0", "train"): 1, ("0", "val"): 1, ("1", "val"): 1},
}


@pytest.mark.parametrize("where", list(ON_DISK))
def test_sigkill_then_resume_logs_each_epoch_once(train, reference, tmp_path, where):
    out, marker = tmp_path / "run", tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    command = [sys.executable, "-c", CHILD, str(marker), where, str(ROOT / "scripts" / "train.py"), *ARGS,
               "--epochs", "50", "--out", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), f"the child never reached the pause: {process.stderr.read() if process.poll() is not None else ''}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert per_epoch(metrics(out)) == ON_DISK[where]  # written as logged: nothing waits in memory
    assert train.main(["--resume", "--epochs", str(EPOCHS), "--out", str(out)]) == 0
    assert metrics(out) == metrics(reference)  # every row once, every value bit for bit
