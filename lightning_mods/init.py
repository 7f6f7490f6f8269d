"""Weight initialisation schemes, named as in Keras (plus torch's own default)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lightning_mods.errors import UsageError

INITS = ("he_normal", "glorot_uniform", "torch")


TRUNCATION_STD = 0.87962566103423978  # std of a standard normal truncated to [-2, 2]


def _truncated_normal_(weight: torch.Tensor, std: float) -> None:
    """Keras's VarianceScaling(distribution="truncated_normal"): draws beyond two standard
    deviations are redrawn, and the scale is divided by 0.8796 so the result has std ``std``."""
    scale = std / TRUNCATION_STD
    nn.init.trunc_normal_(weight, mean=0.0, std=scale, a=-2 * scale, b=2 * scale)


def init_weights(net: nn.Module, scheme: str) -> nn.Module:
    """Initialise every Linear and Conv2d (and LSTM) of ``net`` in place.

    ``he_normal``: truncated normal whose std is sqrt(2 / fan_in) (Keras ``HeNormal``), zero bias.
    ``glorot_uniform``: U(+-sqrt(6 / (fan_in + fan_out))) (Keras's Dense default), zero bias.
    ``torch``: leave torch's defaults (kaiming_uniform(a=sqrt(5)), uniform bias).
    LSTMs under a Keras scheme get Keras's LSTM defaults: glorot_uniform input weights,
    orthogonal recurrent weights, zero biases but 1 on the forget gate (``unit_forget_bias``).
    """
    if scheme not in INITS:
        raise UsageError(f"unknown init {scheme!r}; choose one of {', '.join(INITS)}")
    if scheme == "torch":
        return net
    for module in net.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            fan_in = module.weight[0].numel()  # Linear (out, in); Conv2d (out, in, kh, kw): Keras's fan_in too
            if scheme == "he_normal":
                _truncated_normal_(module.weight, math.sqrt(2.0 / fan_in))
            else:
                nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LSTM):
            hidden = module.hidden_size
            for name, param in module.named_parameters():
                if name.startswith("weight_ih"):
                    # Keras's (in, 4u) kernel and torch's (4u, in) share fan_in + fan_out.
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param)
                elif name.startswith("bias_ih"):
                    nn.init.zeros_(param)
                    param.data[hidden : 2 * hidden] = 1.0  # torch gate order i, f, g, o
                elif name.startswith("bias_hh"):
                    nn.init.zeros_(param)
    return net
