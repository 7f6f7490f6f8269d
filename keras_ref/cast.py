"""A Keras model rebuilt in another dtype (every layer, the input, the weights), for float64 checks."""

from __future__ import annotations

import copy

import keras
import numpy as np


def _set_dtype(layer_configs: list[dict], dtype: str) -> None:
    for layer in layer_configs:
        layer["config"]["dtype"] = dtype  # a DTypePolicy name; the InputLayer's own dtype too
        _set_dtype(layer["config"].get("layers", []), dtype)  # a nested Sequential/Functional model's layers


def cast_model(model: keras.Model, dtype: str = "float64") -> keras.Model:
    """A copy of ``model`` (Sequential or Functional) whose every weight and computation is in
    ``dtype``; weights and moving statistics copied over, values exact (float32 -> float64).

    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    >>> cast_model(m).layers[0].kernel.dtype
    'float64'
    """
    config = copy.deepcopy(model.get_config())
    _set_dtype(config["layers"], dtype)
    clone = model.__class__.from_config(config)
    clone.set_weights([np.asarray(w).astype(dtype) for w in model.get_weights()])
    for layer in clone._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Normalization):
            layer.finalize_state()  # its mean and variance are derived from the adapted weights just set
    return clone
