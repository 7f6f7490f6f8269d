"""Per-epoch history: the metrics and wall seconds of every epoch, kept and written as CSV."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import lightning as L

METRICS = ("train/loss", "train/acc", "val/loss", "val/acc")


class EpochHistory(L.Callback):
    """Records one row per training epoch: ``epoch``, the four metrics, ``seconds``.

    ``seconds`` is the wall time of the epoch's training steps (validation excluded).
    Writes ``epochs.csv`` into ``csv_dir`` (on rank 0) after every epoch when given.
    """

    def __init__(self, csv_dir: Path | None = None) -> None:
        self.rows: list[dict] = []
        self.csv_dir = csv_dir
        self._start = 0.0
        self._train_seconds = 0.0

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._start = time.perf_counter()
        self._train_seconds = 0.0

    def on_validation_start(self, trainer, pl_module) -> None:
        # During fit, validation runs inside the training epoch: stop the training clock here.
        if not trainer.sanity_checking and trainer.state.fn == "fit" and not self._train_seconds:
            self._train_seconds = time.perf_counter() - self._start

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        seconds = self._train_seconds or time.perf_counter() - self._start
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        row.update({name: float(metrics[name]) if name in metrics else math.nan for name in METRICS})
        row["seconds"] = seconds
        self.rows.append(row)
        if self.csv_dir is not None and trainer.is_global_zero:
            self.write(self.csv_dir / "epochs.csv")

    def write(self, path: Path) -> None:
        with path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(self.rows[0]))
            writer.writeheader()
            writer.writerows(self.rows)

    def state_dict(self) -> dict:
        return {"rows": self.rows}

    def load_state_dict(self, state_dict: dict) -> None:
        self.rows = list(state_dict.get("rows", []))
        self._start = time.perf_counter()  # resumed mid-epoch: time the part run here


def epochs_to(rows: list[dict], metric: str, threshold: float, below: bool = True) -> int | None:
    """The first epoch whose ``metric`` crosses ``threshold`` (``None`` if none does).

    >>> epochs_to([{"epoch": 1, "val/loss": 0.5}, {"epoch": 2, "val/loss": 0.39}], "val/loss", 0.4)
    2
    """
    for row in rows:
        value = row.get(metric, math.nan)
        if (value < threshold) if below else (value >= threshold):
            return row["epoch"]
    return None
