"""A converted layer's arrays in Keras's names and layout, both ways: the convolutions here
(``parity.convert.layer_table``'s layouts), Embedding and GRU in ``parity.convert.arrays_extra``, every other
layer through ``parity.transfer``."""

from __future__ import annotations

import keras
import numpy as np
import torch
from torch import nn

from parity import transfer
from parity.convert import arrays_extra, attention_map
from parity.convert.layer_table import conv_to_keras, conv_to_torch

CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)
DEPTHWISE = (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D)


def keras_arrays(layer) -> dict[str, np.ndarray]:
    if isinstance(layer, arrays_extra.KERAS):
        return arrays_extra.keras_arrays(layer)
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return attention_map.keras_arrays(layer)
    if isinstance(layer, CONVS):
        return {w.name: keras.ops.convert_to_numpy(w).copy() for w in (layer.kernel, layer.bias) if w is not None}
    return transfer.keras_arrays(layer)


def torch_arrays(module: nn.Module, layer) -> dict[str, np.ndarray]:
    """``module``'s arrays in the layout of its Keras twin ``layer``."""
    if isinstance(module, arrays_extra.TORCH):
        return arrays_extra.torch_arrays(module)
    if isinstance(module, nn.MultiheadAttention):
        return attention_map.torch_arrays(module)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        weight = module.weight.detach().cpu().numpy()
        out = {"kernel": conv_to_keras(weight, isinstance(layer, DEPTHWISE), module.in_channels)}
        if module.bias is not None:
            out["bias"] = module.bias.detach().cpu().numpy().copy()
        return out
    return transfer.torch_arrays(module)


@torch.no_grad()
def set_torch(module: nn.Module, layer, arrays: dict[str, np.ndarray]) -> None:
    if isinstance(module, arrays_extra.TORCH):
        return arrays_extra.set_torch(module, arrays)
    if isinstance(module, nn.MultiheadAttention):
        return attention_map.set_torch(module, arrays)
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        kernel = conv_to_torch(arrays["kernel"], isinstance(layer, DEPTHWISE))
        module.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel)))
        if module.bias is not None:
            module.bias.copy_(torch.from_numpy(arrays["bias"]))
        return
    transfer.set_torch_arrays(module, arrays)


def set_keras(layer, arrays: dict[str, np.ndarray]) -> None:
    if isinstance(layer, arrays_extra.KERAS):
        return arrays_extra.set_keras(layer, arrays)
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return attention_map.set_keras(layer, arrays)
    if isinstance(layer, CONVS):
        layer.kernel.assign(arrays["kernel"])
        if layer.bias is not None:
            layer.bias.assign(arrays["bias"])
        return
    transfer.set_keras_arrays(layer, arrays)
