"""Run a matched pair side by side and measure how far apart torch and Keras are.

Relative difference, everywhere: ``rel(a, b) = max|a - b| / max|b|`` over a whole array, with
``b`` the Keras (reference) array; 0 when both are all zeros. It is a norm-wise measure on
the array's own scale, not an element-wise one (which explodes at logits near 0). For many
arrays (every weight of a net) the reported value is the worst array's.

Tolerances: float32 forward passes <= 1e-5; after 20 SGD steps (lr 0.01, batches of 32, the
same batches in the same order) every weight and moving statistic <= 1e-4.

The 20 steps run in float64 on both sides by default (``sgd_dtype``). In float32 two correct
implementations round differently by ~1e-7, and training can amplify that into a divergence
that says nothing about conventions: a ReLU input within rounding of 0 gets opposite signs
(its gradient passes in one framework and not the other), and GroupNorm over groups of 2
features multiplies small differences step after step. float64 shrinks the seed of that
divergence by 1e9, so what remains above 1e-4 is a real difference (momentum, variance
rule, one LSTM bias vs two). ``sgd_dtype="float32"`` reproduces the float32 trajectories.
Each report also carries a control, torch against itself started one rounding unit away
(:func:`control_diff`): where even that exceeds 1e-4, the net's training amplifies rounding
(GroupNorm over groups of 2 features does) and no trajectory comparison can be tight.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from keras_ref import build_lstm, build_mlp
from keras_ref.training import logits as keras_logits
from keras_ref.training import sgd_steps as keras_sgd_steps
from lightning_mods.data import synthetic_split
from lightning_mods.errors import UsageError
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.norms import KerasBatchNorm1d
from parity.conventions import TABLE
from parity.transfer import (MOVING, freeze_lstm_hidden_bias, keras_arrays, named_arrays, paired_layers,
                             torch_arrays, torch_to_keras)

FORWARD_RTOL = 1e-5
SGD_RTOL = 1e-4
STEPS = 20
BATCH_SIZE = 32
LEARNING_RATE = 0.01


@dataclass(frozen=True)
class Diff:
    """Largest absolute and relative difference (see the module docstring); ``where``: the worst array."""

    abs: float
    rel: float
    where: str = ""

    def within(self, tol: float) -> bool:
        return self.rel <= tol


def diff(a: np.ndarray, b: np.ndarray, where: str = "", floor: float = 0.0) -> Diff:
    """``a`` (torch) against ``b`` (Keras, the reference), computed in float64. ``floor`` is
    added to the array's scale: ``rel = max|a - b| / (max|b| + floor)``, so that an array whose
    values are themselves at rounding level (0 in exact arithmetic) is judged on the floor's scale."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"{where or 'arrays'}: shapes differ, {a.shape} vs {b.shape}")
    err, scale = float(np.max(np.abs(a - b), initial=0.0)), float(np.max(np.abs(b), initial=0.0)) + floor
    return Diff(err, err / scale if scale else (0.0 if err == 0 else float("inf")), where)


def worst(diffs: list[Diff]) -> Diff | None:
    """The largest relative difference of many arrays, and the largest absolute one."""
    if not diffs:
        return None
    top = max(diffs, key=lambda d: d.rel)
    return Diff(max(d.abs for d in diffs), top.rel, top.where)


def check_batch(norm: str, batch_size: int, training: bool) -> None:
    """Refuse BatchNorm training on one sample: its batch variance is 0, so torch raises
    ``ValueError: Expected more than 1 value per channel`` and Keras silently outputs beta."""
    if norm == "bn" and training and batch_size < 2:
        raise UsageError(
            f"batch size {batch_size} with norm bn in training mode: BatchNorm's batch variance of one sample "
            "is 0 (torch raises, Keras returns beta); use a batch of 2 or more, inference mode, or norm ln/gn"
        )


def make_batches(steps: int, batch_size: int, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``steps`` synthetic Fashion-MNIST-shaped batches: float32 (B, 28, 28) in [0, 1], int64 labels."""
    images, labels = synthetic_split(steps * batch_size, seed)
    x = images.float().div(255).numpy()
    y = labels.numpy()
    return [(x[i : i + batch_size], y[i : i + batch_size]) for i in range(0, steps * batch_size, batch_size)]


@dataclass
class Pair:
    """A torch net and a Keras model holding the same weights."""

    net: nn.Module
    model: object
    config: NetConfig


def build_keras(config: NetConfig, keras_kwargs: dict):
    return build_lstm(**keras_kwargs) if config.arch == "lstm" else build_mlp(**keras_kwargs)


def build_pair(config: NetConfig, keras_kwargs: dict, seed: int = 0, keras_lstm_bias: bool = True,
               dtype: str = "float32") -> Pair:
    """Build ``config`` in torch (seeded), the Keras twin, and copy torch's weights over.
    ``keras_lstm_bias``: freeze torch's b_hh at 0 so the LSTM trains with one bias, as Keras."""
    torch.manual_seed(seed)
    net = build_net(config)
    if keras_lstm_bias:
        freeze_lstm_hidden_bias(net)
    return pair_from(net, config, keras_kwargs, dtype)


def pair_from(net: nn.Module, config: NetConfig, keras_kwargs: dict, dtype: str = "float32") -> Pair:
    """A Keras twin of ``net`` (its weights copied over), both in ``dtype``."""
    net.to(getattr(torch, dtype))
    model = build_keras(config, {**keras_kwargs, "dtype": dtype})
    torch_to_keras(net, model)
    return Pair(net, model, config)


def torch_logits(net: nn.Module, x: np.ndarray, training: bool) -> np.ndarray:
    """``net(x)`` in ``.train()`` (batch statistics, running stats updated) or ``.eval()`` mode."""
    net.train(training)
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()


def torch_sgd_steps(net: nn.Module, batches, learning_rate: float, loss=F.cross_entropy) -> list[float]:
    """Plain SGD (no momentum) on ``loss(output, target)`` (mean cross-entropy from logits by
    default), one step per batch, in order. The rate is rounded to float32 first, as Keras
    keeps it in a float32 variable. A net with Keras regularizers (a converted ``SpecNet``) adds
    its ``regularization_loss()``, as Keras adds ``sum(model.losses)``."""
    learning_rate = TABLE["learning_rate"].to_torch(learning_rate)
    penalty = getattr(net, "regularization_loss", lambda: None)
    optimizer = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=learning_rate)
    net.train()
    losses = []
    for x, y in batches:
        optimizer.zero_grad()
        value = loss(net(torch.from_numpy(x)), torch.from_numpy(y))
        extra = penalty()
        value = value if extra is None else value + extra
        value.backward()
        optimizer.step()
        losses.append(value.item())
    return losses


def logits_diff(pair: Pair, x: np.ndarray, training: bool) -> Diff:
    check_batch(pair.config.norm, len(x), training)
    return diff(torch_logits(pair.net, x, training), keras_logits(pair.model, x, training), "logits")


def state_diffs(pair: Pair) -> tuple[Diff | None, Diff | None]:
    """Worst difference over every weight, and over every moving statistic (None: there are none)."""
    torch_side, keras_side = named_arrays(pair.net, pair.model)
    diffs = {key: diff(torch_side[key], keras_side[key], key) for key in keras_side}
    weights = [d for key, d in diffs.items() if not key.endswith(MOVING)]
    moving = [d for key, d in diffs.items() if key.endswith(MOVING)]
    return worst(weights), worst(moving)


def control_diff(net: nn.Module, batches, learning_rate: float, loss=F.cross_entropy, floor: float = 0.0) -> Diff:
    """How far torch drifts from ITSELF when every weight starts one rounding unit away: a copy
    of ``net`` with weights times (1 + machine epsilon), both trained on ``batches``. Where this
    exceeds the tolerance, the training map amplifies rounding (chaos), and no two
    implementations can be expected to agree after those steps."""
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(1 + torch.finfo(p.dtype).eps)
    torch_sgd_steps(net, batches, learning_rate, loss)
    torch_sgd_steps(twin, batches, learning_rate, loss)
    return worst([diff(a.detach().numpy(), b.detach().numpy(), name, floor)
                  for (name, a), b in zip(net.named_parameters(), twin.parameters())])


@dataclass
class PairReport:
    train: Diff  # logits, training mode, fresh float32 weights
    eval: Diff  # logits, inference mode, fresh float32 weights
    weights: Diff  # after `steps` SGD steps
    moving: Diff | None  # BN moving statistics after the steps (None without BN)
    eval_after: Diff  # inference logits after the steps
    control: Diff | None  # torch vs torch started 1 ulp apart, after the same steps (not a check)

    def checks(self) -> list[tuple[str, Diff | None, float]]:
        return [("train", self.train, FORWARD_RTOL), ("eval", self.eval, FORWARD_RTOL),
                ("weights", self.weights, SGD_RTOL), ("moving", self.moving, SGD_RTOL),
                ("eval_after", self.eval_after, SGD_RTOL)]

    @property
    def passed(self) -> bool:
        return all(d is None or d.within(tol) for _, d, tol in self.checks())

    @property
    def chaotic(self) -> bool:
        """The steps amplify rounding beyond the tolerance in torch alone."""
        return self.control is not None and not self.control.within(SGD_RTOL)


def compare_pair(config: NetConfig, keras_kwargs: dict, steps: int = STEPS, batch_size: int = BATCH_SIZE,
                 learning_rate: float = LEARNING_RATE, seed: int = 0, keras_lstm_bias: bool = True,
                 sgd_dtype: str = "float64", control: bool = True) -> PairReport:
    """Forward both modes on fresh float32 weights; then, from the same fresh weights in
    ``sgd_dtype``, ``steps`` SGD steps on the same batches; then compare every weight, every
    moving statistic and the inference logits; and (``control``) the torch-vs-torch control."""
    pair = build_pair(config, keras_kwargs, seed, keras_lstm_bias)
    fresh = copy.deepcopy(pair.net.state_dict())
    x, _ = make_batches(1, batch_size, seed=seed + 1000)[0]
    eval_diff = logits_diff(pair, x, training=False)
    train_diff = logits_diff(pair, x, training=True)  # also moves the moving statistics: start again
    pair.net.load_state_dict(fresh)
    pair = pair_from(pair.net, config, keras_kwargs, sgd_dtype)
    start = copy.deepcopy(pair.net)
    batches = [(bx.astype(sgd_dtype), by) for bx, by in make_batches(steps, batch_size, seed=seed)]
    torch_sgd_steps(pair.net, batches, learning_rate)
    keras_sgd_steps(pair.model, batches, learning_rate)
    weights, moving = state_diffs(pair)
    after = logits_diff(pair, x.astype(sgd_dtype), training=False)
    drift = control_diff(start, batches, learning_rate) if control else None
    return PairReport(train_diff, eval_diff, weights, moving, after, drift)


@dataclass(frozen=True)
class StepCheck:
    """One training step: the raw torch-vs-Keras difference, and torch against what the math
    predicts from Keras (``residual``; within FORWARD_RTOL when the prediction is right)."""

    raw: Diff
    residual: Diff


def _captured_inputs(modules: list[nn.Module]) -> tuple[dict, list]:
    seen, handles = {}, []
    for module in modules:
        handles.append(module.register_forward_hook(lambda m, inp, out: seen.__setitem__(m, inp[0].detach())))
    return seen, handles


def moving_variance_step(config: NetConfig, keras_kwargs: dict, batch_size: int = BATCH_SIZE, seed: int = 0,
                         dtype: str = "float64") -> StepCheck:
    """One training-mode forward from the same state. torch's running variance should be
    Keras's moving variance plus ``m * var * (n/(n-1) - 1)`` per channel with the default
    (unbiased) update, where var is the biased batch variance over the n values per channel,
    and plus nothing with ``bn_variance="biased"``. float64 by default, so that the gap stays
    far above rounding even when n is large (the LSTM's n = B * 28: a gap of ~1e-5 relative)."""
    pair = build_pair(config, keras_kwargs, seed, dtype=dtype)
    layers = [(m, layer) for kind, m, layer in paired_layers(pair.net, pair.model) if kind == "bn"]
    if not layers:
        raise UsageError("moving_variance_step needs a net with norm bn")
    seen, handles = _captured_inputs([m for m, _ in layers])
    x = make_batches(1, batch_size, seed=seed + 1000)[0][0].astype(dtype)
    torch_logits(pair.net, x, training=True)
    keras_logits(pair.model, x, training=True)
    for handle in handles:
        handle.remove()
    raw, residual = [], []
    for module, layer in layers:
        inputs = seen[module].double()  # (B, C) or (B, C, T)
        dims = [0] + list(range(2, inputs.dim()))
        n = inputs.numel() // inputs.shape[1]
        var = inputs.var(dim=dims, unbiased=False).numpy()
        factor = 1.0 if isinstance(module, KerasBatchNorm1d) else n / (n - 1)
        keras_var = keras_arrays(layer)["moving_variance"]
        torch_var = module.running_var.numpy()
        name = f"{layer.name}/moving_variance"
        raw.append(diff(torch_var, keras_var, name))
        residual.append(diff(torch_var, keras_var + module.momentum * var * (factor - 1.0), name))
    return StepCheck(worst(raw), worst(residual))


def lstm_bias_step(config: NetConfig, keras_kwargs: dict, learning_rate: float = LEARNING_RATE, seed: int = 0,
                   batch_size: int = BATCH_SIZE) -> StepCheck:
    """One SGD step with BOTH torch LSTM biases trainable (torch's default), in float64: the
    effective bias b_ih + b_hh should move exactly twice as far as Keras's single bias."""
    pair = build_pair(config, keras_kwargs, seed, keras_lstm_bias=False, dtype="float64")
    lstm, layer = next((m, layer) for kind, m, layer in paired_layers(pair.net, pair.model) if kind == "lstm")
    before = keras_arrays(layer)["bias"]
    batch = [(bx.astype("float64"), by) for bx, by in make_batches(1, batch_size, seed=seed)]
    torch_sgd_steps(pair.net, batch, learning_rate)
    keras_sgd_steps(pair.model, batch, learning_rate)
    torch_bias, keras_bias = torch_arrays(lstm)["bias"], keras_arrays(layer)["bias"]
    return StepCheck(diff(torch_bias, keras_bias, "lstm/bias"),
                     diff(torch_bias, before + 2.0 * (keras_bias - before), "lstm/bias"))
