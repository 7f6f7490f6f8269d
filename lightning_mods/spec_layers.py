"""The torch modules of a converted model's convolutions, pooling, merges and fixed preprocessing.

Layout: a converted net keeps Keras's channels-last tensors, ``(B, *spatial, C)``, from input to
output, so that a Flatten after a convolution flattens in Keras's order (the Dense weights after
it stay as they are) and a norm on ``axis=-1`` is the same module as on dense features. Each
convolution or pooling moves the channels to torch's place (``(B, C, *spatial)``), runs, and
moves them back. ``padding="same"`` pads as TensorFlow does: ``total = max((ceil(n / s) - 1) * s
+ (k - 1) * d + 1 - n, 0)``, ``total // 2`` before and the rest after (torch's own
``padding="same"`` allows stride 1 only).

Spec entries (``lightning_mods.spec_net``), in torch's words:

    conv(rank, in_channels, filters, kernel, strides, dilation, padding, use_bias, activation, groups)
    pool(op max|avg, rank, size, strides, padding) | global_pool(op max|avg, rank)
    merge(op add|subtract|multiply|average|concatenate, axis) | rescale(scale, offset) | normalize(mean, variance)
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

CONV = {1: nn.Conv1d, 2: nn.Conv2d}
REQUIRED = {
    "conv": ("rank", "in_channels", "filters", "kernel", "strides", "dilation", "padding", "use_bias", "activation",
             "groups"),
    "pool": ("op", "rank", "size", "strides", "padding"), "global_pool": ("op", "rank"), "merge": ("op",),
    "rescale": ("scale", "offset"), "normalize": ("mean", "variance"),
}


def same_padding(sizes, kernel, strides, dilation) -> list[int]:
    """``F.pad``'s list (last axis first) for TensorFlow's ``padding="same"``."""
    pads = []
    for n, k, s, d in zip(sizes, kernel, strides, dilation):
        total = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads.append((total // 2, total - total // 2))
    return [p for pair in reversed(pads) for p in pair]


def channels_first(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(-1, 1)  # (B, *spatial, C) -> (B, C, *spatial)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    return x.movedim(1, -1)


class Conv(nn.Module):
    """Keras's ConvND / DepthwiseConv (``groups`` = in_channels) on channels-last tensors; ``.conv``
    holds the weights in torch's layout ``(filters, in_channels / groups, *kernel)``."""

    def __init__(self, rank: int, in_channels: int, filters: int, kernel, strides, dilation, padding: str,
                 use_bias: bool, groups: int = 1) -> None:
        super().__init__()
        self.conv = CONV[rank](in_channels, filters, tuple(kernel), stride=tuple(strides), dilation=tuple(dilation),
                               groups=groups, bias=use_bias)
        self.same = padding == "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = channels_first(x)
        if self.same:
            x = F.pad(x, same_padding(x.shape[2:], self.conv.kernel_size, self.conv.stride, self.conv.dilation))
        return channels_last(self.conv(x))


class Pool(nn.Module):
    """Keras's Max/AveragePoolingND on channels-last tensors. ``same``: max pads with -inf; the
    average divides by the cells inside the input only (TensorFlow's rule)."""

    def __init__(self, op: str, rank: int, size, strides, padding: str) -> None:
        super().__init__()
        self.op, self.rank, self.size, self.strides, self.same = op, rank, tuple(size), tuple(strides), padding == "same"

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        pool = getattr(F, f"{self.op}_pool{self.rank}d")
        return pool(x, self.size, self.strides)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = channels_first(x)
        if not self.same:
            return channels_last(self._pool(x))
        pads = same_padding(x.shape[2:], self.size, self.strides, (1,) * self.rank)
        if self.op == "max":
            return channels_last(self._pool(F.pad(x, pads, value=-math.inf)))
        ones = F.pad(torch.ones_like(x[:1, :1]), pads)
        return channels_last(self._pool(F.pad(x, pads)) / self._pool(ones))

    def extra_repr(self) -> str:
        return f"op={self.op}, size={self.size}, strides={self.strides}, same={self.same}"


class GlobalPool(nn.Module):
    """Keras's GlobalAverage/MaxPoolingND: over every axis between the batch and the channels."""

    def __init__(self, op: str) -> None:
        super().__init__()
        self.op = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim() - 1))
        return x.mean(dim=dims) if self.op == "avg" else x.amax(dim=dims)


class Merge(nn.Module):
    """Keras's Add, Subtract, Multiply, Average, Concatenate(axis): a module over a list of tensors."""

    def __init__(self, op: str, axis: int = -1) -> None:
        super().__init__()
        self.op, self.axis = op, axis

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.op == "concatenate":
            return torch.cat(xs, dim=self.axis)
        if self.op == "subtract":
            return xs[0] - xs[1]
        out = xs[0]
        for x in xs[1:]:
            out = out * x if self.op == "multiply" else out + x
        return out / len(xs) if self.op == "average" else out


class Rescale(nn.Module):
    """Keras's ``Rescaling(scale, offset)``: ``x * scale + offset``, fixed (buffers, not trained)."""

    def __init__(self, scale, offset) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float64))  # cast to x's dtype, as Keras does
        self.register_buffer("offset", torch.tensor(offset, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.to(x.dtype) + self.offset.to(x.dtype)


class Normalize(nn.Module):
    """An adapted Keras ``Normalization``: ``(x - mean) / max(sqrt(variance), 1e-7)``, as Keras
    computes it (in x's dtype); fixed (buffers, not trained). mean and variance keep Keras's
    broadcast shape, e.g. ``(1, 1, C)``."""

    def __init__(self, mean, variance) -> None:
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float64))
        self.register_buffer("variance", torch.tensor(variance, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean.to(x.dtype)) / torch.sqrt(self.variance.to(x.dtype)).clamp_min(1e-7)


def build(entry: dict) -> nn.Module:
    """The module of one conv/pool/global_pool/merge/rescale/normalize spec entry."""
    kind = entry["layer"]
    if kind == "conv":
        return Conv(entry["rank"], entry["in_channels"], entry["filters"], entry["kernel"], entry["strides"],
                    entry["dilation"], entry["padding"], entry["use_bias"], entry["groups"])
    if kind == "pool":
        return Pool(entry["op"], entry["rank"], entry["size"], entry["strides"], entry["padding"])
    if kind == "global_pool":
        return GlobalPool(entry["op"])
    if kind == "merge":
        return Merge(entry["op"], entry.get("axis", -1))
    if kind == "rescale":
        return Rescale(entry["scale"], entry["offset"])
    return Normalize(entry["mean"], entry["variance"])
