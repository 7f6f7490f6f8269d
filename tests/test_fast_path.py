"""The speed changes keep training's meaning: epoch metrics from running sums, the no-op profiler."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.nn import functional as F

from lightning_mods.config import TrainConfig
from lightning_mods.history import EpochHistory
from lightning_mods.training import NoProfiler, make_trainer, prepare


class BatchRecorder(L.Callback):
    """Recomputes every training batch's loss and correct count with the weights the step will use."""

    def __init__(self) -> None:
        self.epochs: list[list[tuple[float, int, int]]] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.epochs.append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        x, y = batch
        with torch.no_grad():  # LN: no batch statistics to disturb, so the same logits as the step
            logits = pl_module(x)
        self.epochs[-1].append((F.cross_entropy(logits, y).item(), int((logits.argmax(1) == y).sum()), len(y)))


@pytest.mark.parametrize("batch_size", [64, 300])  # 300: a short last batch (2,000 = 6 * 300 + 200)
def test_epoch_metrics_are_sample_weighted_means_of_the_steps(tmp_path, batch_size):
    config = TrainConfig(data="synthetic", norm="ln", hidden=[32, 16], batch_size=batch_size, epochs=2,
                         accelerator="cpu", devices="1", progress=False, out=str(tmp_path))
    model, datamodule = prepare(config)
    history, recorder = EpochHistory(), BatchRecorder()
    trainer = make_trainer(config, tmp_path, history)
    trainer.callbacks.append(recorder)
    trainer.fit(model, datamodule=datamodule)
    assert len(history.rows) == 2
    for row, batches in zip(history.rows, recorder.epochs):
        seen = sum(n for _, _, n in batches)
        assert seen == 2_000
        assert row["train/loss"] == pytest.approx(sum(loss * n for loss, _, n in batches) / seen, rel=1e-5)
        assert row["train/acc"] == pytest.approx(sum(c for _, c, _ in batches) / seen, abs=1e-6)
    assert model.train_seen == 0 and not model.train_sums.any()  # reset for the next epoch


def test_no_profiler_is_a_reusable_no_op_context():
    profiler = NoProfiler()
    with profiler.profile("a"), profiler.profile("a"):  # nested and reused: nothing happens
        value = 1
    assert value == 1 and profiler.summary() == ""
