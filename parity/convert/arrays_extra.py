"""The arrays of a converted Embedding or GRU in Keras's names and layout, both ways.

GRU (``reset_after=True``): Keras's kernel ``(in, 3u)`` and recurrent kernel ``(u, 3u)`` hold the
gates z, r, h; torch's ``weight_ih`` ``(3u, in)`` and ``weight_hh`` ``(3u, u)`` hold r, z, n: the
first two blocks swap and the matrices transpose. Keras's bias ``(2, 3u)``: row 0 (input side) is
``bias_ih``, row 1 (recurrent side) ``bias_hh``, in the same gate order as the kernels.
"""

from __future__ import annotations

import keras
import numpy as np
import torch
from torch import nn

KERAS = (keras.layers.Embedding, keras.layers.GRU)
TORCH = (nn.Embedding, nn.GRU)


def swap_gates(a: np.ndarray, axis: int) -> np.ndarray:
    """z, r, h <-> r, z, n along ``axis`` (its own inverse)."""
    first, second, third = np.split(a, 3, axis=axis)
    return np.concatenate([second, first, third], axis=axis)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().copy()


def keras_arrays(layer) -> dict[str, np.ndarray]:
    if isinstance(layer, keras.layers.Embedding):
        return {"embeddings": keras.ops.convert_to_numpy(layer.embeddings).copy()}
    cell = layer.cell
    return {name: keras.ops.convert_to_numpy(getattr(cell, name)).copy() for name in ("kernel", "recurrent_kernel", "bias")}


def torch_arrays(module: nn.Module) -> dict[str, np.ndarray]:
    if isinstance(module, nn.Embedding):
        return {"embeddings": _np(module.weight)}
    return {"kernel": swap_gates(_np(module.weight_ih_l0), 0).T.copy(),
            "recurrent_kernel": swap_gates(_np(module.weight_hh_l0), 0).T.copy(),
            "bias": np.stack([swap_gates(_np(module.bias_ih_l0), 0), swap_gates(_np(module.bias_hh_l0), 0)])}


@torch.no_grad()
def set_torch(module: nn.Module, arrays: dict[str, np.ndarray]) -> None:
    def put(tensor: torch.Tensor, value: np.ndarray) -> None:
        tensor.copy_(torch.from_numpy(np.ascontiguousarray(value)))

    if isinstance(module, nn.Embedding):
        put(module.weight, arrays["embeddings"])
        return
    put(module.weight_ih_l0, swap_gates(arrays["kernel"].T, 0))
    put(module.weight_hh_l0, swap_gates(arrays["recurrent_kernel"].T, 0))
    put(module.bias_ih_l0, swap_gates(arrays["bias"][0], 0))
    put(module.bias_hh_l0, swap_gates(arrays["bias"][1], 0))


def set_keras(layer, arrays: dict[str, np.ndarray]) -> None:
    target = layer if isinstance(layer, keras.layers.Embedding) else layer.cell
    for name, value in arrays.items():
        getattr(target, name).assign(value)
