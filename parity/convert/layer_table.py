"""The converter's table of layer mappings for convolutions, pooling, merges and preprocessing:
one entry per Keras class (the config keys it reads, the spec entry it becomes, the conventions
mapped), and the weight layout of the convolutions both ways. ``parity.convert.spec`` reads the
dense-side layers (Dense, norms, LSTM) itself; everything added since lives here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np

LAYOUT = "NHWC kept; channels moved to torch's axis 1 around the op"


@dataclass(frozen=True)
class Mapping:
    used: frozenset  # config keys the entry reads (any other must hold its neutral value)
    entry: Callable  # (layer, config) -> (spec entry, problems)
    conventions: str  # what was mapped, for parity.md's conversion summary
    required: dict | None = None  # config keys that must hold exactly these values


def _tuple(value) -> list[int]:
    return [int(v) for v in (value if isinstance(value, (list, tuple)) else [value])]


def _conv(layer, config) -> tuple[dict, list[str]]:
    depthwise = isinstance(layer, (keras.layers.DepthwiseConv1D, keras.layers.DepthwiseConv2D))
    rank = len(_tuple(config["kernel_size"]))
    channels = int(layer.input.shape[-1])
    filters = channels * int(config["depth_multiplier"]) if depthwise else int(config["filters"])
    groups = channels if depthwise else int(config.get("groups", 1))
    activation = config["activation"]
    entry = {"layer": "conv", "name": layer.name, "rank": rank, "in_channels": channels, "filters": filters,
             "kernel": _tuple(config["kernel_size"]), "strides": _tuple(config["strides"]),
             "dilation": _tuple(config["dilation_rate"]), "padding": config["padding"],
             "use_bias": bool(config["use_bias"]), "activation": activation, "groups": groups,
             "trainable": bool(layer.trainable)}
    if depthwise:
        entry["depthwise"] = True  # the same torch module as a grouped conv; Keras's kernel layout differs
    problems = [] if config["padding"] in ("valid", "same") else [f"padding={config['padding']!r} (valid or same)"]
    if any(s > 1 for s in entry["strides"]) and any(d > 1 for d in entry["dilation"]):
        problems.append("strides and dilation_rate both above 1")
    return entry, problems


def _pool(op: str):
    def entry(layer, config):
        size = _tuple(config["pool_size"])
        strides = _tuple(config["strides"]) if config.get("strides") is not None else size
        return {"layer": "pool", "op": op, "rank": len(size), "size": size, "strides": strides,
                "padding": config["padding"]}, []
    return entry


def _global(op: str):
    def entry(layer, config):
        return {"layer": "global_pool", "op": op, "rank": len(layer.input.shape) - 2}, []
    return entry


def _merge(op: str):
    def entry(layer, config):
        return {"layer": "merge", "op": op, "axis": int(config.get("axis", -1))}, []
    return entry


def _rescale(layer, config):
    as_list = lambda v: np.asarray(v, np.float64).tolist()  # noqa: E731  (a float or a per-channel list)
    return {"layer": "rescale", "scale": as_list(config["scale"]), "offset": as_list(config["offset"])}, []


def _normalize(layer, config):
    if config.get("invert"):
        return None, ["invert=True"]
    mean, variance = (keras.ops.convert_to_numpy(v).astype(np.float64) for v in (layer.mean, layer.variance))
    return {"layer": "normalize", "mean": mean.tolist(), "variance": variance.tolist()}, []


CONV_KEYS = frozenset({"filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias",
                       "depth_multiplier", "groups"})
CHANNELS_LAST = {"data_format": "channels_last"}
POOL_KEYS = frozenset({"pool_size", "strides", "padding"})
CONV_NOTE = f"kernel (*k, in, out) -> weight (out, in, *k); 'same' padded as TensorFlow; {LAYOUT}"
MAPPINGS: dict[str, Mapping] = {
    "Conv1D": Mapping(CONV_KEYS, _conv, CONV_NOTE, CHANNELS_LAST),
    "Conv2D": Mapping(CONV_KEYS, _conv, CONV_NOTE, CHANNELS_LAST),
    "DepthwiseConv1D": Mapping(CONV_KEYS, _conv, "kernel (*k, in, m) -> weight (in*m, 1, *k), groups=in; " + LAYOUT,
                               CHANNELS_LAST),
    "DepthwiseConv2D": Mapping(CONV_KEYS, _conv, "kernel (*k, in, m) -> weight (in*m, 1, *k), groups=in; " + LAYOUT,
                               CHANNELS_LAST),
    **{f"{op}Pooling{r}D": Mapping(POOL_KEYS, _pool("max" if op == "Max" else "avg"), f"'same' as TensorFlow (average over the input "
                                   f"cells only); {LAYOUT}", CHANNELS_LAST)
       for op in ("Max", "Average") for r in (1, 2)},
    **{f"Global{op}Pooling{r}D": Mapping(frozenset(), _global("max" if op == "Max" else "avg"), "over the spatial axes (channels last)",
                                         {**CHANNELS_LAST, "keepdims": False})
       for op in ("Max", "Average") for r in (1, 2)},
    **{cls: Mapping(frozenset({"axis"}), _merge(cls.lower()), "a module over the list of inputs")
       for cls in ("Add", "Subtract", "Multiply", "Average", "Concatenate")},
    "Rescaling": Mapping(frozenset({"scale", "offset"}), _rescale, "x * scale + offset, fixed buffers"),
    "Normalization": Mapping(frozenset({"axis", "mean", "variance", "invert"}), _normalize,
                             "(x - mean) / max(sqrt(variance), 1e-7) with the adapted values, fixed buffers"),
}


def conv_to_torch(kernel: np.ndarray, depthwise: bool) -> np.ndarray:
    """Keras kernel -> torch weight: ``(*k, in, out)`` -> ``(out, in, *k)``; depthwise
    ``(*k, in, m)`` -> ``(in*m, 1, *k)`` (output channel c*m + j in both)."""
    rank = kernel.ndim - 2
    if depthwise:
        moved = np.moveaxis(kernel, (rank, rank + 1), (0, 1))  # (in, m, *k)
        return moved.reshape(-1, 1, *kernel.shape[:rank])
    return np.transpose(kernel, (rank + 1, rank, *range(rank)))


def conv_to_keras(weight: np.ndarray, depthwise: bool, channels: int) -> np.ndarray:
    """The inverse of ``conv_to_torch``."""
    rank = weight.ndim - 2
    if depthwise:
        moved = weight.reshape(channels, -1, *weight.shape[2:])  # (in, m, *k)
        return np.moveaxis(moved, (0, 1), (rank, rank + 1))
    return np.transpose(weight, (*range(2, rank + 2), 1, 0))
