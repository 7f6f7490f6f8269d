"""Parity rows for the CNN, BN-LeNet and ViT: the same measurements as ``parity.compare`` for the
MLP and LSTM (training- and inference-mode forward on fresh float32 weights, then 20 SGD steps in
float64 and every weight, moving statistic and the inference logits; the torch-vs-itself control),
with the vision pairing of ``parity.transfer_vision``. Tolerances are compare's: 1e-5 forward,
1e-4 after the steps; bias arrays are measured on the scale of the net's largest bias
(``_bias_floor``: some biases get no gradient at all), in the pair and in the control alike.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from keras_ref.conv_models import build_cnn, build_lenet
from keras_ref.training import sgd_steps as keras_sgd_steps
from keras_ref.vit import build_vit
from lightning_mods.nets import NetConfig, build_net
from parity.compare import (
    BATCH_SIZE,
    LEARNING_RATE,
    MOVING,
    STEPS,
    Diff,
    PairReport,
    check_batch,
    diff,
    keras_logits,
    make_batches,
    torch_logits,
    torch_sgd_steps,
    worst,
)
from parity.conventions import TABLE
from parity.transfer_vision import named_arrays, torch_to_keras

VISION_ARCHS = ("cnn", "lenet", "vit")
ARCH_NORMS = {"cnn": ("none", "bn", "ln", "gn"), "lenet": ("none", "bn", "ln", "gn"), "vit": ("none", "bn", "ln")}
ARCH_ACTIVATION = {"cnn": "relu", "lenet": "sigmoid", "vit": "gelu"}


def vision_pair(arch: str, norm: str, groups: int = 2, ln_axes: str = "chw", placement: str = "pre",
                bn_momentum: float = TABLE["bn_momentum"].keras_default,
                epsilon: float = TABLE["bn_epsilon"].keras_default) -> tuple[NetConfig, dict]:
    """The torch NetConfig and Keras builder kwargs of one vision net, mapped by the conventions table."""
    activation = ARCH_ACTIVATION[arch]
    config = NetConfig(arch=arch, norm=norm, placement=placement, activation=activation, groups=groups,
                       ln_axes=ln_axes, bn_momentum=TABLE["bn_momentum"].to_torch(bn_momentum), eps=epsilon,
                       bn_variance=TABLE["bn_variance"].keras_default, init="he_normal")
    common = dict(norm=norm, activation=activation, bn_momentum=bn_momentum, epsilon=epsilon)
    if arch == "vit":
        return config, common
    return config, dict(common, placement=placement, groups=groups, ln_axes=ln_axes)


def build_keras(arch: str, kwargs: dict):
    return {"cnn": build_cnn, "lenet": build_lenet, "vit": build_vit}[arch](**kwargs)


def _pair(net, config: NetConfig, kwargs: dict, dtype: str):
    net.to(getattr(torch, dtype))
    model = build_keras(config.arch, {**kwargs, "dtype": dtype})
    torch_to_keras(net, model)
    return net, model


def compare_vision(config: NetConfig, kwargs: dict, steps: int = STEPS, batch_size: int = BATCH_SIZE,
                   learning_rate: float = LEARNING_RATE, seed: int = 0, sgd_dtype: str = "float64",
                   control: bool = True) -> PairReport:
    """Forward both modes on fresh float32 weights; then, from the same weights in ``sgd_dtype``,
    ``steps`` SGD steps on the same batches; compare weights, moving statistics, inference logits."""
    torch.manual_seed(seed)
    net, model = _pair(build_net(config), config, kwargs, "float32")
    fresh = copy.deepcopy(net.state_dict())
    x, _ = make_batches(1, batch_size, seed=seed + 1000)[0]
    check_batch(config.norm, batch_size, True)
    eval_diff = diff(torch_logits(net, x, False), keras_logits(model, x, False), "logits")
    train_diff = diff(torch_logits(net, x, True), keras_logits(model, x, True), "logits")
    net.load_state_dict(fresh)
    net, model = _pair(net, config, kwargs, sgd_dtype)
    start = copy.deepcopy(net)
    batches = [(bx.astype(sgd_dtype), by) for bx, by in make_batches(steps, batch_size, seed=seed)]
    torch_sgd_steps(net, batches, learning_rate)
    keras_sgd_steps(model, batches, learning_rate)
    torch_side, keras_side = named_arrays(net, model)
    floor = _bias_floor(keras_side)
    diffs = {key: diff(torch_side[key], keras_side[key], key, floor if key.endswith("bias") else 0.0) for key in keras_side}
    weights = worst([d for k, d in diffs.items() if not k.endswith(MOVING)])
    moving = worst([d for k, d in diffs.items() if k.endswith(MOVING)])
    xd = x.astype(sgd_dtype)
    after = diff(torch_logits(net, xd, False), keras_logits(model, xd, False), "logits")
    drift = _control(start, batches, learning_rate) if control else None
    return PairReport(train_diff, eval_diff, weights, moving, after, drift)


def _bias_floor(arrays: dict[str, np.ndarray]) -> float:
    """Bias arrays are judged on the scale of the net's largest bias (``diff``'s floor), not their own:
    some get NO gradient in exact arithmetic and stay at rounding level, so a difference relative to
    their own scale is noise. MHA's key bias (adding q.b_k to every score of a query leaves the
    softmax unchanged), and in the BN-ViT every bias that adds a per-channel constant to the residual
    stream, which only ever enters BatchNorms (they subtract it again). Weights keep their own scale."""
    return max((float(np.max(np.abs(v))) for k, v in arrays.items() if k.endswith("bias")), default=0.0)


def _control(net, batches, learning_rate: float) -> Diff:
    """``parity.compare.control_diff`` with the same bias floor: torch against itself started 1 ulp away."""
    twin = copy.deepcopy(net)
    with torch.no_grad():
        for p in twin.parameters():
            p.mul_(1 + torch.finfo(p.dtype).eps)
    torch_sgd_steps(net, batches, learning_rate)
    torch_sgd_steps(twin, batches, learning_rate)
    ours = {name: p.detach().numpy() for name, p in net.named_parameters()}
    floor = _bias_floor(ours)
    return worst([diff(a, b.detach().numpy(), name, floor if name.endswith("bias") else 0.0)
                  for (name, a), b in zip(ours.items(), twin.parameters())])


def vision_rows() -> list[tuple[str, NetConfig, dict]]:
    """Every new net x norm (and the CNN's second LayerNorm convention): ``(name, config, keras kwargs)``."""
    rows = []
    for arch in VISION_ARCHS:
        for norm in ARCH_NORMS[arch]:
            rows.append((f"{arch} {norm}", *vision_pair(arch, norm)))
    rows.append(("cnn ln (axis=-1)", *vision_pair("cnn", "ln", ln_axes="c")))
    return rows


__all__ = ["Diff", "compare_vision", "vision_pair", "vision_rows"]
