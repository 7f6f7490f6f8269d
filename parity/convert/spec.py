"""Read a Keras model file into the layer spec of ``lightning_mods.spec_net`` (or refuse it).

Nothing from the file runs: the layer classes are read from its JSON config before Keras
loads it, and Keras loads it with ``safe_mode=True`` (no lambdas) and ``compile=False``.
Every layer and option outside what the converter supports is refused at once, all in one
line, before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import keras
import yaml

from lightning_mods.errors import UsageError
from lightning_mods.model_file import ACTIVATIONS, SUPPORTED, check_file, refusal
from lightning_mods.spec_net import check_spec
from parity.conventions import TABLE
from parity.convert import attention_map, layer_extra, layer_table
from parity.convert.nested import flatten, is_nested

MAPPINGS = {**layer_table.MAPPINGS, **layer_extra.MAPPINGS, **attention_map.MAPPINGS}

# Config keys that do not change what a converted layer computes (its weights travel as they are).
IGNORED = {"name", "trainable", "dtype", "seed", "unroll", "unit_forget_bias", "renorm_momentum", "renorm_clipping",
           "batch_shape",
           "build_config", "module", "registered_name"}
# Keys a layer of that class reads; any other key must hold its neutral value (None, False, 0).
USED = {
    "Dense": {"units", "activation", "use_bias"}, "Activation": {"activation"}, "Dropout": {"rate"},
    "Flatten": set(), "Reshape": {"target_shape"}, "InputLayer": set(),
    "BatchNormalization": {"axis", "momentum", "epsilon", "center", "scale"},
    "LayerNormalization": {"axis", "epsilon", "center", "scale"},
    "GroupNormalization": {"axis", "groups", "epsilon", "center", "scale"},
}
REQUIRED = {"Flatten": {"data_format": "channels_last"}, "InputLayer": {"dtype": "float32"}}
INTEGER_INPUTS = ("int32", "int64")  # for a model that starts with an Embedding
# Layers whose recorded training= Keras's Functional replay overrides with the outer call's (spec.graph).
FOLLOW_OUTER_TRAINING = (keras.layers.Dropout, keras.layers.RNN, keras.Model)


def torch_momentum(keras_momentum: float) -> float:
    """torch momentum = 1 - Keras momentum, rounded to 15 digits: 0.99 -> 0.01, not 0.010000000000000009."""
    return float(f"{TABLE['bn_momentum'].to_torch(keras_momentum):.15g}")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__




def read_model(path: str | Path) -> keras.Model:
    """The Keras model in ``path``, after checking its layer classes from the file's config."""
    path = Path(path)
    check_file(path)
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as err:  # Keras raises many types here (ValueError, TypeError, OSError, ...)
        raise UsageError(f"Keras could not load {path} ({_first_line(err)}); save it again with "
                         "model.save('MODEL.keras')") from None


def graph(model: keras.Model) -> tuple[list, dict[str, list[str]], list[str]]:
    """The model's layers in topological order (inputs first), the names each layer takes its
    inputs from (the InputLayer's name for the model's input), and why it cannot be converted.
    Nested Sequential/Functional models are flattened into it (``parity.convert.nested``)."""
    order, inputs, problems = _graph(model)
    if problems or not any(is_nested(layer) for layer in order):
        return order, inputs, problems
    return flatten(order, inputs, graph)


def _graph(model: keras.Model) -> tuple[list, dict[str, list[str]], list[str]]:
    if isinstance(model, keras.Sequential):
        if not model.built or not model.inputs:
            return [], {}, ["the Sequential model has no input shape; start it with keras.Input(shape=...)"]
        names = [model.inputs[0]._keras_history[0].name] + [layer.name for layer in model.layers]
        return list(model.layers), {name: [before] for before, name in zip(names, names[1:])}, []
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        return [], {}, [f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; one of each is supported"]
    order, inputs, problems, seen = [], {}, [], {}
    stack = [(model.outputs[0], False)]
    while stack:  # depth-first, each layer placed after everything it takes: a topological order
        tensor, expanded = stack.pop()
        layer, node_index, _ = tensor._keras_history
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if expanded:
            if layer.name not in inputs:
                order.append(layer)
                inputs[layer.name] = [t._keras_history[0].name for t in layer._inbound_nodes[node_index].input_tensors]
            continue
        if seen.setdefault(layer.name, node_index) != node_index:
            problems.append(f"layer {layer.name!r} is used more than once (shared weights); give each use its own layer")
            continue
        node = layer._inbound_nodes[node_index]
        # Keras records training=None, and training=False for every Dropout and RNN (their call's default),
        # which its Functional replay overrides with the outer call's training (Dropout drops in fit,
        # checked); the converted Dropout and RNN follow the torch module's mode the same way. A BN
        # called with training= is refused (a frozen BN is written as trainable=False).
        kwargs = [key for key, value in node.arguments.kwargs.items()
                  if value is not None and not (key == "training" and isinstance(layer, FOLLOW_OUTER_TRAINING))]
        if kwargs and layer.name not in inputs:
            problems.append(f"layer {layer.name!r} is called with {', '.join(kwargs)}=...; call it on its input alone")
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(node.input_tensors))
    return order, inputs, sorted(set(problems), key=problems.index)


def _options(cls: str, config: dict) -> list[str]:
    """Options set away from what the converter reproduces."""
    mapping = MAPPINGS.get(cls)
    used = mapping.used if mapping else USED.get(cls, set())
    required = (mapping.required or {}) if mapping else REQUIRED.get(cls, {})
    bad = []
    for key, value in config.items():
        if key in IGNORED or key.endswith("_initializer") or key in used:
            if key in required and value != required[key]:
                bad.append(f"{key}={_short(value)}")
            continue
        neutral = value == required[key] if key in required else value in (None, False, 0)
        if not neutral:
            bad.append(f"{key}={_short(value)}")
    return bad


def _short(value) -> str:
    """A config value as the user wrote it: a serialized object by its class name."""
    if isinstance(value, dict) and "class_name" in value:
        return str(value.get("registered_name") or value["class_name"])
    return repr(value)


def _activation(value) -> str | None:
    if not isinstance(value, str) or value not in ACTIVATIONS:
        return None
    return "silu" if value == "swish" else value


def _axes(axis, rank: int) -> list[int]:
    """Keras's ``axis`` (an int or a list, negative counting from the end) as positive axes."""
    return [int(a) % rank for a in (axis if isinstance(axis, (list, tuple)) else [axis])]


def _norm_entry(layer, cls: str, config: dict, rank: int) -> tuple[dict, list[str]]:
    kind = {"BatchNormalization": "bn", "LayerNormalization": "ln", "GroupNormalization": "gn"}[cls]
    axes, shape = _axes(layer.axis, rank), layer.input.shape
    problems = []
    if 0 in axes:
        problems.append(f"axis={config['axis']!r} (the batch axis)")
    elif kind != "ln" and len(axes) != 1:
        problems.append(f"axis={config['axis']!r} (one axis for {cls})")
    features = [int(shape[a]) for a in axes] if len(axes) > 1 else int(shape[axes[0]])
    entry = {"layer": kind, "name": layer.name, "features": features, "eps": float(layer.epsilon),
             "center": bool(layer.center), "scale": bool(layer.scale), "trainable": bool(layer.trainable)}
    if axes != [rank - 1]:
        entry["axis"] = axes  # moved last around the norm (lightning_mods.axis_norm); the last axis needs nothing
    if kind == "bn":
        entry["momentum"] = torch_momentum(float(layer.momentum))  # torch's convention
    if kind == "gn":
        entry["groups"] = int(layer.groups)  # Keras resolves groups=-1 (InstanceNorm) to the channel count
    return entry, problems


def layer_entry(layer) -> tuple[dict | None, list[str]]:
    """The spec entry of one Keras layer, and what keeps it from being converted."""
    cls = type(layer).__name__
    if cls not in SUPPORTED or type(layer) is not getattr(keras.layers, cls, None):
        return None, ["is not supported"]
    config = layer.get_config()
    found, problems = layer_extra.regularizers(config)
    config = {key: value for key, value in config.items() if key not in layer_extra.REGULARIZER_KEYS}
    problems += _options(cls, config)
    activation = config.get("activation")
    if cls in MAPPINGS and activation is not None and _activation(activation) is None:
        problems.append(f"activation {activation!r}")
    policy = layer.dtype_policy.name
    if policy != "float32":
        problems.append(f"dtype policy {policy!r} (float32 only: build the model again under "
                        "keras.config.set_dtype_policy('float32') and copy the weights over with set_weights)")
    entry, more = _entry(layer, cls, config)
    if found and entry is not None:
        entry.update(found)  # Keras's L1/L2 penalties: SpecNet.regularization_loss adds them to the loss
    return entry, problems + more


def _entry(layer, cls: str, config: dict) -> tuple[dict | None, list[str]]:
    problems = []
    if cls in MAPPINGS:
        return MAPPINGS[cls].entry(layer, config)
    rank = len(layer.input.shape)
    if cls in ("Dense", "Activation"):
        activation = _activation(config["activation"])
        if activation is None:
            problems.append(f"activation {config['activation']!r}")
        if cls == "Activation":
            return {"layer": "activation", "activation": activation}, problems
        return {"layer": "dense", "name": layer.name, "units": int(layer.units),
                "in_features": int(layer.kernel.shape[0]), "use_bias": bool(layer.use_bias),
                "activation": activation, "trainable": bool(layer.trainable)}, problems
    if cls == "Dropout":
        return {"layer": "dropout", "rate": float(layer.rate)}, problems
    if cls == "Flatten":
        return {"layer": "flatten"}, problems
    if cls == "Reshape":
        return {"layer": "reshape", "shape": [int(d) for d in layer.output.shape[1:]]}, problems
    entry, axis_problems = _norm_entry(layer, cls, config, rank)
    return entry, problems + axis_problems


def spec_from_model(model: keras.Model, source="the model") -> list[dict]:
    """The layer spec of ``model``; a UsageError naming every unsupported layer or option. A model
    that is not a single chain (a Functional DAG: Add, Concatenate, ...) gets every entry's
    ``name`` and, where it is not the entry just before, the ``inputs`` it takes."""
    layers, inputs, problems = graph(model)
    spec = []
    if not problems:
        shape = tuple(model.inputs[0].shape[1:])
        if any(d is None for d in shape):
            problems.append(f"the input shape {shape} has unknown sizes; give keras.Input a full shape")
        embeds = any(isinstance(layer, keras.layers.Embedding) for layer in layers)
        if model.inputs[0].dtype != "float32" and not (embeds and model.inputs[0].dtype in INTEGER_INPUTS):
            problems.append(f"the input dtype is {model.inputs[0].dtype} (float32, or integers into an Embedding)")
        spec.append({"layer": "input", "shape": [int(d or 0) for d in shape]})
        if model.inputs[0].dtype != "float32":
            spec[0]["dtype"] = str(model.inputs[0].dtype)  # integer ids (for keras.Input on the way back)
    names = [model.inputs[0]._keras_history[0].name] + [layer.name for layer in layers]
    is_chain = all(inputs.get(name) == [before] for before, name in zip(names, names[1:]))
    if not is_chain and spec:
        spec[0]["name"] = names[0]
    for before, layer in zip(names, layers):
        entry, bad = layer_entry(layer)
        if bad:
            what = bad[0] if bad == ["is not supported"] else "options " + ", ".join(bad) + " are not supported"
            problems.append(f"layer {layer.name!r} ({type(layer).__name__}) {what}")
        elif entry is not None:
            if not is_chain:
                entry["name"] = layer.name
                if inputs[layer.name] != [before]:
                    entry["inputs"] = inputs[layer.name]
            spec.append(entry)
    if problems:
        raise refusal(source, problems)
    check_spec(spec)
    return spec


def dump_spec(spec: list[dict]) -> str:
    """The spec as YAML (``yaml.safe_dump``: plain types only)."""
    return yaml.safe_dump(spec, sort_keys=False)
