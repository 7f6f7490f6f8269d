"""Weights torch -> Keras for the CNN, BN-LeNet and ViT, layer by layer, in KERAS layout.

The layout traps (``parity/conventions.py`` names them): Conv2d weight (out, in, kh, kw) <->
Conv2D kernel (kh, kw, in, out); the Dense after Flatten reads (C, H, W) in torch and (H, W, C)
in Keras, so its rows are permuted; LayerNorm over C,H,W has a (C, H, W) gamma/beta in torch and
(H, W, C) in Keras; BatchNorm2d's per-channel arrays are Keras's ``axis=-1`` ones; torch's packed
MHA in-projection <-> Keras's (D, heads, head_dim) kernels (``parity.attention``, the one mapping).
Layers are paired by position among the weight-carrying layers and checked to be of the same kind.
"""

from __future__ import annotations

import keras
import numpy as np
import torch
from torch import nn

from keras_ref.vit import PositionEmbedding as KerasPosition
from lightning_mods.vit import PositionEmbedding
from parity.attention import KERAS_ORDER, keras_from_torch
from parity.transfer import MOVING

KINDS = (
    (nn.Conv2d, keras.layers.Conv2D, "conv"),
    (nn.Linear, keras.layers.Dense, "dense"),
    ((nn.BatchNorm1d, nn.BatchNorm2d), keras.layers.BatchNormalization, "bn"),
    (nn.LayerNorm, keras.layers.LayerNormalization, "ln"),
    (nn.GroupNorm, keras.layers.GroupNormalization, "gn"),
    (nn.MultiheadAttention, keras.layers.MultiHeadAttention, "mha"),
    (PositionEmbedding, KerasPosition, "position"),
)


def _kind(layer) -> str | None:
    for torch_type, keras_type, kind in KINDS:
        if isinstance(layer, torch_type) or isinstance(layer, keras_type):
            return kind
    return None


def _torch_layers(net: nn.Module) -> list[nn.Module]:
    """Weight-carrying modules in order; MHA's own out_proj (a Linear) belongs to the MHA."""
    inside = {id(m) for mha in net.modules() if isinstance(mha, nn.MultiheadAttention) for m in mha.modules() if m is not mha}
    return [m for m in net.modules() if _kind(m) and id(m) not in inside]


def paired_layers(net: nn.Module, model: keras.Model) -> list[tuple[str, nn.Module, keras.layers.Layer, tuple | None]]:
    """``(kind, torch module, Keras layer, flat_shape)``; flat_shape (C, H, W) marks the Dense after Flatten."""
    torch_side = _torch_layers(net)
    keras_side = [layer for layer in model.layers if _kind(layer)]
    kinds = ([_kind(m) for m in torch_side], [_kind(layer) for layer in keras_side])
    if kinds[0] != kinds[1]:
        raise ValueError(f"the nets differ: torch layers {kinds[0]} vs Keras layers {kinds[1]}")
    out, after_conv = [], False
    for kind, module, layer in zip(kinds[0], torch_side, keras_side):
        flat = getattr(net, "flat_shape", None) if kind == "dense" and after_conv else None
        after_conv = kind == "conv" or (after_conv and kind != "dense")
        out.append((kind, module, layer, flat))
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def torch_arrays(kind: str, module: nn.Module, flat: tuple | None = None) -> dict[str, np.ndarray]:
    """The module's arrays in Keras names and layout."""
    if kind == "conv":
        out = {"kernel": _np(module.weight).transpose(2, 3, 1, 0).copy()}  # (out, in, kh, kw) -> (kh, kw, in, out)
    elif kind == "dense":
        weight = _np(module.weight)
        if flat is not None:  # rows of the flattened map: torch (C, H, W) order -> Keras (H, W, C)
            weight = weight.reshape(weight.shape[0], *flat).transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)
        out = {"kernel": weight.T.copy()}
    elif kind == "bn":
        return {"gamma": _np(module.weight), "beta": _np(module.bias),
                "moving_mean": _np(module.running_mean), "moving_variance": _np(module.running_var)}
    elif kind in ("ln", "gn"):
        gamma, beta = _np(module.weight), _np(module.bias)
        if gamma.ndim == 3:  # LayerNorm over (C, H, W) -> Keras axis=[1, 2, 3]: (H, W, C)
            gamma, beta = gamma.transpose(1, 2, 0).copy(), beta.transpose(1, 2, 0).copy()
        return {"gamma": gamma, "beta": beta}
    elif kind == "mha":
        state = {k: _np(v) for k, v in module.state_dict().items()}
        return keras_from_torch(state, module.num_heads)
    else:
        return {"embedding": _np(module.weight)}
    if module.bias is not None:
        out["bias"] = _np(module.bias)
    return out


def keras_arrays(kind: str, layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    if kind == "mha":
        return dict(zip(KERAS_ORDER, (np.array(w) for w in layer.get_weights())))
    names = {"conv": ("kernel", "bias"), "dense": ("kernel", "bias"), "bn": ("gamma", "beta") + MOVING,
             "ln": ("gamma", "beta"), "gn": ("gamma", "beta"), "position": ("embedding",)}[kind]
    return {n: keras.ops.convert_to_numpy(getattr(layer, n)).copy() for n in names if getattr(layer, n, None) is not None}


def set_keras_arrays(kind: str, layer: keras.layers.Layer, arrays: dict[str, np.ndarray]) -> None:
    if kind == "mha":
        layer.set_weights([arrays[k] for k in KERAS_ORDER])
        return
    for name, value in arrays.items():
        variable = getattr(layer, name, None)
        if variable is not None:
            variable.assign(value)


def torch_to_keras(net: nn.Module, model: keras.Model) -> None:
    for kind, module, layer, flat in paired_layers(net, model):
        set_keras_arrays(kind, layer, torch_arrays(kind, module, flat))


def named_arrays(net: nn.Module, model: keras.Model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Both sides' arrays in Keras layout, keyed ``"<layer name>/<array>"``."""
    torch_side, keras_side = {}, {}
    for kind, module, layer, flat in paired_layers(net, model):
        torch_side.update({f"{layer.name}/{k}": v for k, v in torch_arrays(kind, module, flat).items()})
        keras_side.update({f"{layer.name}/{k}": v for k, v in keras_arrays(kind, layer).items()})
    return torch_side, keras_side
