"""The speed changes keep training's meaning: epoch metrics from running sums, the no-op profiler."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.nn import functional as F

from lightning_mods.config import TrainConfig
from lightning_mods.history import EpochHistory
from lightning_mods.training import NoProfiler, make_trainer, prepare


class StepRecorder:
    """Wraps ``model.minibatch_loss`` (every optimizer step computes its loss there, with or
    without Lightning's per-step hooks): recomputes each step's loss and correct count with the
    weights that step uses, per epoch."""

    def __init__(self, model) -> None:
        self.epochs: list[list[tuple[float, int, int]]] = []
        self.model, self.minibatch_loss = model, model.minibatch_loss
        model.minibatch_loss = self.record

    def record(self, minibatch):
        x, y = minibatch
        with torch.no_grad():  # LN: no batch statistics to disturb, so the same logits as the step
            logits = self.model(x)
        self.epochs[-1].append((F.cross_entropy(logits, y).item(), int((logits.argmax(1) == y).sum()), len(y)))
        return self.minibatch_loss(minibatch)


class EpochMarks(L.Callback):
    def __init__(self, recorder: StepRecorder) -> None:
        self.recorder = recorder

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.recorder.epochs.append([])


@pytest.mark.parametrize("batch_size", [64, 300])  # 300: a short last batch (2,000 = 6 * 300 + 200)
@pytest.mark.parametrize("steps", [None, 3])  # 16 (automatic) or 3 optimizer steps per training batch
def test_epoch_metrics_are_sample_weighted_means_of_the_steps(tmp_path, batch_size, steps):
    config = TrainConfig(data="synthetic", norm="ln", hidden=[32, 16], batch_size=batch_size, epochs=2,
                         steps_per_execution=steps, accelerator="cpu", devices="1", progress=False, out=str(tmp_path))
    model, datamodule = prepare(config)
    history, recorder = EpochHistory(), StepRecorder(model)
    trainer = make_trainer(config, tmp_path, history)
    trainer.callbacks.append(EpochMarks(recorder))
    trainer.fit(model, datamodule=datamodule)
    assert len(history.rows) == 2
    assert trainer.global_step == 2 * len(recorder.epochs[0]) == 2 * -(-2_000 // batch_size)  # one step per minibatch
    for row, batches in zip(history.rows, recorder.epochs):
        seen = sum(n for _, _, n in batches)
        assert seen == 2_000
        assert row["train/loss"] == pytest.approx(sum(loss * n for loss, _, n in batches) / seen, rel=1e-5)
        assert row["train/acc"] == pytest.approx(sum(c for _, c, _ in batches) / seen, abs=1e-6)
    assert model.train_seen == 0 and not model.train_loss_sum and not model.train_correct  # reset for the next epoch


@pytest.mark.parametrize("norm", ["bn", "ln"])
def test_grouping_steps_changes_no_number(tmp_path, norm):
    """steps_per_execution 1, 5 and automatic (16) train to the same weights and metrics, bit for bit."""
    results = []
    for steps in (1, 5, None):
        config = TrainConfig(data="synthetic", norm=norm, hidden=[32, 16], batch_size=64, epochs=2, steps_per_execution=steps,
                             accelerator="cpu", devices="1", progress=False, out=str(tmp_path / str(steps)))
        model, datamodule = prepare(config)
        history = EpochHistory()
        trainer = make_trainer(config, tmp_path / str(steps), history)
        trainer.fit(model, datamodule=datamodule)
        assert trainer.global_step == 2 * 32  # 2,000 / 64: 31 minibatches of 64 and one of 16
        rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]
        results.append((rows, model.state_dict()))
    (rows, weights), others = results[0], results[1:]
    for other_rows, other_weights in others:
        assert other_rows == rows
        assert all(torch.equal(weights[k], other_weights[k]) for k in weights)


def test_no_profiler_is_a_reusable_no_op_context():
    profiler = NoProfiler()
    with profiler.profile("a"), profiler.profile("a"):  # nested and reused: nothing happens
        value = 1
    assert value == 1 and profiler.summary() == ""
