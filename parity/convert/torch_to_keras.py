"""Torch -> Keras: a ``SpecNet`` or a training run's checkpoint becomes a Keras model with its weights."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import torch
from torch import nn

from lightning_mods.errors import UsageError
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.spec_net import SPEC_FILE, SpecNet, read_spec
from parity.compare import build_keras
from parity.conventions import NetSpec
from parity.convert.keras_to_torch import pairs
from parity.convert.arrays import set_keras, torch_arrays
from parity.transfer import torch_to_keras


def keras_momentum(torch_momentum: float) -> float:
    """Keras momentum = 1 - torch momentum, rounded to 15 digits so that 0.99 -> 0.01 -> 0.99 exactly."""
    return float(f"{1.0 - torch_momentum:.15g}")


def keras_layer(entry: dict) -> keras.layers.Layer:
    """The Keras layer one spec entry describes (Keras's defaults for everything else)."""
    kind, name, trainable = entry["layer"], entry.get("name"), entry.get("trainable", True)
    common = dict(name=name, trainable=trainable) if name else {}
    named = dict(name=name) if name else {}  # layers without weights
    norm = dict(epsilon=entry.get("eps"), center=entry.get("center", True), scale=entry.get("scale", True), **common)
    if kind == "flatten":
        return keras.layers.Flatten(**named)
    if kind == "reshape":
        return keras.layers.Reshape(tuple(entry["shape"]), **named)
    if kind == "dropout":
        return keras.layers.Dropout(entry["rate"], **named)
    if kind == "activation":
        return keras.layers.Activation(entry["activation"], **named)
    if kind == "dense":
        return keras.layers.Dense(entry["units"], activation=entry["activation"], use_bias=entry["use_bias"], **common)
    if kind == "bn":
        return keras.layers.BatchNormalization(momentum=keras_momentum(entry["momentum"]), **norm)
    if kind == "ln":
        return keras.layers.LayerNormalization(**norm)
    if kind == "gn":
        return keras.layers.GroupNormalization(groups=entry["groups"], **norm)
    if kind == "lstm":
        return keras.layers.LSTM(entry["units"], return_sequences=entry["return_sequences"], **common)
    return keras_layer_of_table(entry, common, named)


def keras_layer_of_table(entry: dict, common: dict, named: dict) -> keras.layers.Layer:
    """The Keras layer of a ``parity.convert.layer_table`` entry (convolutions, pooling, merges, preprocessing)."""
    kind, L = entry["layer"], keras.layers
    if kind == "conv":
        rank, options = entry["rank"], dict(strides=tuple(entry["strides"]), padding=entry["padding"],
                                            use_bias=entry["use_bias"], activation=entry["activation"], **common)
        if entry.get("depthwise"):
            return getattr(L, f"DepthwiseConv{rank}D")(tuple(entry["kernel"]), depth_multiplier=entry["filters"] // entry["groups"],
                                                      dilation_rate=tuple(entry["dilation"]), **options)
        return getattr(L, f"Conv{rank}D")(entry["filters"], tuple(entry["kernel"]), dilation_rate=tuple(entry["dilation"]),
                                          groups=entry["groups"], **options)
    if kind == "pool":
        cls = f"{'Max' if entry['op'] == 'max' else 'Average'}Pooling{entry['rank']}D"
        return getattr(L, cls)(tuple(entry["size"]), strides=tuple(entry["strides"]), padding=entry["padding"], **named)
    if kind == "global_pool":
        return getattr(L, f"Global{'Max' if entry['op'] == 'max' else 'Average'}Pooling{entry['rank']}D")(**named)
    if kind == "merge":
        cls = entry["op"].capitalize()
        return L.Concatenate(axis=entry["axis"], **named) if cls == "Concatenate" else getattr(L, cls)(**named)
    if kind == "rescale":
        return L.Rescaling(entry["scale"], entry["offset"], **named)
    return L.Normalization(mean=np.asarray(entry["mean"]).reshape(-1), variance=np.asarray(entry["variance"]).reshape(-1), **named)


def keras_model(spec: list[dict]) -> keras.Model:
    """The model a spec describes (fresh weights): Sequential for a chain, Functional for a DAG."""
    if not any("inputs" in e for e in spec):
        return keras.Sequential([keras.Input(tuple(spec[0]["shape"]))] + [keras_layer(e) for e in spec[1:]])
    inputs = keras.Input(tuple(spec[0]["shape"]), name=spec[0].get("name"))
    tensors, x = {spec[0].get("name", "input"): inputs}, inputs
    for entry in spec[1:]:
        args = [tensors[n] for n in entry.get("inputs", [])]
        x = keras_layer(entry)(args if len(args) > 1 else (args[0] if args else x))
        tensors[entry.get("name", f"node{len(tensors)}")] = x
    return keras.Model(inputs, x)


def copy_to_keras(net: SpecNet, model: keras.Model) -> keras.Model:
    """Every weight and moving statistic of ``net`` into ``model`` (the LSTM's b_ih + b_hh -> bias)."""
    for _, module, layer in pairs(net, model):
        set_keras(layer, torch_arrays(module, layer))
    return model


def spec_net_to_keras(net: SpecNet) -> keras.Model:
    return copy_to_keras(net, keras_model(net.spec))


def net_spec(config: NetConfig) -> NetSpec:
    """The Keras words of one of the project's nets (``parity.conventions`` read backwards)."""
    return NetSpec(arch=config.arch, norm=config.norm, placement=config.placement, activation=config.activation,
                   hidden_units=list(config.hidden), groups=config.groups, lstm_units=config.lstm_units,
                   bn_momentum=keras_momentum(config.bn_momentum), epsilon=config.eps, dropout=config.dropout,
                   norm_logits=config.norm_logits)


def read_checkpoint(path: str | Path) -> tuple[NetConfig, nn.Module]:
    """The net config and the trained net of a run's Lightning checkpoint (``weights_only``)."""
    path = Path(path)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        net_values, state = checkpoint["hyper_parameters"]["net"], checkpoint["state_dict"]
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist; give RUN_DIR/checkpoints/best.ckpt of a training run") from None
    except Exception as err:  # not a torch file, or not a checkpoint of scripts/train.py
        raise UsageError(f"{path} is not a checkpoint of scripts/train.py ({str(err).splitlines()[0][:120] or type(err).__name__}); "
                         "give RUN_DIR/checkpoints/best.ckpt") from None
    config = NetConfig(**net_values)
    if config.net_dir is not None and not (Path(config.net_dir) / SPEC_FILE).is_file():
        raise UsageError(f"the run trained the converted net in {config.net_dir}, whose {SPEC_FILE} is gone; "
                         "put it back there (the checkpoint holds the weights, the spec holds the layers)")
    net = SpecNet(read_spec(Path(config.net_dir) / SPEC_FILE)) if config.net_dir else build_net(config)
    prefix = "net."
    weights = {key[len(prefix):]: value for key, value in state.items() if key.startswith(prefix)}
    net.load_state_dict(weights)  # SpecNet(logits=False) has the same parameters as the trained logits net
    return config, net


def checkpoint_to_keras(path: str | Path) -> tuple[keras.Model, nn.Module, NetConfig]:
    """A Keras model holding the run's trained weights; also the torch net and its config."""
    config, net = read_checkpoint(path)
    if isinstance(net, SpecNet):
        return spec_net_to_keras(net), net, config
    spec = net_spec(config)
    model = build_keras(config, spec.keras_kwargs())
    torch_to_keras(net, model)
    return model, net, config
