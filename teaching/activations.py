"""What normalization does to a net's activations: the input of every hidden activation
(ReLU, GELU, SiLU) of a ``lightning_mods`` MLP, i.e. the Linear's output after the norm (or
the bare Linear's output without one), per layer, in a training step: its mean and spread,
and its histogram."""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from lightning_mods.init import init_weights
from lightning_mods.nets import MLP

ACTIVATIONS = (nn.ReLU, nn.GELU, nn.SiLU)


def initial_mlp(norm: str, seed: int = 0, init: str = "he_normal") -> MLP:
    """The lesson's MLP as a run of the project starts it: seeded, then the ``init`` scheme."""
    torch.manual_seed(seed)
    net = MLP(norm=norm)
    torch.manual_seed(seed)
    return init_weights(net, init)


def pre_activations(net: nn.Module, x: torch.Tensor) -> list[np.ndarray]:
    """One array per hidden layer: what enters its activation for the batch ``x`` in training
    mode (BN with the batch's statistics, as in a training step), on a copy: the net is untouched."""
    net = copy.deepcopy(net).train()
    found = []
    for module in net.modules():
        if isinstance(module, ACTIVATIONS):
            module.register_forward_pre_hook(lambda _, inputs: found.append(inputs[0].detach().numpy()))
    with torch.no_grad():
        net(x)
    return found


def layer_stats(nets: dict[str, nn.Module], x: torch.Tensor) -> list[list[str]]:
    """Rows ``[net, layer, mean, std, share of units with |mean| > 1 or std outside [0.5, 2]]``."""
    rows = []
    for name, net in nets.items():
        for k, values in enumerate(pre_activations(net, x), 1):
            per_unit_mean, per_unit_std = values.mean(axis=0), values.std(axis=0)
            off = np.mean((np.abs(per_unit_mean) > 1) | (per_unit_std < 0.5) | (per_unit_std > 2))
            rows.append([name, str(k), f"{values.mean():+.3f}", f"{values.std():.3f}", f"{off:.0%}"])
    return rows


def histograms(nets: dict[str, nn.Module], x: torch.Tensor, title: str) -> plt.Figure:
    """One column per net, one row per hidden layer: the histogram of what enters the activation."""
    arrays = {name: pre_activations(net, x) for name, net in nets.items()}
    layers = max(len(a) for a in arrays.values())
    fig, axes = plt.subplots(layers, len(nets), figsize=(3.2 * len(nets), 1.8 * layers), dpi=90, squeeze=False)
    for col, (name, per_layer) in enumerate(arrays.items()):
        for row, values in enumerate(per_layer):
            ax = axes[row][col]
            ax.hist(values.ravel(), bins=60, color="tab:blue" if "BN" in name else "tab:gray")
            ax.set_yticks([])
            ax.set_title(f"{name}, capa {row + 1}: media {values.mean():+.2f}, desvío {values.std():.2f}", fontsize=7)
        axes[-1][col].set_xlabel("entrada de la activación")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
