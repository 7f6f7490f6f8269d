"""The converter's MultiHeadAttention: Keras's ``(D, heads, head_dim)`` kernels <-> torch's packed
``nn.MultiheadAttention`` (``parity.attention`` maps the arrays; ``lightning_mods.spec_extra.KerasMHA``
is the module). Self- or cross-attention on ``(B, T, D)`` tensors of one width, called as
``mha(query, value)`` or ``mha(query, value, key)``."""

from __future__ import annotations

import keras
import numpy as np
import torch
from torch import nn

from parity import attention
from parity.convert.layer_table import Mapping

DENSES = {"query": "_query_dense", "key": "_key_dense", "value": "_value_dense", "attention_output": "_output_dense"}


def _entry(layer, config):
    tensors = layer._inbound_nodes[0].input_tensors
    dims = {int(t.shape[-1]) for t in tensors}
    heads = int(config["num_heads"])
    problems = [] if len(dims) == 1 and all(len(t.shape) == 3 for t in tensors) else \
        [f"inputs of shapes {[tuple(t.shape) for t in tensors]} (query, value and key: (batch, steps, width), one width)"]
    dim = max(dims)
    axes = config.get("attention_axes")
    if axes is not None and tuple(axes) != (1,):  # built on (B, T, D), Keras records (1,): over the steps
        problems.append(f"attention_axes={axes!r} (over the steps of (batch, steps, width) only)")
    try:
        attention.check_mappable(dim, heads, int(config["key_dim"]), config.get("value_dim"))
    except ValueError:
        problems.append(f"key_dim={config['key_dim']!r}, value_dim={config.get('value_dim')!r} with {heads} heads on "
                        f"width {dim} (torch's nn.MultiheadAttention needs key_dim = value_dim = width / heads = "
                        f"{dim / heads:g})")
    entry = {"layer": "mha", "name": layer.name, "dim": dim, "heads": heads, "trainable": bool(layer.trainable)}
    if float(config.get("dropout") or 0.0):
        entry["dropout"] = float(config["dropout"])
    return entry, problems


MAPPINGS = {"MultiHeadAttention": Mapping(
    frozenset({"num_heads", "key_dim", "value_dim", "dropout", "use_bias", "attention_axes"}), _entry,
    "query/key/value kernels (D, heads, head_dim) -> packed in_proj_weight (3D, D), output kernel (heads, "
    "head_dim, D) -> out_proj.weight (D, D); scores scaled by 1/sqrt(head_dim) in both; dropout on the attention "
    "probabilities in both", {"use_bias": True})}


def keras_arrays(layer) -> dict[str, np.ndarray]:
    return {f"{name}/{w}": keras.ops.convert_to_numpy(getattr(getattr(layer, dense), w)).copy()
            for name, dense in DENSES.items() for w in ("kernel", "bias")}


def torch_arrays(module: nn.MultiheadAttention) -> dict[str, np.ndarray]:
    state = {key: value.detach().cpu().numpy().copy() for key, value in module.state_dict().items()}
    return attention.keras_from_torch(state, module.num_heads)


@torch.no_grad()
def set_torch(module: nn.MultiheadAttention, arrays: dict[str, np.ndarray]) -> None:
    for key, value in attention.torch_from_keras(arrays).items():
        module.get_parameter(key).copy_(torch.from_numpy(np.ascontiguousarray(value)))


def set_keras(layer, arrays: dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        name, w = key.split("/")
        getattr(getattr(layer, DENSES[name]), w).assign(value)
