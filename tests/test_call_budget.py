"""A guard on the training path's per-step cost that no machine's speed can hide: the number of
Python function calls per optimizer step (sys.setprofile's "call" events), counted over two whole
training batches of scripts/train.py's path on synthetic data after a warm-up batch. Adding work
to the hot path (a per-step hook, a per-sample generator, a wrapper) raises it on any machine."""

from __future__ import annotations

import collections
import sys

import lightning as L
import pytest

from lightning_mods.config import TrainConfig
from lightning_mods.history import EpochHistory
from lightning_mods.training import make_trainer, prepare

# The MLP with BatchNorm at batch 32, 16 steps per training batch (train.py's defaults): 238 calls per
# optimizer step after issue 30 (598 before: Lightning's per-step hooks, a per-sample sampler, the walk
# over each batch's minibatches to move them to where they already were), of which a plain torch loop
# over the same net takes 183. A little room for library patch releases.
BUDGET = 250
FIRST, LAST = 1, 3  # count training batches FIRST .. LAST - 1 of the first epoch (batch 0 warms up)


class CallCounter(L.Callback):
    """Counts Python calls (and C calls) from the start of batch FIRST to the start of batch LAST."""

    def __init__(self) -> None:
        self.events: collections.Counter = collections.Counter()
        self.steps = 0

    def _count(self, frame, event, arg) -> None:
        self.events[event] += 1

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.current_epoch:
            return
        if batch_idx == FIRST:
            self.first_step = trainer.global_step
            sys.setprofile(self._count)
        elif batch_idx == LAST:
            sys.setprofile(None)
            self.steps = trainer.global_step - self.first_step

    def per_step(self, event: str = "call") -> float:
        return self.events[event] / self.steps


def calls_per_step(tmp_path, norm: str = "bn", **settings) -> CallCounter:
    config = TrainConfig(data="synthetic", norm=norm, batch_size=32, epochs=1, accelerator="cpu", devices="1",
                         out=str(tmp_path), **settings)
    model, datamodule = prepare(config)
    trainer = make_trainer(config, tmp_path, EpochHistory(tmp_path))
    counter = CallCounter()
    trainer.callbacks.append(counter)
    try:
        trainer.fit(model, datamodule=datamodule)
    finally:
        sys.setprofile(None)
    return counter


def test_python_calls_per_optimizer_step_stay_within_budget(tmp_path):
    counter = calls_per_step(tmp_path)
    assert counter.steps == 2 * 16  # two whole training batches of 16 optimizer steps
    count = counter.per_step()
    assert count <= BUDGET, (
        f"the training path makes {count:.1f} Python calls per optimizer step, over the budget of {BUDGET} "
        f"(MLP, BN, batch 32, steps_per_execution 16): something was added to the hot path; find it with "
        f"cProfile (README, Performance) and remove it, or raise BUDGET in {__file__} if it is meant to be there")


def test_the_count_is_deterministic(tmp_path):
    """Two runs count the same calls: the guard measures work, not time."""
    first = calls_per_step(tmp_path / "a", norm="none", progress=False)
    second = calls_per_step(tmp_path / "b", norm="none", progress=False)
    assert first.events["call"] == second.events["call"] and first.steps == second.steps == 32


@pytest.mark.parametrize("steps", [1, 16])
def test_a_listener_to_per_step_hooks_still_hears_every_step(tmp_path, steps):
    """The per-step hooks are skipped only when nothing overrides them: a callback that does is
    called at every optimizer step, with one step per batch (automatic optimization) and with 16."""

    class Listener(L.Callback):
        def __init__(self) -> None:
            self.calls = collections.Counter()

        def on_before_backward(self, trainer, pl_module, loss) -> None:
            self.calls["backward"] += 1

        def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
            self.calls["step"] += 1

    config = TrainConfig(data="synthetic", norm="bn", hidden=[32, 16], batch_size=64, epochs=1, accelerator="cpu",
                         devices="1", progress=False, steps_per_execution=steps, out=str(tmp_path))
    model, datamodule = prepare(config)
    trainer = make_trainer(config, tmp_path, EpochHistory(tmp_path))
    listener = Listener()
    trainer.callbacks.append(listener)
    trainer.fit(model, datamodule=datamodule)
    assert model.step_group is None
    assert listener.calls == {"backward": 32, "step": 32} and trainer.global_step == 32  # 2,000 / 64
