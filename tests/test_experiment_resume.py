"""scripts/experiment.py survives what train.py survives: finished runs kept on disk and reused, a kill -9
of the parent leaves no worker and loses only unfinished runs, Ctrl+C / SIGTERM stop in one line,
one experiment per --out, and report files written whole or not at all."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from experiments import report as report_module
from experiments.executors import PoolSettings
from experiments.run_store import RunStore
from experiments.runner import Runner, RunSpec, Settings
from lightning_mods import files
from lightning_mods import nets
from lightning_mods.run_lock import run_lock
from tests.conftest import ROOT, load_script

SMALL = ["--data", "synthetic", "--seeds", "2", "--epochs", "1", "--no-progress"]


def _spec(settings: Settings, **overrides) -> RunSpec:
    return RunSpec("bn", settings.config(0, 1, norm="bn", **overrides), train_steps=8)


def test_a_saved_run_restores_every_field_of_its_fit_and_a_changed_setting_is_a_new_run(tmp_path):
    settings = Settings(seeds=1, data="synthetic", progress=False, pool=PoolSettings(workers=1, threads=1))
    store = RunStore(tmp_path, threads=1)
    first = Runner(settings, store)
    [fit] = first.run_all([_spec(settings)], "t")
    assert first.trained == 1 and store.count() == 1
    again = Runner(settings, store)
    [kept] = again.run_all([_spec(settings)], "t")
    assert again.trained == 0  # nothing trained: the run came from <out>/runs
    assert (kept.history, kept.checks, kept.step_losses, kept.seconds, kept.landscape, kept.diverged) == \
        (fit.history, fit.checks, fit.step_losses, fit.seconds, fit.landscape, fit.diverged)
    state, kept_state = fit.model.state_dict(), kept.model.state_dict()
    assert state.keys() == kept_state.keys()
    assert all(torch.equal(state[k], kept_state[k]) for k in state)
    assert not kept.model.training
    # a changed setting (lr, the bound on steps, the threads) is not a stale hit
    assert store.load(_spec(settings, lr=0.02).key()) is None
    assert store.load(replace(_spec(settings), train_steps=16).key()) is None
    assert RunStore(tmp_path, threads=2).load(_spec(settings).key()) is None


def test_a_damaged_saved_run_is_trained_again(tmp_path, capsys):
    settings = Settings(seeds=1, data="synthetic", progress=False, pool=PoolSettings(workers=1, threads=1))
    store = RunStore(tmp_path, threads=1)
    Runner(settings, store).run_all([_spec(settings)], "t")
    store.path(_spec(settings).key()).write_bytes(b"not a torch file")
    runner = Runner(settings, store)
    runner.run_all([_spec(settings)], "t")
    assert runner.trained == 1 and "cannot be read" in capsys.readouterr().err


def _old_report(tmp_path) -> tuple[report_module.Report, dict[str, bytes]]:
    rep = report_module.Report("exx", "old", ["a"], [["1"]], "p", {"x": 1})
    folder = report_module.write(rep, tmp_path)
    return rep, {p.name: p.read_bytes() for p in folder.iterdir()}


def test_a_failed_report_write_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    rep, before = _old_report(tmp_path)
    calls = {"n": 0}
    real_fsync = os.fsync

    def full_disk_on_second_file(fd):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(files.os, "fsync", full_disk_on_second_file)
    with pytest.raises(OSError) as failed:
        report_module.write(replace(rep, title="new", results={"x": 2}), tmp_path)
    assert failed.value.errno == errno.ENOSPC and failed.value.filename.endswith("results.json")
    folder = tmp_path / "exx"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # no new file, no temporary left


def test_a_failed_write_in_the_script_is_one_line(tmp_path, monkeypatch, capsys):
    experiment = load_script("experiment")

    def full_disk(*args):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "ex2" / "results.json"))
        yield

    monkeypatch.setattr(experiment, "run_experiments", full_disk)
    assert experiment.main(["ex2", *SMALL, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: writing") and "run the same command again" in err


def test_one_experiment_per_out_folder(tmp_path, capsys):
    experiment = load_script("experiment")
    with run_lock(tmp_path):
        assert experiment.main(["ex2", *SMALL, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "in use by another run" in err


def _children(pid: int) -> set[int]:
    """Every live process whose parent is ``pid`` (Linux /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive


def _start(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "experiment.py"), "ex2", *SMALL, "--workers", "2",
                             "--threads", "1", "--out", str(out), *extra], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for_saved_runs(out: Path, process: subprocess.Popen, count: int = 1) -> set[int]:
    """Wait until ``count`` runs are saved; return the workers running then."""
    deadline = time.monotonic() + 240
    while len(list((out / "runs").glob("*.pt"))) < count:
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    workers = _children(process.pid)
    assert workers
    return workers


def _gone_within(pids: set[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return not _alive(pids)


def _numbers(out: Path) -> dict:
    """results.json without its wall-clock fields (seconds, and the claims made from them)."""
    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "second" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value if not (isinstance(v, dict) and "second" in str(v.get("key", "")))]
        return value
    return strip(json.loads((out / "ex2" / "results.json").read_text()))


@pytest.mark.slow
def test_kill_9_of_the_parent_leaves_no_worker_and_a_rerun_gives_the_uninterrupted_reports(tmp_path):
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    assert _start(whole).wait(timeout=300) == 0
    process = _start(stopped)
    workers = _wait_for_saved_runs(stopped, process)
    process.kill()
    process.wait()
    assert _gone_within(workers, 5), "a worker outlived its killed parent"
    kept = len(list((stopped / "runs").glob("*.pt")))
    assert 1 <= kept < 12
    rerun = _start(stopped)
    assert rerun.wait(timeout=300) == 0, rerun.stderr.read()
    assert _numbers(stopped) == _numbers(whole)
    assert len(list((stopped / "runs").glob("*.pt"))) == 12
    saved = {p.name for p in (whole / "runs").glob("*.pt")}
    assert saved == {p.name for p in (stopped / "runs").glob("*.pt")}


@pytest.mark.slow
@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_and_sigterm_stop_the_workers_in_one_line(tmp_path, signum, code):
    process = _start(tmp_path)
    workers = _wait_for_saved_runs(tmp_path, process)
    process.send_signal(signum)
    returncode = process.wait(timeout=30)
    err = process.stderr.read()
    assert returncode == code, err
    last = err.strip().splitlines()[-1]
    assert "Traceback" not in err, err
    assert last.startswith(f"stopped: {signal.Signals(signum).name}: ") and "finished run(s) kept in" in last
    assert "continue with: python scripts/experiment.py ex2" in last
    assert _gone_within(workers, 5)


def test_a_new_net_revision_is_a_new_run_and_leaves_the_other_archs_keys_alone(monkeypatch):
    settings = Settings(seeds=1, data="synthetic", progress=False, pool=PoolSettings(workers=1, threads=1))
    mlp, cnn = _spec(settings), _spec(settings, arch="cnn")
    before = mlp.key(), cnn.key()
    assert "net_revision" not in before[0]  # revision 1: the keys runs were saved under before revisions existed
    monkeypatch.setitem(nets.NET_REVISIONS, "cnn", nets.net_revision("cnn") + 1)
    assert mlp.key() == before[0]
    assert cnn.key() != before[1]
