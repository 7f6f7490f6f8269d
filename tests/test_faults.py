"""Real faults, injected into scripts/train.py in a child process (tests/fault_child.py): a disk that
fills, a kill -9 during a checkpoint write and at random moments, two runs on one --out. Each ends
with one line (or nothing, for kill -9), a whole last checkpoint, and a --resume that gives bitwise
the weights of an uninterrupted run."""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.run_lock import run_lock

ROOT = Path(__file__).resolve().parents[1]
CHILD = ROOT / "tests" / "fault_child.py"
EPOCHS = 3
ARGS = ["--data", "synthetic", "--hidden", "32", "16", "--batch-size", "128", "--optimizer", "adam",
        "--accelerator", "cpu", "--devices", "1", "--no-progress", "--epochs", str(EPOCHS)]  # 16 steps per epoch
DEADLINE = 600  # seconds a child may take to reach its fault on a very busy machine (seconds when idle)


def weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def weights_step(out: Path) -> int:
    return torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]


def assert_same_weights(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    assert not [k for k in a if not torch.equal(a[k], b[k])], "weights differ (tolerance 0)"


def leftovers(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if ".tmp-" in p.name)


@pytest.fixture(scope="module")
def train():
    """scripts/train.py as a module, shared by the module's tests."""
    spec = importlib.util.spec_from_file_location("scripts_train_faults", ROOT / "scripts" / "train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference(train, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "run"
    assert train.main(ARGS + ["--out", str(out)]) == 0
    return out


STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def no_child_left():
    """A failed test kills the children it started."""
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
            process.communicate()


def child(mode: str, marker: Path, param, argv: list[str]) -> subprocess.Popen:
    # As many threads as this process: bitwise equality with the in-process reference depends on it.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(torch.get_num_threads())}
    process = subprocess.Popen([sys.executable, str(CHILD), mode, str(marker), str(param), "--", *argv], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    STARTED.append(process)
    return process


def wait_for(path: Path, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + DEADLINE
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    if not path.exists():
        process.kill()
        pytest.fail(f"the child never reached the fault: {process.communicate()[1][-3000:]}")


def one_error_line(process: subprocess.Popen) -> str:
    _, err = process.communicate(timeout=DEADLINE)
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert process.returncode == EXIT_USAGE and len(errors) == 1 and "Traceback" not in err, err[-3000:]
    return errors[0]


def test_disk_filling_during_a_checkpoint_stops_with_one_line_and_resumes(train, reference, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "filled"
    # After epoch 1's last.ckpt (~330 kB) no file may grow past 16 kB: the CSV logs still fit, epoch 2's checkpoint not.
    line = one_error_line(child("fill", marker, 16_000, ARGS + ["--out", str(out)]))
    last = out / "checkpoints" / "last.ckpt"
    assert "checkpoints/" in line and ".ckpt failed (File too large)" in line
    assert f"the last good checkpoint {last} (epoch 1, step 16) is intact" in line
    assert "free space" in line and f"python scripts/train.py --resume --out {out}" in line
    assert torch.load(last, weights_only=True)["epoch"] == 0 and not leftovers(out)
    assert train.main(["--resume", "--out", str(out)]) == 0
    assert_same_weights(weights(out), weights(reference))


def test_disk_full_at_the_end_stops_with_one_line_and_resume_finishes(train, reference, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "filled"
    line = one_error_line(child("fill-at-test", marker, 0, ARGS + ["--out", str(out)]))  # no file may grow at all
    assert "failed (File too large)" in line and f"(epoch {EPOCHS}, step {16 * EPOCHS}) is intact" in line
    assert not (out / "summary.json").exists() and not leftovers(out)
    assert train.main(["--resume", "--out", str(out)]) == 0  # nothing left to train: tests, writes the summary
    assert (out / "summary.json").is_file()
    assert_same_weights(weights(out), weights(reference))


def test_kill_9_during_a_checkpoint_write_keeps_the_old_checkpoint(train, reference, tmp_path):
    out, marker = tmp_path / "run", tmp_path / "writing"
    process = child("hang-at-replace", marker, 2, ARGS + ["--out", str(out)])  # epoch 2's last.ckpt
    wait_for(marker, process)
    process.kill()
    process.communicate(timeout=60)
    assert process.returncode == -signal.SIGKILL
    temp = out / "checkpoints" / f"last.ckpt.tmp-{process.pid}"
    assert leftovers(out) == [temp]  # the new checkpoint, written but never put in place
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["epoch"] == 0  # the old one, whole
    assert train.main(["--resume", "--out", str(out)]) == 0
    assert not leftovers(out)  # removed when the run resumed
    assert_same_weights(weights(out), weights(reference))


def test_kill_9_at_three_random_moments_then_resume_equals_uninterrupted_run(train, reference, tmp_path):
    out, rng = tmp_path / "run", random.Random()
    moments = []
    for kill in range(3):
        marker = tmp_path / f"training-{kill}"
        started = (out / "checkpoints" / "last.ckpt").is_file()
        if started and weights_step(out) == 16 * EPOCHS:
            break  # the last kill came after training's end (testing, the summary): no training left to kill
        # Each optimizer step sleeps 20 ms: 3 epochs of 16 steps take ~1 s, and the kill lands anywhere in
        # them (a step, validation, a checkpoint or CSV write); before the first checkpoint: start again.
        argv = ["--resume", "--out", str(out)] if started else ARGS + ["--overwrite", "--out", str(out)]
        process = child("slow", marker, 0.02, argv)
        wait_for(marker, process)
        moments.append(round(rng.uniform(0.0, 1.2), 3))
        time.sleep(moments[-1])
        process.kill()
        _, err = process.communicate(timeout=60)
        assert process.returncode in (-signal.SIGKILL, 0), f"kill after {moments} s: {err[-3000:]}"
    argv = ["--resume"] if (out / "checkpoints" / "last.ckpt").is_file() else ARGS + ["--overwrite"]
    assert train.main(argv + ["--out", str(out)]) == 0, f"kills {moments} s after training began"
    assert_same_weights(weights(out), weights(reference))
    assert not leftovers(out)


def test_two_runs_started_at_once_on_one_out(tmp_path):
    out, release = tmp_path / "run", tmp_path / "release"
    markers = [tmp_path / "holds-0", tmp_path / "holds-1"]
    runs = [child("hold-lock", marker, release, ARGS + ["--epochs", "1", "--out", str(out)]) for marker in markers]
    deadline = time.monotonic() + DEADLINE
    while all(run.poll() is None for run in runs) and time.monotonic() < deadline:
        time.sleep(0.01)  # one holds the lock and waits; the other must be refused at once
    refused = next(i for i, run in enumerate(runs) if run.poll() is not None)
    holder = 1 - refused
    line = one_error_line(runs[refused])
    assert line == (f"error: --out {out} is in use by another run (pid {runs[holder].pid}); wait for it to end "
                    "(or stop it), or choose another --out")
    assert markers[holder].exists() and not markers[refused].exists()
    release.touch()
    _, err = runs[holder].communicate(timeout=DEADLINE)
    assert runs[holder].returncode == 0, err[-3000:]


def test_lock_is_exclusive_and_released(tmp_path):
    with run_lock(tmp_path):
        assert (tmp_path / ".lock").read_text() == f"{os.getpid()}\n"
        with pytest.raises(UsageError, match=rf"is in use by another run \(pid {os.getpid()}\)"):
            with run_lock(tmp_path):  # a second open file: flock refuses it even in one process
                pass
    with run_lock(tmp_path):  # released on exit
        pass


@pytest.mark.parametrize("code, fix", [(28, "free space on that disk"), (30, "make {out} writable"), (5, "check the disk")])
def test_write_failure_says_what_to_do(tmp_path, code, fix):
    """ENOSPC, EROFS, EIO: the advice fits the fault (a read-only remount cannot be staged while the run
    holds its lock file open, so this is checked on the message alone)."""
    from lightning_mods.resume import write_failed

    line = str(write_failed(OSError(code, os.strerror(code), str(tmp_path / "epochs.csv")), tmp_path))
    assert line.startswith(f"writing {tmp_path / 'epochs.csv'} failed ({os.strerror(code)})")
    assert fix.format(out=tmp_path) in line and "no checkpoint had been saved yet" in line and "--overwrite" in line
