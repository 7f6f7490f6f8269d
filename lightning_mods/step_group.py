"""A training batch's ``steps_per_execution`` optimizer steps as one function.

Lightning's manual optimization wraps every optimizer step in its own machinery: ``manual_backward``
calls the ``on_before_backward`` and ``on_after_backward`` hooks of every callback and of the module,
``LightningOptimizer.step`` the ``on_before_optimizer_step`` hooks, the profiler and the step counter
(about 280 Python calls a step, more than the step's own forward, backward and update on a CPU at
batch 32; issue 30). When nothing listens to those hooks (no callback or module overrides them, a
plain float32 or bf16 precision without a loss scaler, the no-op profiler, one process), they do
nothing, and ``StepGroup`` runs the group's steps as a plain torch loop would: forward, loss,
``zero_grad(set_to_none=True)``, ``backward``, ``optimizer.step`` on the torch optimizer, the same
operations in the same order (so the same numbers, bit for bit), and counts each step in
Lightning's progress as ``LightningOptimizer.step`` does (``trainer.global_step`` moves per step).
Otherwise (e.g. the landscape probe's ``on_before_optimizer_step``) every step goes through
Lightning as before.

On CUDA, ``capture=True`` records one step as a CUDA graph (``torch.cuda.graph``) after a few eager
warm-up steps, and replays it for every full-size minibatch (its data copied into the graph's
static input): one launch per step instead of one per kernel. A minibatch of another size (an
epoch's last) runs eagerly. Only for optimizers whose state lives on the device (SGD without
momentum: no state); the numbers match the eager step up to the kernels' own nondeterminism.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning as L
import torch
from lightning.pytorch.plugins.precision import MixedPrecision, Precision
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.utilities.model_helpers import is_overridden

PER_STEP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
CAPTURE_WARMUP = 3  # eager steps on a side stream before a CUDA graph is recorded (torch's recipe)


def hooks_are_idle(trainer: L.Trainer, module: L.LightningModule) -> bool:
    """Whether Lightning's per-step wrappers would do nothing but count: no callback or module
    listens to the per-step hooks, no loss scaler, no profiler, one process."""
    plugin = trainer.precision_plugin
    plain = type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)
    if not plain or trainer.world_size != 1 or not isinstance(trainer.profiler, PassThroughProfiler):
        return False
    if any(is_overridden(hook, module, L.LightningModule) for hook in (*PER_STEP_HOOKS, "backward")):
        return False
    return not any(is_overridden(hook, callback, L.Callback) for callback in trainer.callbacks for hook in PER_STEP_HOOKS)


def can_capture(optimizer: torch.optim.Optimizer) -> bool:
    """Whether ``StepGroup`` can record this optimizer's step as a CUDA graph: on CUDA, and with no
    state a graph would have to keep (SGD without momentum; Adam's step counter lives on the host)."""
    params = [p for group in optimizer.param_groups for p in group["params"]]
    return bool(params) and params[0].is_cuda and type(optimizer) is torch.optim.SGD and \
        not any(group.get("momentum") for group in optimizer.param_groups)


def step_progress(trainer: L.Trainer):
    """Manual optimization's step counter (``trainer.global_step`` is its ``total.completed``), which
    ``LightningOptimizer.step`` moves: ``increment_ready()`` before a step, ``increment_completed()`` after."""
    return trainer.fit_loop.epoch_loop.manual_optimization.optim_step_progress


class StepGroup:
    """``group(minibatches)``: one optimizer step per ``(x, y)`` minibatch, in order; returns the
    steps' losses (detached, stacked). ``loss_of(minibatch)`` is the training loss of a minibatch
    (the module's ``minibatch_loss``); ``optimizer`` the torch optimizer."""

    def __init__(self, loss_of: Callable, optimizer: torch.optim.Optimizer, capture: bool = False,
                 progress=None) -> None:
        self.loss_of, self.optimizer = loss_of, optimizer
        self.progress = progress  # counts every step as Lightning does (step_progress), so global_step moves per step
        self.capture = capture
        self.graph: torch.cuda.CUDAGraph | None = None
        self.static: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # x, y, loss
        self.warm = 0

    def step(self, minibatch) -> torch.Tensor:
        """One eager optimizer step, as a plain torch loop takes it."""
        loss = self.loss_of(minibatch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def __call__(self, minibatches: list) -> torch.Tensor:
        step, progress, losses = self.captured_step if self.capture else self.step, self.progress, []
        for minibatch in minibatches:
            if progress is not None:
                progress.increment_ready()
            losses.append(step(minibatch))
            if progress is not None:
                progress.increment_completed()
        return torch.stack(losses)

    def captured_step(self, minibatch) -> torch.Tensor:
        x, y = minibatch
        if self.graph is not None:
            static_x, static_y, static_loss = self.static
            if x.shape != static_x.shape:
                return self.step(minibatch)
            static_x.copy_(x)
            static_y.copy_(y)
            self.graph.replay()
            return static_loss.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            if self.warm < CAPTURE_WARMUP:  # real training steps, run where the capture will be
                self.warm += 1
                loss = self.step(minibatch)
            else:
                loss = self._record(x, y)
        torch.cuda.current_stream().wait_stream(side)
        return loss

    def _record(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Record one step on static copies of ``x``, ``y`` and run it once (this minibatch's step)."""
        static_x, static_y = x.clone(), y.clone()
        self.optimizer.zero_grad(set_to_none=True)  # backward then allocates .grad from the graph's pool
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_loss = self.loss_of((static_x, static_y))
            static_loss.backward()
            self.optimizer.step()
        self.graph, self.static = graph, (static_x, static_y, static_loss.detach())
        graph.replay()  # recording ran nothing: now take this minibatch's step
        return static_loss.detach().clone()
