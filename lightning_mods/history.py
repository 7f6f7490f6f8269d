"""Per-epoch history: the metrics and wall seconds of every epoch, kept and written as CSV."""

from __future__ import annotations

import csv
import io
import math
import time
from pathlib import Path

import lightning as L

from lightning_mods.files import write_text_atomically

METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


class EpochHistory(L.Callback):
    """Records one row per training epoch: ``epoch``, the four metrics, ``seconds``.

    ``seconds`` is the wall time of the epoch's training steps (validation excluded, also when
    it runs several times within the epoch). Writes ``epochs.csv`` into ``csv_dir`` (on rank 0)
    after every epoch when given.
    """

    def __init__(self, csv_dir: Path | None = None) -> None:
        self.rows: list[dict] = []
        self.csv_dir = csv_dir
        self._start: float | None = None  # the training clock runs from here (None: stopped)
        self._train_seconds = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._train_seconds = 0.0

    def train_seconds(self) -> float:
        """Training wall seconds of the current epoch so far."""
        running = time.perf_counter() - self._start if self._start is not None else 0.0
        return self._train_seconds + running

    def on_validation_start(self, trainer, pl_module) -> None:
        # During fit, validation runs inside the training epoch: stop the training clock here.
        if not trainer.sanity_checking and trainer.state.fn == "fit" and self._start is not None:
            self._train_seconds = self.train_seconds()
            self._start = None

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking and trainer.state.fn == "fit" and self._start is None:
            self._start = time.perf_counter()  # training goes on in this epoch (or the epoch ends)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        seconds = self.train_seconds()
        self._start = None
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        row.update({name: float(metrics[name]) if name in metrics else math.nan for name in METRICS})
        row["seconds"] = seconds
        self.rows.append(row)
        if self.csv_dir is not None and trainer.is_global_zero:
            self.write(self.csv_dir / "epochs.csv")

    def write(self, path: Path) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=list(self.rows[0]))
        writer.writeheader()
        writer.writerows(self.rows)
        write_text_atomically(path, text.getvalue())

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict.get("rows", []))
        self._start = time.perf_counter()  # resumed mid-epoch: time the part run here


class ValCurve(L.Callback):
    """Records every validation of a fit, also those within an epoch (``val_check_interval``):
    ``epoch`` (optimizer steps so far / steps per epoch, e.g. 1.3), ``step``, ``seconds`` (training
    wall seconds so far, validation excluded, from ``history``) and the validation metrics."""

    def __init__(self, history: EpochHistory, steps_per_epoch: int) -> None:
        self.history, self.steps_per_epoch = history, steps_per_epoch
        self.rows: list[dict] = []

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        done = sum(row["seconds"] for row in self.history.rows)  # whole epochs before this one
        metrics = trainer.callback_metrics
        self.rows.append({"epoch": trainer.global_step / self.steps_per_epoch, "step": trainer.global_step,
                          "seconds": done + self.history.train_seconds(),
                          **{name: float(metrics[name]) for name in ("val/loss", "val/acc") if name in metrics}})


def first_crossing(rows: list[dict], metric: str, threshold: float, below: bool = True) -> dict | None:
    """The first row whose ``metric`` crosses ``threshold`` (``None`` if none does)."""
    for row in rows:
        value = row.get(metric, math.nan)
        if (value < threshold) if below else (value >= threshold):
            return row
    return None


def epochs_to(rows: list[dict], metric: str, threshold: float, below: bool = True) -> int | float | None:
    """The ``epoch`` of the first row whose ``metric`` crosses ``threshold`` (``None`` if none
    does); with ValCurve rows, a fraction of an epoch.

    >>> epochs_to([{"epoch": 1, "val/loss": 0.5}, {"epoch": 2, "val/loss": 0.39}], "val/loss", 0.4)
    2
    >>> epochs_to([{"epoch": 0.1, "val/loss": 0.9}, {"epoch": 0.2, "val/loss": 0.35}], "val/loss", 0.4)
    0.2
    """
    row = first_crossing(rows, metric, threshold, below)
    return None if row is None else row["epoch"]


def format_summary(summary: dict) -> str:
    """The one-screen summary printed at the end of a run."""
    reached = summary["epochs_to_val_loss_0.4"]
    lines = [
        f"run                 {summary['name']}  ->  {summary['out']}",
        f"epochs              {summary['epochs']}  ({summary['seconds_per_epoch']:.2f} s per epoch, median, training steps only)",
        f"val accuracy        {summary['val_acc']:.4f}  (last epoch; val loss {summary['val_loss']:.4f})",
        f"test accuracy       {summary['test_acc']:.4f}  (best checkpoint by val loss: epoch {summary['best_epoch']})",
        f"val loss < 0.4      {'after ' + str(reached) + ' epoch(s)' if reached else 'not reached'}",
    ]
    width = max(map(len, lines))
    return "\n".join(["=" * width, *lines, "=" * width])
