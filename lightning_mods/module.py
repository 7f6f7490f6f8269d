"""The LightningModule: trains any of the nets with one shared step for train/val/test."""

from __future__ import annotations

import math
from dataclasses import asdict

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from lightning_mods.errors import UsageError
from lightning_mods.nets import NUM_CLASSES, NetConfig, build_net
from lightning_mods.step_group import (
    StepGroup,
    can_capture,
    hooks_are_idle,
    step_progress,
)

EVAL_STAGES = ("val", "test")  # training keeps its own running sums: see training_step
OPTIMIZERS = ("sgd", "adam", "nadam")
DEFAULT_LR = {"sgd": 0.01, "adam": 0.001, "nadam": 0.001}  # Keras's defaults ("sgd" is lr 0.01, no momentum)


def make_optimizer(name: str, params, lr: float | None) -> torch.optim.Optimizer:
    if name not in OPTIMIZERS:
        raise UsageError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    lr = DEFAULT_LR[name] if lr is None else lr
    if not (lr > 0 and math.isfinite(lr)):
        raise UsageError(f"--lr {lr} must be a positive finite number")
    # foreach=True: one multi-tensor update instead of a Python loop over the parameters (torch
    # turns it on by itself on CUDA only); the same arithmetic, a little less per-step overhead.
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, eps=1e-7, foreach=True)  # Keras's Adam epsilon
    return torch.optim.NAdam(params, lr=lr, eps=1e-7, foreach=True)


class NormClassifier(L.LightningModule):
    """Cross-entropy on logits, torchmetrics accuracy, metrics logged per epoch as
    ``train/loss``, ``train/acc``, ``val/loss``, ``val/acc``, ``test/loss``, ``test/acc``.

    A training batch is a list of minibatches (FashionMNISTDataModule's ``steps_per_execution``),
    each trained with its own optimizer step: the same steps, in the same order, as one minibatch
    per Lightning step, with Lightning's per-step work paid once per list (Keras's
    ``steps_per_execution``). When no callback listens to the per-step hooks, the list's steps are
    one ``StepGroup`` call, a plain torch loop (``step_group.py``); ``capture=True`` replays them
    as CUDA graphs on a GPU.
    """

    def __init__(self, net: dict | NetConfig | None = None, optimizer: str = "sgd", lr: float | None = None,
                 capture: bool = False) -> None:
        super().__init__()
        self.capture = capture  # on CUDA, SGD: each step of a group replayed as a CUDA graph (step_group.py)
        self.step_group: StepGroup | None = None
        net_config = net if isinstance(net, NetConfig) else NetConfig(**(net or {}))
        self.save_hyperparameters({"net": asdict(net_config), "optimizer": optimizer, "lr": lr})
        self.net_config = net_config
        self.net: nn.Module = build_net(net_config)
        self.net_regularized = bool(getattr(self.net, "regularized", None))  # SpecNet.regularization_loss applies
        make_optimizer(optimizer, [torch.zeros(1, requires_grad=True)], lr)  # fail on bad input now
        self.acc = nn.ModuleDict({f"{stage}_acc": MulticlassAccuracy(NUM_CLASSES, average="micro") for stage in EVAL_STAGES})
        self.mean_loss = nn.ModuleDict({f"{stage}_loss": MeanMetric() for stage in EVAL_STAGES})
        # Training metrics as running sums on the device, logged once per epoch: per-step
        # `self.log` and torchmetrics updates cost more than a whole step of this MLP on a CPU
        # (profiled: issue 6). Same values as logging per step with on_epoch=True.
        self.register_buffer("train_loss_sum", torch.zeros(()), persistent=False)  # sum of loss * batch size
        self.register_buffer("train_correct", torch.zeros((), dtype=torch.long), persistent=False)
        self.train_seen = 0  # samples this epoch (host-side: no sync)

    def __setattr__(self, name: str, value) -> None:
        # Lightning sets this string before and after every hook, ~30 times a training step;
        # nn.Module.__setattr__ first searches parameters, buffers and submodules (~2 us a call).
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def model_step(self, batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The step shared by train/val/test: logits and cross-entropy of one batch."""
        x, y = batch  # (B, 28, 28) float in [0, 1], (B,)
        logits = self(x)
        return logits, F.cross_entropy(logits, y), y

    def setup(self, stage: str) -> None:
        # Several optimizer steps per training batch (one process) need manual optimization. One
        # step per batch keeps Lightning's automatic optimization: under DDP (always 1 step per
        # batch), DDP then syncs gradients and broadcasts BatchNorm's buffers at every step as usual.
        self.automatic_optimization = getattr(self.trainer.datamodule, "steps_per_execution", 1) == 1

    def on_train_start(self) -> None:
        """Pick how a group of steps is taken: as a plain torch loop when Lightning's per-step hooks
        would do nothing (``step_group.hooks_are_idle``), else through Lightning's wrappers."""
        self.step_group = None
        if not self.automatic_optimization and hooks_are_idle(self.trainer, self):
            optimizer = self.optimizers(use_pl_optimizer=False)
            self.step_group = StepGroup(self.minibatch_loss, optimizer, capture=self.capture and can_capture(optimizer),
                                        progress=step_progress(self.trainer))

    def training_step(self, batch: list, batch_idx: int) -> torch.Tensor:
        """One optimizer step per minibatch of ``batch`` (a list of ``(x, y)``); returns the loss,
        or with several steps their losses (which FiniteLossCheck reads)."""
        if self.automatic_optimization:  # Lightning does zero_grad, backward and step
            (minibatch,) = batch
            losses = self.minibatch_loss(minibatch)
        elif self.step_group is not None:  # the same steps without Lightning's idle per-step hooks
            losses = self.step_group(batch)
        else:
            optimizer = self.optimizers()
            losses = torch.stack([self.train_minibatch(minibatch, optimizer) for minibatch in batch])
        self.train_seen += sum(y.shape[0] for _, y in batch)
        if self.trainer.is_last_batch:
            self.log_train_epoch()
        return losses

    def train_minibatch(self, minibatch, optimizer) -> torch.Tensor:
        """What automatic optimization does for one minibatch: gradients set to None, computed
        afresh, one step, through Lightning's hooks. Returns the loss, detached."""
        loss = self.minibatch_loss(minibatch)
        optimizer.zero_grad(set_to_none=True)
        self.manual_backward(loss)
        optimizer.step()  # Lightning's optimizer wrapper: counts trainer.global_step
        return loss.detach()

    def minibatch_loss(self, minibatch) -> torch.Tensor:
        """The training loss of one minibatch, added to the epoch's running sums (device ops only:
        a captured CUDA graph replays them; ``training_step`` counts the samples)."""
        logits, loss, y = self.model_step(minibatch)
        if self.net_regularized:  # a converted Keras model's L1/L2 regularizers, trained and logged as Keras's fit
            loss = loss + self.net.regularization_loss()
        # Two in-place adds, no host-device sync, on detached values (no graph, no no_grad block: fewer
        # Python calls on the hot path, issue 30); the same float32 sums, in the same order, as before.
        self.train_loss_sum.add_(loss.detach() * y.shape[0])
        self.train_correct.add_((logits.argmax(dim=1) == y).sum())
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["automatic_optimization"] = self.automatic_optimization

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Refuse to resume training where Lightning would count steps with the other optimization
        loop (its global step would restart from 0): one step per batch vs several."""
        if self._trainer is None or self.trainer.state.fn != "fit":
            return  # loading weights to evaluate
        saved = checkpoint.get("automatic_optimization", True)  # older checkpoints: one step per batch
        if saved != self.automatic_optimization:
            was, now = ("1 (or DDP)", "several") if saved else ("several", "1 (or DDP)")
            raise UsageError(f"the checkpoint was trained with {was} optimizer step(s) per training batch, this run takes "
                             f"{now}; resume it with the run's --steps-per-execution and --devices")

    def evaluation_step(self, batch, stage: str) -> None:
        logits, loss, y = self.model_step(batch)
        self.acc[f"{stage}_acc"](logits, y)
        # Both are torchmetrics, so under DDP they sum their states over all processes once per
        # epoch. (Not self.log(loss, sync_dist=True): Lightning 2.6 floors the synced sample count
        # when processes saw unequal counts, e.g. 250 + 249 val samples, inflating the loss;
        # Lightning-AI/pytorch-lightning#21859.) forward(), not update(): trainer.validate() resets
        # the states under inference_mode, where an in-place add in a later fit() would raise.
        mean_loss = self.mean_loss[f"{stage}_loss"]
        mean_loss(loss.detach(), len(y))
        self.log(f"{stage}/loss", mean_loss, on_step=False, on_epoch=True, prog_bar=stage == "val")
        self.log(f"{stage}/acc", self.acc[f"{stage}_acc"], on_step=False, on_epoch=True, prog_bar=stage == "val")

    def on_train_epoch_end(self) -> None:
        if self.train_seen:  # the last batch was not flagged (e.g. a loader of unknown length)
            self.log_train_epoch()

    def log_train_epoch(self) -> None:
        """Log the epoch's ``train/loss`` (sample-weighted mean) and ``train/acc`` (micro), summed
        over every process (as torchmetrics syncs accuracy), then reset the running sums."""
        loss_sum = self.train_loss_sum
        sums = torch.stack((loss_sum, self.train_correct.to(loss_sum.dtype), loss_sum.new_tensor(float(self.train_seen))))
        loss_sum, correct, seen = self.trainer.strategy.reduce(sums, reduce_op="sum")
        self.log("train/loss", loss_sum / seen, on_step=False, on_epoch=True, prog_bar=True, batch_size=1)
        self.log("train/acc", correct / seen, on_step=False, on_epoch=True, batch_size=1)
        self.train_loss_sum.zero_()
        self.train_correct.zero_()
        self.train_seen = 0

    def validation_step(self, batch, batch_idx: int) -> None:
        self.evaluation_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self.evaluation_step(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return make_optimizer(self.hparams.optimizer, self.parameters(), self.hparams.lr)
