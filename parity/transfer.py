"""Weights torch -> Keras and Keras -> torch, layer by layer, for every layer the nets use.

Layers are paired by position among the weight-carrying layers (Linear/Dense, BN, LN, GN,
LSTM), which both sides create in the same order, and checked to be of the same kind.
Arrays travel as numpy float32 in KERAS layout (``parity.conventions``): Linear weight
(out, in) <-> Dense kernel (in, out); LSTM weight_ih (4u, in) <-> kernel (in, 4u), weight_hh
(4u, u) <-> recurrent_kernel (u, 4u), gate blocks in the same order i, f, c(=g), o; the two
torch biases b_ih + b_hh <-> Keras's one bias (Keras -> torch puts it all in b_ih, b_hh = 0).
Copies and transposes are exact, so a round trip is bitwise.
"""

from __future__ import annotations

import keras
import numpy as np
import torch
from torch import nn

# torch layer type, Keras layer type, the short kind used in array names
KINDS = (
    (nn.Linear, keras.layers.Dense, "dense"),
    (nn.BatchNorm1d, keras.layers.BatchNormalization, "bn"),  # KerasBatchNorm1d is a BatchNorm1d
    (nn.LayerNorm, keras.layers.LayerNormalization, "ln"),
    (nn.GroupNorm, keras.layers.GroupNormalization, "gn"),
    (nn.LSTM, keras.layers.LSTM, "lstm"),
)
MOVING = ("moving_mean", "moving_variance")


def _kind(layer) -> str | None:
    for torch_type, keras_type, kind in KINDS:
        if isinstance(layer, (torch_type, keras_type)):
            return kind
    return None


def paired_layers(net: nn.Module, model: keras.Model) -> list[tuple[str, nn.Module, keras.layers.Layer]]:
    """``(kind, torch module, Keras layer)`` for every weight-carrying layer, in order."""
    torch_side = [m for m in net.modules() if _kind(m)]
    keras_side = [layer for layer in model.layers if _kind(layer)]
    kinds = ([_kind(m) for m in torch_side], [_kind(layer) for layer in keras_side])
    if kinds[0] != kinds[1]:
        raise ValueError(f"the nets differ: torch layers {kinds[0]} vs Keras layers {kinds[1]}")
    return [(_kind(m), m, layer) for m, layer in zip(torch_side, keras_side)]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def torch_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    """The module's weights (and BN moving statistics) in Keras names and layout."""
    kind = _kind(module)
    if kind == "dense":
        out = {"kernel": _np(module.weight).T.copy()}  # (out, in) -> (in, out)
        if module.bias is not None:
            out["bias"] = _np(module.bias)
        return out
    if kind == "bn":
        return {"gamma": _np(module.weight), "beta": _np(module.bias),
                "moving_mean": _np(module.running_mean), "moving_variance": _np(module.running_var)}
    if kind in ("ln", "gn"):
        return {"gamma": _np(module.weight), "beta": _np(module.bias)}
    if module.num_layers != 1 or module.proj_size or module.bidirectional or not module.bias:
        raise ValueError("only a one-layer, unidirectional LSTM with biases has a Keras twin here")
    return {"kernel": _np(module.weight_ih_l0).T.copy(),  # (4u, in) -> (in, 4u)
            "recurrent_kernel": _np(module.weight_hh_l0).T.copy(),  # (4u, u) -> (u, 4u)
            "bias": _np(module.bias_ih_l0 + module.bias_hh_l0)}  # two biases -> one


def keras_arrays(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """The Keras layer's weights (and BN moving statistics), by name."""
    kind = _kind(layer)
    source = layer.cell if kind == "lstm" else layer
    names = {"dense": ("kernel", "bias"), "bn": ("gamma", "beta") + MOVING, "ln": ("gamma", "beta"),
             "gn": ("gamma", "beta"), "lstm": ("kernel", "recurrent_kernel", "bias")}[kind]
    out = {}
    for name in names:
        variable = getattr(source, name, None)
        if variable is not None:
            out[name] = keras.ops.convert_to_numpy(variable).copy()
    return out


def set_keras_arrays(layer: keras.layers.Layer, arrays: dict[str, np.ndarray]) -> None:
    """Assign every array the layer has a variable for (a norm with ``center=False`` has no beta)."""
    target = layer.cell if _kind(layer) == "lstm" else layer
    for name, value in arrays.items():
        variable = getattr(target, name, None)
        if variable is not None:
            variable.assign(value)


@torch.no_grad()
def set_torch_arrays(module: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    def put(tensor: torch.Tensor, value: np.ndarray) -> None:
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    kind = _kind(module)
    if kind == "dense":
        put(module.weight, arrays["kernel"].T)
        if module.bias is not None:
            put(module.bias, arrays["bias"])
    elif kind == "bn":
        fixed = {"gamma": np.ones(module.weight.shape, np.float32), "beta": np.zeros(module.bias.shape, np.float32)}
        for tensor, name in ((module.weight, "gamma"), (module.bias, "beta"),
                             (module.running_mean, "moving_mean"), (module.running_var, "moving_variance")):
            put(tensor, arrays[name] if name in arrays else fixed[name])  # Keras's center/scale=False: 0 / 1
    elif kind in ("ln", "gn"):
        put(module.weight, arrays.get("gamma", np.ones(module.weight.shape, np.float32)))
        put(module.bias, arrays.get("beta", np.zeros(module.bias.shape, np.float32)))
    else:
        put(module.weight_ih_l0, arrays["kernel"].T)
        put(module.weight_hh_l0, arrays["recurrent_kernel"].T)
        put(module.bias_ih_l0, arrays["bias"])
        module.bias_hh_l0.zero_()  # Keras has one bias: all of it goes to b_ih


def torch_to_keras(net: nn.Module, model: keras.Model) -> None:
    """Copy every weight and moving statistic of ``net`` into ``model``."""
    for _, module, layer in paired_layers(net, model):
        set_keras_arrays(layer, torch_arrays(module))


def keras_to_torch(model: keras.Model, net: nn.Module) -> None:
    """Copy every weight and moving statistic of ``model`` into ``net``."""
    for _, module, layer in paired_layers(net, model):
        set_torch_arrays(module, keras_arrays(layer))


def named_arrays(net: nn.Module, model: keras.Model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Both sides' arrays in Keras layout, keyed ``"<layer name>/<array>"`` (e.g. ``norm_0/gamma``)."""
    torch_side, keras_side = {}, {}
    for _, module, layer in paired_layers(net, model):
        for name, value in torch_arrays(module).items():
            torch_side[f"{layer.name}/{name}"] = value
        for name, value in keras_arrays(layer).items():
            keras_side[f"{layer.name}/{name}"] = value
    return torch_side, keras_side


def freeze_lstm_hidden_bias(net: nn.Module) -> nn.Module:
    """Make torch's LSTM train like Keras's one-bias LSTM: ``b_hh`` fixed at 0, only ``b_ih``
    learns. With both trainable, SGD moves the effective bias ``b_ih + b_hh`` by twice the
    gradient step (each bias gets the full gradient), which Keras's single bias does not."""
    for module in net.modules():
        if isinstance(module, nn.LSTM):
            for name, param in module.named_parameters():
                if name.startswith("bias_hh"):
                    with torch.no_grad():
                        param.zero_()
                    param.requires_grad_(False)
    return net
