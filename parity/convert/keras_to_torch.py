"""Keras model -> layer spec -> ``SpecNet`` with the Keras weights (parity's conventions)."""

from __future__ import annotations

from pathlib import Path

import keras
import torch

from lightning_mods.spec_net import SPEC_FILE, WEIGHTS_FILE, SpecNet
from parity.convert.spec import dump_spec, spec_from_model
from parity.convert.arrays import keras_arrays, set_torch
from parity.convert.nested import find_layer


def pairs(net: SpecNet, model: keras.Model) -> list[tuple[str, torch.nn.Module, keras.layers.Layer]]:
    """``(name, torch module, Keras layer)`` of every weight-carrying layer, matched by Keras name (in nested models too)."""
    return [(name, module, find_layer(model, name)) for name, module in net.weighted.items()]


def copy_to_torch(model: keras.Model, net: SpecNet) -> SpecNet:
    """Every weight and moving statistic of ``model`` into ``net``: Dense kernel transposed, BN's
    gamma, beta, moving mean and variance as they are, the LSTM's one bias into ``bias_ih``."""
    for _, module, layer in pairs(net, model):
        set_torch(module, layer, keras_arrays(layer))
    return net


def to_torch(model: keras.Model, source="the model") -> tuple[list[dict], SpecNet]:
    """The spec of ``model`` and the torch net built from it, holding the same weights."""
    spec = spec_from_model(model, source)
    return spec, copy_to_torch(model, SpecNet(spec))


def save(spec: list[dict], net: SpecNet, out_dir: Path) -> None:
    """``out_dir/spec.yaml`` and ``out_dir/weights.pt`` (a plain state dict: ``weights_only`` loadable)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / SPEC_FILE).write_text(dump_spec(spec))
    torch.save(net.state_dict(), out_dir / WEIGHTS_FILE)
