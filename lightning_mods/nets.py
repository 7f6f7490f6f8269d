"""The networks: plain ``nn.Module``s that know nothing of Lightning (the CNNs in
``conv_nets.py``, the ViT in ``vit.py``; ``build_net`` is the one entry).

All take ``(B, 28, 28)`` images (or ``(B, 1, 28, 28)``) and return ``(B, 10)`` logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from lightning_mods.conv_nets import LeNet, SmallCNN
from lightning_mods.errors import UsageError
from lightning_mods.init import init_weights
from lightning_mods.norms import (
    KERAS_BN_MOMENTUM,
    KERAS_EPS,
    SequenceNorm,
    check_groups,
    make_activation,
    make_norm,
)
from lightning_mods.spec_net import load_net
from lightning_mods.vit import ViT

ARCHS = ("mlp", "lstm", "cnn", "lenet", "vit")
IMAGE_ARCHS = ("cnn", "lenet")  # the archs --ln-axes applies to
IMAGE_SIDE = 28
NUM_CLASSES = 10
# A net's revision goes up when what it computes changes (its layers, or kernels that round differently),
# so that runs saved by experiments with the old net are not read back as the new one's. Revision 1 (the
# first) is no part of a run's key. 2: the vision nets channels-last and the CNN's Dense(128); the ViT's
# fused self-attention and 2-d BatchNorm over the tokens.
NET_REVISIONS = {"cnn": 2, "lenet": 2, "vit": 2}


def net_revision(arch: str) -> int:
    """
    >>> net_revision("cnn"), net_revision("mlp")
    (2, 1)
    """
    return NET_REVISIONS.get(arch, 1)


@dataclass
class NetConfig:
    """Everything that defines a net; the same words as the CLI and the Keras builders."""

    arch: str = "mlp"
    norm: str = "bn"
    placement: str = "pre"
    activation: str = "relu"
    hidden: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    groups: int = 32
    lstm_units: int = 128
    init: str = "he_normal"
    bn_momentum: float = KERAS_BN_MOMENTUM
    eps: float = KERAS_EPS
    bn_variance: str = "unbiased"
    dropout: float = 0.0  # MLP: Dropout(rate) at the end of every hidden block (0: no layer)
    norm_logits: bool = False  # MLP: the net's norm also on the 10 logits (the lesson's "BN before the softmax")
    ln_axes: str = "chw"  # cnn, lenet: LayerNorm over C,H,W (Wu & He) or c (per pixel over C, Keras's axis=-1)
    net_dir: str | None = None  # a converted net (spec.yaml + weights.pt); then the fields above are unused

    def norm_kwargs(self) -> dict:
        return dict(groups=self.groups, bn_momentum=self.bn_momentum, eps=self.eps, bn_variance=self.bn_variance)


class MLP(nn.Module):
    """Flatten -> [Linear -> norm -> act] (pre) or [Linear -> act -> norm] (post) per hidden
    layer, each followed by Dropout when ``dropout`` > 0 -> Linear(10), and the norm on the
    logits when ``norm_logits``. Linear bias off when a norm follows it.

    >>> MLP(hidden=[32, 16], norm="ln")(torch.zeros(4, 28, 28)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        hidden: list[int] = (512, 256, 128, 64),
        norm: str = "bn",
        placement: str = "pre",
        activation: str = "relu",
        num_classes: int = NUM_CLASSES,
        in_features: int = IMAGE_SIDE * IMAGE_SIDE,
        dropout: float = 0.0,
        norm_logits: bool = False,
        **norm_kwargs,
    ) -> None:
        super().__init__()
        if not (math.isfinite(dropout) and 0 <= dropout < 1):
            raise UsageError(f"--dropout {dropout} must be a rate in [0, 1), e.g. 0.2 (0: no dropout)")
        if norm_logits and norm == "none":
            raise UsageError("--norm-logits puts the net's norm on the logits: it needs --norm bn, ln or gn")
        if placement not in ("pre", "post"):
            raise UsageError(f"unknown placement {placement!r}; choose pre or post")
        if not hidden or any(h < 1 for h in hidden):
            raise UsageError(f"--hidden {list(hidden)} must be one or more positive widths, e.g. 512 256 128 64")
        if norm == "gn":
            for width in hidden:
                check_groups(norm_kwargs.get("groups", 32), width, f"hidden layer of width {width}")
        layers: list[nn.Module] = [nn.Flatten()]
        width_in = in_features
        for width in hidden:
            linear = nn.Linear(width_in, width, bias=(norm == "none" or placement == "post"))
            block = [linear, make_norm(norm, width, **norm_kwargs), make_activation(activation)]
            if placement == "post":
                block = [linear, block[2], block[1]]
            layers += [m for m in block if not isinstance(m, nn.Identity)]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width_in = width
        layers.append(nn.Linear(width_in, num_classes, bias=not norm_logits))
        if norm_logits:
            if norm == "gn":
                check_groups(norm_kwargs.get("groups", 32), num_classes, "the logits (--norm-logits)")
            layers.append(make_norm(norm, num_classes, **norm_kwargs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)  # (B, 28, 28) -> (B, 10)


class LSTMClassifier(nn.Module):
    """Reads the 28 image rows as a 28-step sequence of 28 features; an optional norm on the
    input features (the lesson's "LayerNorm before the LSTM"); the last hidden state -> Linear(10).

    >>> LSTMClassifier(units=16, norm="ln")(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, units: int = 128, norm: str = "none", num_classes: int = NUM_CLASSES, **norm_kwargs) -> None:
        super().__init__()
        if norm == "gn":
            check_groups(norm_kwargs.get("groups", 32), IMAGE_SIDE, "LSTM input (28 features per row)")
        layer = make_norm(norm, IMAGE_SIDE, **norm_kwargs)
        self.input_norm = None if isinstance(layer, nn.Identity) else SequenceNorm(layer)
        self.lstm = nn.LSTM(IMAGE_SIDE, units, batch_first=True)
        self.head = nn.Linear(units, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], IMAGE_SIDE, IMAGE_SIDE)  # B, T=28 rows, C=28 pixels
        if self.input_norm is not None:
            x = self.input_norm(x)
        _, (h_n, _) = self.lstm(x)  # h_n: (1, B, units)
        return self.head(h_n[-1])


def check_image_net(net: nn.Module, what: str) -> nn.Module:
    """Refuse a net that does not map a 28x28 image to 10 outputs."""
    shape = tuple(getattr(net, "input_shape", (IMAGE_SIDE, IMAGE_SIDE)))
    if torch.Size(shape).numel() != IMAGE_SIDE * IMAGE_SIDE:
        raise UsageError(f"{what} takes inputs of shape {shape}, not a 28x28 image; Fashion-MNIST needs a model "
                         "whose input has 784 values, e.g. keras.Input((28, 28))")
    was_training = net.training
    net.eval()  # no statistics move
    with torch.no_grad():
        out = net(torch.zeros(1, IMAGE_SIDE, IMAGE_SIDE))
    net.train(was_training)
    if tuple(out.shape) != (1, NUM_CLASSES):
        raise UsageError(f"{what} gives outputs of shape {tuple(out.shape[1:])}, not {NUM_CLASSES} class scores; "
                         "end the model with Dense(10)")
    return net


def build_net(config: NetConfig) -> nn.Module:
    """The net ``config`` describes, initialised with ``config.init``; with ``net_dir``, the
    converted net saved there, with its weights, and without a final softmax (training takes logits)."""
    if config.net_dir is not None:
        return check_image_net(load_net(config.net_dir, logits=True), f"--net {config.net_dir}")
    if config.arch not in ARCHS:
        raise UsageError(f"unknown arch {config.arch!r}; choose one of {', '.join(ARCHS)}")
    if config.arch != "mlp" and (config.dropout or config.norm_logits):
        given = [flag for flag, on in (("--dropout", config.dropout), ("--norm-logits", config.norm_logits)) if on]
        verb, it = ("applies", "it") if len(given) == 1 else ("apply", "them")
        raise UsageError(f"{' and '.join(given)} {verb} to the MLP only: use --arch mlp, or leave {it} out")
    if config.arch not in IMAGE_ARCHS and config.ln_axes != "chw":
        raise UsageError(f"--ln-axes applies to the convolutional nets only ({', '.join(IMAGE_ARCHS)}): leave it out "
                         f"for --arch {config.arch}")
    if config.arch == "cnn":
        net = SmallCNN(config.norm, config.placement, config.activation, ln_axes=config.ln_axes, **config.norm_kwargs())
    elif config.arch == "lenet":
        net = LeNet(config.norm, config.placement, config.activation, ln_axes=config.ln_axes, **config.norm_kwargs())
    elif config.arch == "vit":
        net = ViT(config.norm, config.placement, config.activation, **config.norm_kwargs())
    elif config.arch == "mlp":
        net = MLP(config.hidden, config.norm, config.placement, config.activation, dropout=config.dropout,
                  norm_logits=config.norm_logits, **config.norm_kwargs())
    else:
        net = LSTMClassifier(config.lstm_units, config.norm, **config.norm_kwargs())
    init_weights(net, config.init)
    return net
