"""The loss-landscape probe of Santurkar et al. (2018, "How does batch normalization help
optimization?", Section 3.2 and Figure 4): how much the loss and its gradient change along the
gradient direction, measured during training without changing it.

At parameters x with loss L and gradient g = grad L(x) on the step's batch, for each step size
eta (a multiple of the learning rate), on THE SAME batch and with BatchNorm in training mode:
``L(x - eta g)`` (the paper's loss variation, panel a), ``||grad L(x - eta g) - g||`` (gradient
predictiveness, b) and that over ``||eta g||`` (effective beta-smoothness, c: its max over eta).
"""

from __future__ import annotations

from typing import Callable, Sequence

import lightning as L
import torch
from torch import nn

from lightning_mods.errors import UsageError

MULTIPLIERS = (0.5, 1.0, 2.0, 4.0)  # the probe's step sizes eta, in units of the learning rate (the paper's)


def _norm(tensors) -> torch.Tensor:
    """The l2 norm of several tensors taken as one vector."""
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t) for t in tensors]))


def measure(module: nn.Module, loss_of: Callable[[], torch.Tensor], etas: Sequence[float]) -> dict:
    """The landscape along -g at ``module``'s parameters x, where g is what their ``.grad`` holds.

    ``loss_of()`` computes the loss of the step's batch with the module's current parameters.
    Returns ``loss`` L(x), ``grad_norm`` ||g||, and per eta (in order) ``losses`` L(x - eta g),
    ``grad_diffs`` ||grad L(x - eta g) - g|| and ``betas`` grad_diff / (eta ||g||). Each probe
    gradient is computed afresh (``torch.autograd.grad``: nothing accumulates, ``.grad`` is not
    touched). Afterwards the parameters, every buffer (BatchNorm's running statistics and
    ``num_batches_tracked``), the modules' train/eval flags and torch's RNG state are what they
    were, bit for bit: the probe leaves the training trajectory as it was.
    """
    params = [p for p in module.parameters() if p.requires_grad]
    if not params or any(p.grad is None for p in params):
        raise ValueError("measure needs the gradient of every trainable parameter in .grad (call it after backward)")
    g = [p.grad for p in params]
    x = [p.detach().clone() for p in params]
    buffers = [(b, b.clone()) for b in module.buffers()]
    modes = [(m, m.training) for m in module.modules()]
    cuda = sorted({p.device.index or 0 for p in params if p.device.type == "cuda"})
    values = [_norm(g)]
    with torch.random.fork_rng(devices=cuda), torch.enable_grad():
        module.train()  # BatchNorm with batch statistics: the function SGD optimizes
        try:
            with torch.no_grad():
                values.append(loss_of().detach())
            for eta in etas:
                with torch.no_grad():
                    for p, start, grad in zip(params, x, g):
                        p.copy_(start).sub_(grad, alpha=eta)  # a step DOWNHILL, along -g
                loss = loss_of()
                moved = torch.autograd.grad(loss, params, materialize_grads=True)
                values += [loss.detach(), _norm([a - b for a, b in zip(moved, g)])]
        finally:
            with torch.no_grad():
                for p, start in zip(params, x):
                    p.copy_(start)
                for buffer, saved in buffers:
                    buffer.copy_(saved)
            for m, training in modes:
                m.train(training)
    numbers = torch.stack(values).tolist()  # one host-device sync
    grad_norm, loss, losses, diffs = numbers[0], numbers[1], numbers[2::2], numbers[3::2]
    betas = [d / (eta * grad_norm) if grad_norm > 0 else float("nan") for d, eta in zip(diffs, etas)]
    return {"loss": loss, "grad_norm": grad_norm, "etas": list(etas), "losses": losses, "grad_diffs": diffs,
            "betas": betas}


class LandscapeProbe(L.Callback):
    """Every ``every`` optimizer steps (0, every, 2 every, ...), before the step is taken: the
    landscape ``measure`` at the current weights on that step's own minibatch, with step sizes
    ``multipliers`` x the optimizer's learning rate; one row per probe in ``rows``.

    The probe runs in Lightning's ``on_before_optimizer_step`` hook, which fires once per
    optimizer step (after backward, before the update) with automatic and with manual
    optimization alike; so it sees every step also when NormClassifier takes several per
    training batch (``steps_per_execution``). A training batch is the project's list of
    minibatches, one optimizer step each, in order: the k-th step of a batch trains on its k-th.
    """

    def __init__(self, every: int = 100, multipliers: Sequence[float] = MULTIPLIERS,
                 loss_of: Callable | None = None) -> None:
        if every < 1:
            raise UsageError(f"probe every {every} steps: it must be at least 1")
        if not multipliers or any(not m > 0 for m in multipliers):
            raise UsageError(f"probe step multipliers {list(multipliers)} must be positive numbers")
        self.every, self.multipliers = every, tuple(multipliers)
        self.loss_of = loss_of or (lambda module, minibatch: module.model_step(minibatch)[1])
        self.rows: list[dict] = []
        self._batch: list | None = None
        self._taken = 0

    def on_fit_start(self, trainer, pl_module) -> None:
        if trainer.world_size > 1:
            raise UsageError("the landscape probe measures one process's gradient; train with --devices 1")
        if trainer.gradient_clip_val:
            raise UsageError("the landscape probe sees gradients before clipping; train without gradient clipping")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self._batch, self._taken = batch, 0

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        minibatch = self._batch[self._taken]
        self._taken += 1
        step = trainer.global_step  # steps taken so far: this one's index
        if step % self.every:
            return
        rates = {group["lr"] for group in optimizer.param_groups}
        if len(rates) != 1:
            raise UsageError(f"the landscape probe needs one learning rate, the optimizer has {sorted(rates)}")
        lr = float(rates.pop())
        row = measure(pl_module, lambda: self.loss_of(pl_module, minibatch), [m * lr for m in self.multipliers])
        self.rows.append({"step": step, "epoch": trainer.current_epoch, "lr": lr, **row})

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self._taken != len(batch):
            raise RuntimeError(f"a training batch of {len(batch)} minibatches took {self._taken} optimizer steps; "
                               "the probe pairs the k-th step of a batch with its k-th minibatch")
