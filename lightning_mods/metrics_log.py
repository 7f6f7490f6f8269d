"""Lightning's ``lightning_logs/metrics.csv`` kept whole across kills and resumes: each epoch once.

Lightning's CSV logger holds rows in memory and writes them every 100 logging calls, so a killed
run lost the rows it had not written; and a resumed run starts again after its checkpoint, so rows
written after that checkpoint (a validation of the epoch the kill interrupted) came twice. Here the
logger writes at every logging call (metrics are logged once per epoch and stage: cheap), and a
resumed run's log is cut back to what its checkpoint holds: the training and validation rows up to
the checkpoint's logging step (a test row goes: the resumed run tests again). The one row a kill can still lose is the last epoch's training row, which Lightning logs just
after the epoch-end checkpoint is written; it is put back from the checkpoint's ``EpochHistory``
rows, which hold the same values (``train/loss``, ``train/acc``).
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

TRAIN_METRICS = ("train/loss", "train/acc")


def csv_logger(out_dir: Path) -> CSVLogger:
    """The run's CSV logger: ``<out>/lightning_logs/metrics.csv``, written at every logging call."""
    return CSVLogger(save_dir=str(out_dir), name="lightning_logs", version="", flush_logs_every_n_steps=1)


def logging_step(checkpoint: dict) -> int:
    """The ``step`` of the last rows Lightning logged before the checkpoint: training batches that
    stepped, minus one (the step column counts from 0)."""
    return int(checkpoint["loops"]["fit_loop"]["epoch_loop.state_dict"]["_batches_that_stepped"]) - 1


def history_rows(checkpoint: dict) -> list[dict]:
    """``EpochHistory``'s rows (one per finished epoch) as the checkpoint holds them."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if key.startswith("EpochHistory"):
            return list(state.get("rows", []))
    return []


def _fit_row(row: dict) -> bool:
    """A row of training or validation metrics (a finished run's test row goes: the resumed run tests again)."""
    return any(value != "" for name, value in row.items() if name.startswith(("train/", "val/")))


def resumed_rows(text: str, checkpoint: dict) -> str:
    """metrics.csv's text cut back to ``checkpoint``: rows logged at or before its step, plus the
    last finished epoch's training row when the kill came before it was written.

    >>> ckpt = {"epoch": 0, "loops": {"fit_loop": {"epoch_loop.state_dict": {"_batches_that_stepped": 4}}},
    ...         "callbacks": {"EpochHistory": {"rows": [{"epoch": 1, "train/loss": 0.5, "train/acc": 0.75}]}}}
    >>> text = "epoch,step,train/acc,train/loss,val/acc,val/loss\\n0,3,,,0.7,0.6\\n1,7,,,0.8,0.4\\n"
    >>> print(resumed_rows(text, ckpt), end="")
    epoch,step,train/acc,train/loss,val/acc,val/loss
    0,3,,,0.7,0.6
    0,3,0.75,0.5,,
    """
    reader = csv.DictReader(io.StringIO(text))
    columns = list(reader.fieldnames or [])
    step = logging_step(checkpoint)
    kept = [row for row in reader if row.get("step", "") != "" and int(row["step"]) <= step and _fit_row(row)]
    finished = history_rows(checkpoint)
    epoch = int(checkpoint["epoch"])
    if finished and int(finished[-1]["epoch"]) == epoch + 1 and all(name in columns for name in TRAIN_METRICS):
        if not any(int(row["epoch"]) == epoch and row.get(TRAIN_METRICS[0], "") != "" for row in kept):
            at = [row["step"] for row in kept if int(row["epoch"]) == epoch]
            row = {name: "" for name in columns}
            row.update(epoch=str(epoch), step=at[-1] if at else str(step))
            row.update({name: repr(float(finished[-1][name])) for name in TRAIN_METRICS
                        if not math.isnan(float(finished[-1][name]))})
            kept.append(row)
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(kept)
    return out.getvalue()


def keep_metrics_csv(trainer: L.Trainer, ckpt_path: Path | None) -> None:
    """Lightning's CSV logger deletes an existing metrics.csv when it starts (and warns that it
    will): put a resumed run's rows back, cut to its checkpoint, so its log continues with each
    epoch once."""
    for logger in trainer.loggers:
        if not isinstance(logger, CSVLogger):
            continue
        metrics = Path(logger.log_dir) / "metrics.csv"
        text = metrics.read_text() if metrics.is_file() else ""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Experiment logs directory")
            writer = logger.experiment  # creating the writer is what deletes the file
        if text and ckpt_path is not None and trainer.is_global_zero:
            checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
            text = resumed_rows(text, checkpoint)
            metrics.write_text(text)
            writer.metrics_keys = sorted(text.splitlines()[0].split(","))  # appended rows keep every column
