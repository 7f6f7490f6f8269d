"""Guards that keep a run from giving a silent wrong answer: warnings for doubtful settings,
and a stop at the first non-finite training loss."""

from __future__ import annotations

import sys
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.utilities.rank_zero import rank_zero_only

from lightning_mods.errors import UsageError
from lightning_mods.resume import last_good


def warn(message: str) -> None:
    """One ``warning: ...`` line on stderr (rank 0 only): a setting that runs, but deserves a look."""
    if rank_zero_only.rank == 0:
        print(f"warning: {message}", file=sys.stderr, flush=True)


def warn_doubtful(config, datamodule) -> None:
    """Say once, before training, what the run does about settings the lesson warns of."""
    if config.arch == "lstm" and config.norm == "bn":
        warn("--arch lstm with --norm bn: BatchNorm's statistics are taken over the batch AND the 28 time steps, "
             "so they change with sequence length and batch (the lesson's \"BN in an RNN\" error); "
             "training goes on, but --norm ln is the usual choice for recurrent nets")
    if datamodule.drop_last_train:
        warn(f"--batch-size {config.batch_size} leaves a last training batch of 1 sample, which BatchNorm cannot "
             "train on; that sample is dropped every epoch (pick a --batch-size that does not leave 1 to keep it)")


class NonFiniteLoss(UsageError):
    """The training loss became NaN or infinite; the run stopped before saving the diverged net."""


class FiniteLossCheck(L.Callback):
    """Stops training at the first non-finite training loss, before validation or a checkpoint
    can record the diverged net (so ``last.ckpt`` stays the last good one).

    Every optimizer step's loss is checked, and the message names the first bad one. On the CPU
    they are checked after each training batch (its ``steps_per_execution`` steps; reading CPU
    scalars costs nothing). On an accelerator they are kept on the device and checked together
    every ``every`` steps and at the last batch of each epoch (before validation and the epoch's
    checkpoint): one sync per check.
    ``every_step`` forces one way or the other (``None``: by device).
    """

    def __init__(self, checkpoint: Path, every: int = 50, every_step: bool | None = None) -> None:
        self.checkpoint, self.every, self.every_step = checkpoint, every, every_step
        self._pending: list[tuple[torch.Tensor, list[tuple[int, int, int]]]] = []  # (losses, [(step, epoch, batch)])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        losses = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if losses is None:
            return
        losses = losses.detach().reshape(-1)  # one per optimizer step of this training step (steps_per_execution)
        # Every training batch before the epoch's last holds the same number of steps.
        per_batch = getattr(getattr(trainer, "datamodule", None), "steps_per_execution", 1)
        first_step, first_batch = trainer.global_step - len(losses) + 1, batch_idx * per_batch + 1
        where = [(first_step + i, trainer.current_epoch, first_batch + i) for i in range(len(losses))]
        self._pending.append((losses, where))
        last_batch = batch_idx + 1 >= trainer.num_training_batches
        every_step = losses.device.type == "cpu" if self.every_step is None else self.every_step
        if every_step or last_batch or sum(len(w) for _, w in self._pending) >= self.every:
            losses = torch.cat([loss for loss, _ in self._pending])
            where = [w for _, ws in self._pending for w in ws]
            self._pending = []
            finite = torch.isfinite(losses).tolist()  # the one host-device sync
            everywhere = all(finite)
            if trainer.world_size > 1:  # DDP: every process checks at the same steps; all stop together
                everywhere = trainer.strategy.reduce_boolean_decision(all(finite), all=True)
            if not all(finite):
                first = finite.index(False)
                self._stop(float(losses[first]), *where[first])
            if not everywhere:
                self._stop(float("nan"), *where[-1], elsewhere=True)

    def _stop(self, value: float, step: int, epoch: int, batch: int, elsewhere: bool = False) -> None:
        good = last_good(self.checkpoint)
        kept = "no checkpoint had been saved yet" if good is None else f"{good} is kept"
        loss = "non-finite on another process by" if elsewhere else "NaN at" if value != value else f"{value} at"
        raise NonFiniteLoss(
            f"the training loss became {loss} epoch {epoch + 1}, step {step} (batch {batch} of the epoch); "
            f"training stopped and {kept}; lower --lr and start again with --overwrite"
        )
