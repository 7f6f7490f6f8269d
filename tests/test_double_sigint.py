"""Two Ctrl+C within a millisecond: the run stops at once, exit 130, with its one "stopped:" line
(Lightning turns a KeyboardInterrupt into exit 1 with no message; the second Ctrl+C is not one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT
from tests.test_resume import ARGS

# The real script, paused mid-epoch until the first Ctrl+C has been handled (Lightning saw it as
# SIGTERM); it then says so and stays in the training step, where the second Ctrl+C lands. Two
# signals sent together are often merged into one by the kernel and Python: this makes the second
# one land, every time, while the first is being acted on.
CHILD = """
import runpy, sys, time
from pathlib import Path
import lightning_mods
from lightning_mods.module import NormClassifier

marker, loss_of = Path(sys.argv[1]), NormClassifier.minibatch_loss

def paused(self, minibatch):  # every optimizer step computes its loss here (step_group.py or not)
    if self.global_step == 6:
        marker.touch()
        while not self.trainer.received_sigterm:
            time.sleep(0.001)
        Path(str(marker) + ".first").touch()
        time.sleep(60)
    return loss_of(self, minibatch)

NormClassifier.minibatch_loss = paused
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def test_two_quick_sigints_exit_130_with_the_stopped_line(tmp_path):
    out, marker = tmp_path / "run", tmp_path / "paused"
    command = [sys.executable, "-c", CHILD, str(marker), str(ROOT / "scripts" / "train.py"), *ARGS,
               "--epochs", "50", "--steps-per-execution", "4", "--out", str(out)]
    process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGINT)
    first = marker.with_name(marker.name + ".first")
    while not first.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.0005)
    os.kill(process.pid, signal.SIGINT)  # within a millisecond of the first one's handling
    _, err = process.communicate(timeout=120)
    stopped = [line for line in err.splitlines() if line.startswith("stopped: ")]
    assert process.returncode == 130, err
    assert "Traceback" not in err, err
    assert len(stopped) == 1 and stopped[0].startswith("stopped: SIGINT: stopped"), err
    assert time.monotonic() < deadline
