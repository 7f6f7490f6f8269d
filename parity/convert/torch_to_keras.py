"""Torch -> Keras: a ``SpecNet`` or a training run's checkpoint becomes a Keras model with its weights.

Every net ``scripts/train.py`` trains: the MLP and LSTM (``keras_ref.models`` + ``parity.transfer``),
the CNN, BN-LeNet and ViT (``keras_ref.conv_models`` / ``keras_ref.vit`` + ``parity.transfer_vision``:
the Dense after Flatten and a (C, H, W) LayerNorm permuted to Keras's (H, W, C), MHA through
``parity.attention``), and a converted ``--net`` (its spec read back into Keras layers, the DAG as a
Functional model; ``parity.convert.arrays``). A spec entry this module cannot map (a layer kind or an
option added to the forward path only) is refused in one line before anything is written.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import torch
from torch import nn

from lightning_mods.errors import UsageError
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.spec_net import SPEC_FILE, SpecNet, read_spec
from parity import transfer_vision
from parity.compare import build_keras
from parity.compare_vision import VISION_ARCHS
from parity.compare_vision import build_keras as build_vision_keras
from parity.conventions import NetSpec
from parity.convert.keras_to_torch import pairs
from parity.convert.arrays import set_keras, torch_arrays
from parity.convert.reverse_extra import extra_layer, input_dtype, merged_mapped, with_options
from parity.transfer import torch_to_keras


def keras_momentum(torch_momentum: float) -> float:
    """Keras momentum = 1 - torch momentum, rounded to 15 digits so that 0.99 -> 0.01 -> 0.99 exactly."""
    return float(f"{1.0 - torch_momentum:.15g}")


def keras_layer(entry: dict) -> keras.layers.Layer:
    """The Keras layer one spec entry describes (Keras's defaults for everything else), with its
    regularizers and recurrent dropout rates (``reverse_extra``)."""
    name, trainable = entry.get("name"), entry.get("trainable", True)
    common = dict(name=name, trainable=trainable) if name else {}
    named = dict(name=name) if name else {}  # layers without weights
    return extra_layer(entry, common, named) or with_options(base_layer(entry, common, named), entry)


def norm_options(entry: dict, common: dict) -> dict:
    """A bn/ln/gn entry's Keras options; ``axis``: -1, one int, or (LN over several axes) the list."""
    axes = entry.get("axis", [-1])
    return dict(epsilon=entry.get("eps"), center=entry.get("center", True), scale=entry.get("scale", True),
                axis=axes[0] if len(axes) == 1 else list(axes), **common)


def base_layer(entry: dict, common: dict, named: dict) -> keras.layers.Layer:
    """The Keras layer of the entries this module maps itself (the older kinds)."""
    kind = entry["layer"]
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
        return keras.layers.BatchNormalization(momentum=keras_momentum(entry["momentum"]), **norm_options(entry, common))
    if kind == "ln":
        return keras.layers.LayerNormalization(**norm_options(entry, common))
    if kind == "gn":
        return keras.layers.GroupNormalization(groups=entry["groups"], **norm_options(entry, common))
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
    return normalization(entry, named)


def normalization(entry: dict, named: dict) -> keras.layers.Normalization:
    """An adapted ``Normalization`` from the spec's mean and variance, which keep Keras's broadcast
    shape (the batch axis first, 1 on every axis not kept): ``axis`` = the kept axes (None: one
    mean for the whole input), the values given in the kept axes' shape."""
    mean, variance = (np.asarray(entry[key], np.float64) for key in ("mean", "variance"))
    keep = tuple(i for i, size in enumerate(mean.shape) if i and size != 1)
    kept = [mean.shape[i] for i in keep]
    return keras.layers.Normalization(axis=keep or None, mean=mean.reshape(kept), variance=variance.reshape(kept),
                                      **named)


# The spec keys this module maps, per layer kind (besides ``layer``, ``name``, ``inputs``). Anything
# else (a kind or an option the forward path learned later) is refused, not dropped: a silently
# dropped option would give a Keras model that computes something else.
NORM_KEYS = {"features", "eps", "center", "scale", "trainable", "axis"}
MAPPED = merged_mapped({
    "input": {"shape"}, "flatten": set(), "reshape": {"shape"}, "dropout": {"rate"}, "activation": {"activation"},
    "dense": {"units", "in_features", "use_bias", "activation", "trainable"}, "bn": NORM_KEYS | {"momentum"},
    "ln": NORM_KEYS, "gn": NORM_KEYS | {"groups"}, "lstm": {"in_features", "units", "return_sequences", "trainable"},
    "conv": {"rank", "in_channels", "filters", "kernel", "strides", "dilation", "padding", "use_bias", "activation",
             "groups", "depthwise", "trainable"},
    "pool": {"op", "rank", "size", "strides", "padding"}, "global_pool": {"op", "rank"}, "merge": {"op", "axis"},
    "rescale": {"scale", "offset"}, "normalize": {"mean", "variance"},
})  # and the kinds and options of reverse_extra (relu, elu, embedding, gru, mha; regularizers, recurrent dropout)
ALWAYS = {"layer", "name", "inputs"}


def unmapped(spec: list[dict]) -> list[str]:
    """What in ``spec`` has no Keras mapping here, one phrase per entry."""
    problems = []
    for i, entry in enumerate(spec):
        kind, label = entry.get("layer"), repr(entry.get("name", f"entry {i}"))
        if kind not in MAPPED:
            problems.append(f"{label} ({kind})")
        elif set(entry) - ALWAYS - MAPPED[kind]:
            problems.append(f"{label} ({kind}: option {', '.join(sorted(set(entry) - ALWAYS - MAPPED[kind]))})")
    return problems


def refuse_unmapped(spec: list[dict], where: str = "the converted net") -> None:
    problems = unmapped(spec)
    if problems:
        raise UsageError(f"{where} has layers torch-to-keras cannot map back yet: {'; '.join(problems)}; use the "
                         "trained torch module as it is (parity.convert.load), or leave those layers out of the model")


def keras_model(spec: list[dict]) -> keras.Model:
    """The model a spec describes (fresh weights): Sequential for a chain, Functional for a DAG."""
    dtype = input_dtype(spec)
    if not any("inputs" in e for e in spec):
        return keras.Sequential([keras.Input(tuple(spec[0]["shape"]), dtype=dtype)] + [keras_layer(e) for e in spec[1:]])
    inputs = keras.Input(tuple(spec[0]["shape"]), name=spec[0].get("name"), dtype=dtype)
    tensors, x = {spec[0].get("name", "input"): inputs}, inputs
    for entry in spec[1:]:
        args = [tensors[n] for n in entry.get("inputs", [])]
        layer = keras_layer(entry)
        if entry["layer"] == "mha":  # attention takes query, value[, key], not one list as a merge does
            x = layer(*(args or [x]))
        else:
            x = layer(args if len(args) > 1 else (args[0] if args else x))
        tensors[entry.get("name", f"node{len(tensors)}")] = x
    return keras.Model(inputs, x)


def copy_to_keras(net: SpecNet, model: keras.Model) -> keras.Model:
    """Every weight and moving statistic of ``net`` into ``model`` (the LSTM's b_ih + b_hh -> bias)."""
    for _, module, layer in pairs(net, model):
        set_keras(layer, torch_arrays(module, layer))
    return model


def spec_net_to_keras(net: SpecNet, where: str = "the converted net") -> keras.Model:
    refuse_unmapped(net.spec, where)
    return copy_to_keras(net, keras_model(net.spec))


def vision_kwargs(config: NetConfig) -> dict:
    """The Keras builder's words for a CNN, BN-LeNet or ViT run (``parity.compare_vision.vision_pair`` backwards)."""
    common = dict(norm=config.norm, activation=config.activation, bn_momentum=keras_momentum(config.bn_momentum),
                  epsilon=config.eps)
    if config.arch == "vit":
        return common
    return dict(common, placement=config.placement, groups=config.groups, ln_axes=config.ln_axes)


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
    try:
        config = NetConfig(**net_values)
    except TypeError as err:  # a checkpoint of another version of the project
        raise UsageError(f"{path} holds a net config this version does not know ({err}); convert it with the "
                         "version of the project that trained it") from None
    if config.net_dir is None and config.arch not in ("mlp", "lstm", *VISION_ARCHS):
        raise UsageError(f"{path} trained a net of arch {config.arch!r}, which torch-to-keras cannot map; it maps "
                         f"mlp, lstm, {', '.join(VISION_ARCHS)} and converted nets (--net)")
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
        return spec_net_to_keras(net, f"the converted net of {config.net_dir}"), net, config
    if config.arch in VISION_ARCHS:
        model = build_vision_keras(config.arch, vision_kwargs(config))
        transfer_vision.torch_to_keras(net, model)
        return model, net, config
    spec = net_spec(config)
    model = build_keras(config, spec.keras_kwargs())
    torch_to_keras(net, model)
    return model, net, config
