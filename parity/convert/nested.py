"""Nested Sequential/Functional models, flattened into the outer graph: their layers take the
place of the model, each keeping its Keras name (so that weights still pair by name)."""

from __future__ import annotations

from typing import Callable

import keras

def is_nested(layer) -> bool:
    return isinstance(layer, keras.Model)


def flatten(order: list, inputs: dict[str, list[str]], graph: Callable) -> tuple[list, dict[str, list[str]], list[str]]:
    """``order``/``inputs`` of ``parity.convert.spec.graph`` with every nested model replaced by its
    own layers (``graph`` gives those, recursively); a reference to a nested model becomes a reference
    to the layer that makes its output."""
    flat, flat_inputs, alias, problems = [], {}, {}, []
    for layer in order:
        sources = [alias.get(name, name) for name in inputs[layer.name]]
        if not is_nested(layer):
            flat.append(layer)
            flat_inputs[layer.name] = sources
            continue
        if type(layer).__name__ not in ("Sequential", "Functional") or not type(layer).__module__.startswith("keras."):
            problems.append(f"layer {layer.name!r} is a subclassed model ({type(layer).__name__}); rebuild it as a "
                            "Functional model of Keras's built-in layers")
            continue
        inner, inner_inputs, inner_problems = graph(layer)
        problems += [f"in {layer.name!r}: {p}" for p in inner_problems]
        if not inner or inner_problems:
            continue
        own_input = layer.inputs[0]._keras_history[0].name
        for item in inner:
            flat.append(item)
            flat_inputs[item.name] = [sources[0] if name == own_input else name for name in inner_inputs[item.name]]
        alias[layer.name] = inner[-1].name
    names = [layer.name for layer in flat]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        problems.append(f"layer names {', '.join(map(repr, twice))} are used in more than one nested model; give each "
                        "layer a unique name")
    return flat, flat_inputs, problems


def find_layer(model: keras.Model, name: str):
    """The layer called ``name`` in ``model`` or in any model nested in it."""
    for layer in model._flatten_layers(include_self=False):
        if layer.name == name and not is_nested(layer):
            return layer
    return model.get_layer(name)  # Keras's own error for a name that is not there
