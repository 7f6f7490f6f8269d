"""The vision nets: a small CNN (``--arch cnn``) and d2l's BN-LeNet (``--arch lenet``).

Plain ``nn.Module``s like the MLP: ``(B, 28, 28)`` or ``(B, 1, 28, 28)`` images in, ``(B, 10)``
logits out, every norm from the one factory (``lightning_mods.norms``). Torch is NCHW; the Keras
twins (``keras_ref/conv_models.py``) are NHWC, and the Flatten after the convolutions reads the
maps in (C, H, W) order here and (H, W, C) order there (``parity/conventions.py``).

The maps are stored channels-last (``torch.channels_last``: NCHW shapes, NHWC memory), because on
the CPU the convolutions, max-pooling and BatchNorm/GroupNorm are about 1.7x faster that way
(``bench/``); the shapes, the parameters and the values are those of NCHW, only the memory order
differs. The convolution weights are channels-last too: a one-channel image is the same in both
layouts, and it is the first weight's layout that makes every map after it channels-last.
"""

from __future__ import annotations

import torch
from torch import nn

from lightning_mods.errors import UsageError
from lightning_mods.norms import (
    check_groups,
    make_activation,
    make_image_norm,
    make_norm,
)

IMAGE_SIDE = 28
NUM_CLASSES = 10
CNN_CHANNELS = (16, 32, 64)  # three 3x3 'same' convolutions, each followed by a 2x2 max-pool: 28 -> 14 -> 7 -> 3
CNN_DENSE = (128,)  # then Flatten (576) -> Dense 128 -> norm -> act -> Dense 10
LENET_DENSE = (120, 84)


def _block(layer: nn.Module, norm: nn.Module, activation: str, placement: str) -> list[nn.Module]:
    """[layer, norm, act] (pre) or [layer, act, norm] (post), without Identity norms."""
    if placement not in ("pre", "post"):
        raise UsageError(f"unknown placement {placement!r}; choose pre or post")
    act = make_activation(activation)
    block = [layer, norm, act] if placement == "pre" else [layer, act, norm]
    return [m for m in block if not isinstance(m, nn.Identity)]


def _dense_blocks(width: int, widths: tuple[int, ...], norm: str, activation: str, placement: str,
                  **norm_kwargs) -> list[nn.Module]:
    """After Flatten: [Linear -> norm -> act] (or post) per width, then Linear(10); bias off when a norm follows."""
    layers: list[nn.Module] = []
    for w in widths:
        if norm == "gn":
            check_groups(norm_kwargs.get("groups", 32), w, f"dense layer of width {w}")
        linear = nn.Linear(width, w, bias=(norm == "none" or placement == "post"))
        layers += _block(linear, make_norm(norm, w, **norm_kwargs), activation, placement)
        width = w
    return layers + [nn.Linear(width, NUM_CLASSES)]


def channels_last(net: nn.Module) -> nn.Module:
    """``net`` with its 4-d (convolution) weights stored channels-last, in place.

    >>> channels_last(nn.Conv2d(1, 4, 3)).weight.is_contiguous(memory_format=torch.channels_last)
    True
    """
    return net.to(memory_format=torch.channels_last)


class ToImage(nn.Module):
    """``(B, 28, 28)`` or ``(B, 1, 28, 28)`` -> ``(B, 1, 28, 28)`` (NCHW)."""

    def forward(self, x):
        return x.reshape(x.shape[0], 1, IMAGE_SIDE, IMAGE_SIDE)


class SmallCNN(nn.Module):
    """[Conv3x3 'same' -> norm -> act -> MaxPool2] x 3 (16, 32, 64 channels; 28 -> 14 -> 7 -> 3)
    -> Flatten (576) -> [Linear 128 -> norm -> act] -> Linear(10). Conv and Linear bias off when a norm
    follows them (as the MLP's Linear).

    >>> SmallCNN(norm="gn", groups=4)(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, norm: str = "bn", placement: str = "pre", activation: str = "relu",
                 channels: tuple[int, ...] = CNN_CHANNELS, dense: tuple[int, ...] = CNN_DENSE, ln_axes: str = "chw",
                 **norm_kwargs) -> None:
        super().__init__()
        layers: list[nn.Module] = [ToImage()]
        c_in, side = 1, IMAGE_SIDE
        for c in channels:
            conv = nn.Conv2d(c_in, c, 3, padding=1, bias=(norm == "none" or placement == "post"))
            layers += _block(conv, make_image_norm(norm, c, side, ln_axes=ln_axes, **norm_kwargs), activation, placement)
            layers.append(nn.MaxPool2d(2))
            c_in, side = c, side // 2
        self.flat_shape = (c_in, side, side)  # what Flatten reads, in torch's (C, H, W) order
        layers.append(nn.Flatten())
        layers += _dense_blocks(c_in * side * side, dense, norm, activation, placement, **norm_kwargs)
        self.layers = nn.Sequential(*layers)
        channels_last(self)

    def forward(self, x):
        return self.layers(x)


class LeNet(nn.Module):
    """d2l's BN-LeNet: Conv 6@5x5 -> norm -> act -> AvgPool2 -> Conv 16@5x5 -> norm -> act -> AvgPool2
    -> Flatten (256) -> Dense 120 -> norm -> act -> Dense 84 -> norm -> act -> Dense 10 (d2l: sigmoid,
    ``--activation sigmoid``; batch 128, lr 0.1, 10 epochs). 'valid' convolutions: 28 -> 24 -> 12 -> 8 -> 4.

    >>> LeNet(norm="bn", activation="sigmoid")(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, norm: str = "bn", placement: str = "pre", activation: str = "sigmoid",
                 ln_axes: str = "chw", **norm_kwargs) -> None:
        super().__init__()
        bias = norm == "none" or placement == "post"
        layers: list[nn.Module] = [ToImage()]
        c_in, side = 1, IMAGE_SIDE
        for c in (6, 16):
            side -= 4
            conv = nn.Conv2d(c_in, c, 5, bias=bias)
            layers += _block(conv, make_image_norm(norm, c, side, ln_axes=ln_axes, **norm_kwargs), activation, placement)
            layers.append(nn.AvgPool2d(2))
            c_in, side = c, side // 2
        layers.append(nn.Flatten())
        self.flat_shape = (c_in, side, side)  # what Flatten reads, in torch's (C, H, W) order
        layers += _dense_blocks(c_in * side * side, LENET_DENSE, norm, activation, placement, **norm_kwargs)
        self.layers = nn.Sequential(*layers)
        channels_last(self)

    def forward(self, x):
        return self.layers(x)
