"""A Keras model's arrays by layer name, and its Dropout turned off: shared by the check and its Keras-on-torch worker."""

from __future__ import annotations

import keras
import numpy as np
from torch import nn

from parity.convert.arrays import keras_arrays
from parity.convert.nested import find_layer


def no_dropout(model: keras.Model | nn.Module):
    """Every Dropout's rate set to 0 (their random draws cannot match across frameworks).

    Keras is asked first: on its torch backend a Keras model IS an ``nn.Module`` too, and its
    Dropout layers are Keras layers, not ``nn.Dropout``. Recurrent layers' ``dropout`` and
    ``recurrent_dropout`` are set to 0 as well."""
    if isinstance(model, keras.Model):
        for layer in model._flatten_layers(include_self=False):
            if isinstance(layer, keras.layers.Dropout):
                layer.rate = 0.0
            cell = getattr(layer, "cell", None)  # an RNN's rates live on its cell
            for key in ("dropout", "recurrent_dropout"):
                if cell is not None and isinstance(getattr(cell, key, None), float):
                    setattr(cell, key, 0.0)
    else:
        for module in model.modules():
            if isinstance(module, nn.Dropout):
                module.p = 0.0
            if isinstance(module, nn.MultiheadAttention):  # its dropout is a float, not an nn.Dropout
                module.dropout = 0.0
    return model


def keras_state(model: keras.Model, names: list[str]) -> dict[str, np.ndarray]:
    return {f"{name}/{key}": value for name in names for key, value in keras_arrays(find_layer(model, name)).items()}
