"""The norm factory: the only place that maps ``none|bn|ln|gn`` to a torch layer.

Defaults are Keras's, expressed in torch terms (the lesson is Keras's):
``BatchNormalization(momentum=0.99, epsilon=1e-3)`` is torch momentum ``1 - 0.99 = 0.01``
and eps ``1e-3``; Keras's LayerNormalization and GroupNormalization also use eps ``1e-3``.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from lightning_mods.errors import UsageError

NORMS = ("none", "bn", "ln", "gn")
PLACEMENTS = ("pre", "post")  # pre: Linear -> norm -> act; post: Linear -> act -> norm
ACTIVATIONS = ("relu", "gelu", "silu", "sigmoid")  # sigmoid: d2l's BN-LeNet
BN_VARIANCES = ("unbiased", "biased")  # how BN's running variance is updated
LN_AXES = ("chw", "c")  # images: LayerNorm over C,H,W (Wu & He) or over C per pixel (Keras's default axis=-1)

KERAS_BN_MOMENTUM = 0.01  # torch momentum = 1 - keras momentum (0.99)
KERAS_EPS = 1e-3


class KerasBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose running variance follows Keras: updated with the BIASED batch variance.

    torch updates ``running_var`` with the unbiased batch variance (divides by n - 1, by
    design, pytorch/pytorch#3122); Keras with the biased one (divides by n). The output in
    both modes is otherwise that of ``nn.BatchNorm1d``. Select with ``bn_variance="biased"``.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or not self.track_running_stats:
            return super().forward(x)
        # Statistics over every axis but the channel one: (B, C) or (B, C, L).
        dims = [0] + list(range(2, x.dim()))
        with torch.no_grad():
            mean = x.mean(dim=dims)
            var = x.var(dim=dims, unbiased=False)
            self.running_mean.lerp_(mean, self.momentum)
            self.running_var.lerp_(var, self.momentum)
            self.num_batches_tracked.add_(1)
        return F.batch_norm(x, None, None, self.weight, self.bias, True, 0.0, self.eps)


class FrozenBatchNorm1d(nn.BatchNorm1d):
    """Keras's ``BatchNormalization(trainable=False)``: frozen, in Keras 3's sense.

    Keras 3 normalizes with the batch's statistics only when ``training and self.trainable``;
    a frozen layer normalizes with its moving statistics even inside ``fit`` and never updates
    them, and its gamma and beta are not trained. Here: the forward is inference-mode BatchNorm
    whatever ``.train()`` says (so the running statistics never move), and ``weight``/``bias``
    have ``requires_grad=False``. The input's gradient still flows through.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight.requires_grad_(False)
        self.bias.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)


class SequenceNorm(nn.Module):
    """Apply a norm to ``(B, T, C)`` features the way Keras does with ``axis=-1``.

    LN: per sample and step over C. BN: over B and T per channel. GN: per sample over T and
    the channels of a group. torch's BatchNorm1d/GroupNorm want channels second, hence the
    transposes.
    """

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm
        self.channels_first = isinstance(norm, (nn.BatchNorm1d, nn.GroupNorm))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.channels_first or x.dim() == 2:  # (B, C) is already what torch wants
            return self.norm(x)
        shape = x.shape  # (B, T, C), or (B, ..., C): every axis between B and C counts as steps
        out = self.norm(x.reshape(shape[0], -1, shape[-1]).transpose(1, 2))  # -> (B, C, T)
        return out.transpose(1, 2).reshape(shape)


def check_groups(groups: int, num_features: int, where: str = "layer") -> None:
    """Raise a clear error unless ``groups`` divides ``num_features``."""
    if groups < 1 or num_features % groups:
        divisors = [d for d in range(1, num_features + 1) if num_features % d == 0]
        raise UsageError(
            f"--groups {groups} does not divide the {num_features} features of the {where}; "
            f"use a divisor of {num_features}, e.g. one of {divisors[-4:]}"
        )


def make_norm(
    norm: str,
    num_features: int,
    *,
    groups: int = 32,
    bn_momentum: float = KERAS_BN_MOMENTUM,
    eps: float = KERAS_EPS,
    bn_variance: str = "unbiased",
    center: bool = True,
    scale: bool = True,
    frozen: bool = False,
) -> nn.Module:
    """Build the norm layer named ``norm`` for ``num_features`` channels (features last or 2nd).

    Keras's options, for converted models: ``center=False`` / ``scale=False`` fix beta at 0 /
    gamma at 1 (not trained); ``frozen`` is Keras's ``trainable=False`` (BN: FrozenBatchNorm1d;
    LN, GN: gamma and beta not trained).

    >>> make_norm("ln", 64)
    LayerNorm((64,), eps=0.001, elementwise_affine=True, bias=True)
    >>> make_norm("none", 64)
    Identity()
    """
    if norm not in NORMS:
        raise UsageError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)}")
    if bn_variance not in BN_VARIANCES:
        raise UsageError(f"unknown bn_variance {bn_variance!r}; choose one of {', '.join(BN_VARIANCES)}")
    if not 0.0 <= bn_momentum <= 1.0:
        raise UsageError(f"--bn-momentum {bn_momentum} is outside [0, 1] (torch convention: 1 - keras momentum)")
    if not (eps > 0 and math.isfinite(eps)):
        raise UsageError(f"--eps {eps} must be a positive finite number")
    if norm == "none":
        return nn.Identity()
    if norm == "bn":
        cls = FrozenBatchNorm1d if frozen else KerasBatchNorm1d if bn_variance == "biased" else nn.BatchNorm1d
        layer = cls(num_features, eps=eps, momentum=bn_momentum)
    elif norm == "ln":
        layer = nn.LayerNorm(num_features, eps=eps)
    else:
        check_groups(groups, num_features)
        layer = nn.GroupNorm(groups, num_features, eps=eps)
    for param, trained in ((layer.weight, scale and not frozen), (layer.bias, center and not frozen)):
        param.requires_grad_(trained)  # an untrained gamma stays 1, beta 0 (unless weights are loaded)
    return layer


def make_activation(activation: str) -> nn.Module:
    """``relu|gelu|silu|sigmoid`` as a torch module (GELU exact, as Keras's default ``gelu``)."""
    layers = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "sigmoid": nn.Sigmoid}
    if activation not in layers:
        raise UsageError(f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATIONS)}")
    return layers[activation]()


class ChannelsLast(nn.Module):
    """Apply a features-last norm (LayerNorm over C) to ``(B, C, H, W)`` at every pixel: Keras's
    ``LayerNormalization()`` (axis=-1) on an NHWC image."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ImageLayerNorm(nn.LayerNorm):
    """LayerNorm over (C, H, W) per sample, with a (C, H, W) gamma/beta like ``nn.LayerNorm((C, H, W))``,
    computed in (H, W, C) order: on channels-last maps (the vision nets' layout) the permuted view is
    contiguous, so no copy is made; the same statistics and the same affine, element for element.

    >>> norm = ImageLayerNorm((8, 7, 7))
    >>> x = torch.randn(2, 8, 7, 7)
    >>> bool(torch.allclose(norm(x), nn.functional.layer_norm(x, (8, 7, 7), norm.weight, norm.bias, norm.eps), atol=1e-6))
    True
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.normalized_shape
        weight = None if self.weight is None else self.weight.permute(1, 2, 0)
        bias = None if self.bias is None else self.bias.permute(1, 2, 0)
        out = F.layer_norm(x.permute(0, 2, 3, 1), (h, w, c), weight, bias, self.eps)
        return out.permute(0, 3, 1, 2)


class SpatialAsSteps(nn.Module):
    """Apply a ``(B, C, L)`` norm to ``(B, C, H, W)`` with the H*W pixels as L (used for the
    BatchNorm variants, biased or frozen, that only exist as 1d layers; the same statistics as 2d)."""

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.flatten(2)).reshape(x.shape)


def make_image_norm(norm: str, channels: int, side: int, *, ln_axes: str = "chw", **kwargs) -> nn.Module:
    """The norm ``norm`` for ``(B, C, H, W)`` feature maps with ``side`` x ``side`` pixels.

    bn: BatchNorm2d, per channel over the batch and the pixels (Keras ``BatchNormalization(axis=-1)``
    on NHWC). gn: GroupNorm, per sample over the pixels and a group of channels. ln: ``chw``, per
    sample over C, H and W with a (C, H, W) gamma/beta (Wu & He; Keras ``axis=[1, 2, 3]``), or ``c``,
    per sample and pixel over C with a (C,) gamma/beta (Keras's default ``axis=-1``).

    >>> make_image_norm("ln", 8, 7)
    ImageLayerNorm((8, 7, 7), eps=0.001, elementwise_affine=True, bias=True)
    """
    if ln_axes not in LN_AXES:
        raise UsageError(f"unknown --ln-axes {ln_axes!r}; choose chw (over C,H,W as in Wu & He) or c (Keras's axis=-1)")
    if norm == "gn":
        check_groups(kwargs.get("groups", 32), channels, f"conv layer of {channels} channels")
    layer = make_norm(norm, channels, **kwargs)
    if norm == "bn" and type(layer) is nn.BatchNorm1d:
        plain = nn.BatchNorm2d(channels, eps=layer.eps, momentum=layer.momentum)
        for mine, theirs in ((plain.weight, layer.weight), (plain.bias, layer.bias)):
            mine.requires_grad_(theirs.requires_grad)
        return plain
    if norm == "bn":
        return SpatialAsSteps(layer)
    if norm == "ln" and ln_axes == "c":
        return ChannelsLast(layer)
    if norm == "ln":
        wide = ImageLayerNorm((channels, side, side), eps=layer.eps)
        wide.weight.requires_grad_(layer.weight.requires_grad)
        wide.bias.requires_grad_(layer.bias.requires_grad)
        return wide
    return layer
