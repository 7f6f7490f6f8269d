"""A stop signal that lands inside library code still stops an experiment in one line, and a run
being saved when it comes is saved whole first (experiments/stopping.py)."""

from __future__ import annotations

import io
import os
import signal
import time

import pytest
import torch

from experiments.run_store import RunStore
from experiments.stopping import Stopped, stop_on_signals, uninterrupted
from tests.conftest import load_script


class SignalMidWrite(io.BytesIO):
    """A file that receives SIGTERM in the middle of torch.save (its 3rd write, inside a record):
    the handler's exception lands inside torch's zip writer, which raises its own RuntimeError."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data) -> int:
        self.writes += 1
        if self.writes == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return super().write(data)


def _state() -> dict:
    return {"weights": torch.randn(64, 64), "history": [{"val/acc": 0.5}] * 50}


def test_a_signal_inside_torch_save_stops_with_the_signal_whatever_torch_raises():
    # torch's zip writer may replace the handler's exception with its own RuntimeError: still a stop
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with pytest.raises(Stopped) as stop, stop_on_signals():
        torch.save(_state(), SignalMidWrite())
    assert stop.value.exit_code == 143
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before  # the previous handlers are back


def test_a_run_being_saved_when_the_signal_comes_is_saved_whole_then_stops(tmp_path):
    store = RunStore(tmp_path, threads=1)
    written = []
    with pytest.raises(Stopped) as stop, stop_on_signals():
        with uninterrupted():
            os.kill(os.getpid(), signal.SIGINT)
            store.save("run", _state())
            written.append(True)  # the block went on after the signal
        written.append(False)  # never reached: the stop comes when the block ends
    assert written == [True] and stop.value.exit_code == 130
    kept = store.load("run")
    assert kept is not None and kept["weights"].shape == (64, 64)


def test_without_a_signal_errors_pass_through_and_uninterrupted_holds_only_its_block():
    with pytest.raises(ValueError), stop_on_signals():
        raise ValueError("a real error")
    reached = []
    with pytest.raises(Stopped), stop_on_signals():
        with uninterrupted():
            pass  # no signal: the block ends as it would without the guard
        os.kill(os.getpid(), signal.SIGTERM)  # after the block: the stop comes at once
        for _ in range(1000):
            time.sleep(0.001)
        reached.append(True)
    assert not reached


def test_a_second_signal_while_stopping_changes_nothing():
    with pytest.raises(Stopped) as stop, stop_on_signals():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Stopped:
            os.kill(os.getpid(), signal.SIGINT)  # ignored: the first signal decides
            raise
    assert stop.value.exit_code == 143


def test_sigterm_while_the_experiment_saves_a_run_keeps_it_and_stops_in_one_line(tmp_path, monkeypatch, capsys):
    save = RunStore.save

    def save_under_sigterm(self, key, result):
        os.kill(os.getpid(), signal.SIGTERM)
        save(self, key, result)

    monkeypatch.setattr(RunStore, "save", save_under_sigterm)
    experiment = load_script("experiment")
    code = experiment.main(["ex2", "--data", "synthetic", "--seeds", "1", "--epochs", "1", "--no-progress",
                            "--workers", "1", "--threads", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 143, err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("stopped: SIGTERM: 1 finished run(s) kept in ")
    [saved] = (tmp_path / "runs").glob("*.pt")
    assert torch.load(saved, weights_only=True)["result"]["history"]  # whole: it reads back
