"""Torch -> Keras for the spec entries of ``lightning_mods.spec_extra`` (relu, elu, embedding, gru, mha)
and the options the converter added to dense/conv/lstm/gru entries (L1/L2 regularizers, recurrent
dropout, integer inputs). ``parity.convert.torch_to_keras`` builds every other layer; its hook:

    layer = extra_layer(entry, common, named)   # first thing in keras_layer(); None: not one of these
    ...
    return with_options(layer, entry)           # on the layer keras_layer() made

(and ``keras.Input(shape, dtype=input_dtype(spec))`` for the input; an ``mha`` entry's layer is called
as ``layer(*inputs)``: query, value[, key], not one list as a merge takes; and ``MAPPED`` merged into
``torch_to_keras.MAPPED`` with ``merged_mapped``, so that ``refuse_unmapped`` lets these through).
"""

from __future__ import annotations

import keras

from lightning_mods.spec_extra import REGULARIZED


REGULARIZER_KEYS = set(REGULARIZED)
RECURRENT_KEYS = {"in_features", "units", "return_sequences", "trainable", "dropout", "recurrent_dropout"}
# The spec keys mapped here, per kind: the new kinds whole, and the options added to the older ones.
MAPPED = {
    "relu": {"max_value", "negative_slope", "threshold"}, "elu": {"alpha"},
    "embedding": {"input_dim", "output_dim", "trainable"} | REGULARIZER_KEYS,
    "gru": RECURRENT_KEYS | REGULARIZER_KEYS, "mha": {"dim", "heads", "dropout", "trainable"} | REGULARIZER_KEYS,
    "input": {"dtype"}, "dense": REGULARIZER_KEYS, "conv": REGULARIZER_KEYS, "lstm": RECURRENT_KEYS | REGULARIZER_KEYS,
}


def merged_mapped(mapped: dict[str, set]) -> dict[str, set]:
    """``torch_to_keras.MAPPED`` with this module's kinds and options added."""
    return {kind: set(mapped.get(kind, set())) | MAPPED.get(kind, set()) for kind in set(mapped) | set(MAPPED)}


def input_dtype(spec: list[dict]) -> str:
    return spec[0].get("dtype", "float32")


def extra_layer(entry: dict, common: dict, named: dict) -> keras.layers.Layer | None:
    """The Keras layer of a relu/elu/embedding/gru/mha entry (with its options); None for any other entry."""
    kind, L = entry["layer"], keras.layers
    if kind == "relu":
        return L.ReLU(max_value=entry["max_value"], negative_slope=entry["negative_slope"], threshold=entry["threshold"],
                      **named)
    if kind == "elu":
        return L.ELU(alpha=entry["alpha"], **named)
    if kind == "embedding":
        return with_options(L.Embedding(entry["input_dim"], entry["output_dim"], **common), entry)
    if kind == "mha":  # its regularizers are constructor arguments (the layer keeps them private)
        regularizers = {key: keras.regularizers.L1L2(**entry[key]) for key in ("kernel_regularizer", "bias_regularizer")
                        if entry.get(key)}
        return L.MultiHeadAttention(entry["heads"], key_dim=entry["dim"] // entry["heads"],
                                    dropout=float(entry.get("dropout", 0.0)), **regularizers, **common)
    if kind == "gru":
        return with_options(L.GRU(entry["units"], return_sequences=entry["return_sequences"], **common), entry)
    return None


def with_options(layer: keras.layers.Layer, entry: dict) -> keras.layers.Layer:
    """``layer`` (not yet built) with the entry's regularizers and recurrent dropout rates."""
    target = getattr(layer, "cell", layer)  # an RNN's weights and rates live on its cell
    for key in REGULARIZED:
        if entry.get(key):
            setattr(target, key, keras.regularizers.L1L2(**entry[key]))
    for key in ("dropout", "recurrent_dropout"):
        if entry.get(key) and hasattr(target, key):
            setattr(target, key, float(entry[key]))
    if entry.get("recurrent_dropout"):
        target.implementation, target.dropout_mask_count = 1, 3 if isinstance(layer, keras.layers.GRU) else 4
    return layer
