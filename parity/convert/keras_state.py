"""A Keras model's arrays by layer name, and its Dropout turned off: shared by the check and its Keras-on-torch worker."""

from __future__ import annotations

import keras
import numpy as np
from torch import nn

from parity.transfer import keras_arrays


def no_dropout(model: keras.Model | nn.Module):
    """Every Dropout's rate set to 0 (their random draws cannot match across frameworks)."""
    if isinstance(model, nn.Module):
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
    else:
        for layer in model.layers:
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
    return model


def keras_state(model: keras.Model, names: list[str]) -> dict[str, np.ndarray]:
    return {f"{name}/{key}": value for name in names for key, value in keras_arrays(model.get_layer(name)).items()}
