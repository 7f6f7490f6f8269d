"""The converter's mappings for parametric activations (ReLU's options, LeakyReLU, ELU), Embedding,
GRU, recurrent dropout and Keras's L1/L2 regularizers (``lightning_mods.spec_extra`` is the torch
side). ``parity.convert.spec`` reads them with ``parity.convert.layer_table``'s."""

from __future__ import annotations

import keras
import numpy as np

from parity.convert.layer_table import Mapping

REGULARIZER_KEYS = ("kernel_regularizer", "bias_regularizer", "recurrent_regularizer", "embeddings_regularizer")
RECURRENT = frozenset({"units", "return_sequences", "use_bias", "dropout", "recurrent_dropout", "reset_after"})


def regularizers(config: dict) -> tuple[dict, list[str]]:
    """The spec's ``{key: {l1, l2}}`` of Keras's built-in L1, L2, L1L2 regularizers in ``config``,
    and the problems of any other (a custom regularizer, an ``OrthogonalRegularizer``)."""
    found, problems = {}, []
    for key in REGULARIZER_KEYS:
        value = config.get(key)
        if value is None:
            continue
        cls = value.get("class_name") if isinstance(value, dict) else None
        inner = value.get("config", {}) if isinstance(value, dict) else {}
        builtin = isinstance(value, dict) and str(value.get("module", "")).startswith("keras") \
            and value.get("registered_name") in (None, cls)
        if not builtin or cls not in ("L1", "L2", "L1L2"):
            problems.append(f"{key}={_name(value)} (only Keras's L1, L2, L1L2)")
            continue
        found[key] = {"l1": float(inner.get("l1", 0.0)), "l2": float(inner.get("l2", 0.0))}
    return found, problems


def integer_inputs(model: keras.Model) -> int | None:
    """For a model whose input is integers (into an Embedding): the smallest ``input_dim``; else None."""
    if "int" not in str(model.inputs[0].dtype):
        return None
    dims = [layer.input_dim for layer in model._flatten_layers(include_self=False) if isinstance(layer, keras.layers.Embedding)]
    return min(dims) if dims else None


def _name(value) -> str:
    return str(value.get("registered_name") or value.get("class_name")) if isinstance(value, dict) else repr(value)


def _relu(layer, config):
    slope = float(config.get("negative_slope", 0.0))
    maximum = config.get("max_value")
    entry = {"layer": "relu", "max_value": None if maximum is None else float(np.asarray(maximum)),
             "negative_slope": slope, "threshold": float(config.get("threshold", 0.0))}
    if entry["max_value"] is None and not slope and not entry["threshold"]:
        return {"layer": "activation", "activation": "relu"}, []  # plain ReLU(): the same entry as before
    return entry, []


def _leaky(layer, config):
    return {"layer": "relu", "max_value": None, "negative_slope": float(config["negative_slope"]), "threshold": 0.0}, []


def _elu(layer, config):
    # ELU's get_config leaves out alpha: a saved ELU(alpha) loads with 1.0, read from the loaded layer.
    return {"layer": "elu", "alpha": float(layer.alpha)}, []


def _embedding(layer, config):
    if config.get("mask_zero"):
        return None, ["mask_zero=True (padding masks are not converted: pad with a token the model learns, or "
                      "drop mask_zero)"]
    return {"layer": "embedding", "name": layer.name, "input_dim": int(config["input_dim"]),
            "output_dim": int(config["output_dim"]), "trainable": bool(layer.trainable)}, []


def recurrent(layer, config) -> tuple[dict, list[str]]:
    """An LSTM or GRU entry; ``dropout``/``recurrent_dropout`` kept where set (0 in the parity check)."""
    kind = "gru" if isinstance(layer, keras.layers.GRU) else "lstm"
    entry = {"layer": kind, "name": layer.name, "in_features": int(layer.cell.kernel.shape[0]), "units": int(layer.units),
             "return_sequences": bool(layer.return_sequences), "trainable": bool(layer.trainable)}
    for key in ("dropout", "recurrent_dropout"):
        if float(config.get(key, 0.0)):
            entry[key] = float(config[key])
    if kind == "gru" and not config.get("reset_after", True):
        return entry, ["reset_after=False (torch's nn.GRU is Keras's default reset_after=True; rebuild the layer "
                       "with it and train again)"]
    return entry, []


RNN_REQUIRED = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True}
RELU_NOTE = "keras.activations.relu's formula: x above threshold (else 0), clipped at max_value, minus negative_slope * relu(threshold - x)"
MAPPINGS: dict[str, Mapping] = {
    "ReLU": Mapping(frozenset({"max_value", "negative_slope", "threshold"}), _relu, RELU_NOTE),
    "LeakyReLU": Mapping(frozenset({"negative_slope"}), _leaky, RELU_NOTE),
    "ELU": Mapping(frozenset({"alpha"}), _elu, "nn.ELU(alpha)"),
    "Embedding": Mapping(frozenset({"input_dim", "output_dim", "mask_zero"}), _embedding,
                         "embeddings (input_dim, output_dim) = nn.Embedding.weight; inputs truncated to integers"),
    "LSTM": Mapping(RECURRENT, recurrent, "gates i, f, c, o in the same order; kernels transposed; Keras's one bias "
                    "-> bias_ih, bias_hh = 0 and not trained", RNN_REQUIRED),
    "GRU": Mapping(RECURRENT, recurrent, "reset_after=True; gates z, r, h -> torch r, z, n; kernels transposed; "
                   "bias row 0 -> bias_ih, row 1 -> bias_hh", RNN_REQUIRED),
}
