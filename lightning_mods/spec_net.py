"""A net built from a layer spec: the torch side of a converted Keras model (``parity.convert``).

The spec is a list of plain dicts (``spec.yaml``), one per Keras layer of a single chain, in
torch's words where the two differ (BN ``momentum`` is torch's, ``1 - keras momentum``). The
first entry is the input, e.g. ``{layer: input, shape: [28, 28]}``; then any of:

    flatten | reshape(shape) | dense(units, in_features, use_bias, activation) | activation(activation)
    | dropout(rate) | bn(features, momentum, eps) | ln(features, eps) | gn(features, groups, eps)
    | lstm(in_features, units, return_sequences) | relu | elu | embedding | gru (``lightning_mods.spec_extra``)

norms also take ``center``, ``scale``; every weight-carrying layer ``trainable`` and its Keras
``name``. Norms come from the project's factory with Keras's rules: BN's moving variance is
updated with the biased batch variance, a ``trainable: false`` BN is a FrozenBatchNorm1d.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
import yaml
from torch import nn

from lightning_mods.axis_norm import AxisNorm
from lightning_mods.errors import UsageError
from lightning_mods import spec_extra, spec_layers
from lightning_mods.norms import SequenceNorm, make_activation, make_norm
from lightning_mods.recurrent_loop import draw, lstm_loop

SPEC_FILE = "spec.yaml"
WEIGHTS_FILE = "weights.pt"
# Keras's activation names (Keras 3 calls swish silu) -> torch modules; gelu is exact in both.
ACTIVATIONS = {
    "relu": lambda: make_activation("relu"), "gelu": lambda: make_activation("gelu"),
    "silu": lambda: make_activation("silu"), "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
    "softmax": lambda: nn.Softmax(dim=-1), "linear": nn.Identity,
    # Keras 3's definitions: leaky_relu's slope 0.2 (a float32 in TensorFlow's op), hard_sigmoid =
    # relu6(x + 3) / 6 (written out: see spec_extra.HardSigmoid)
    "elu": nn.ELU, "selu": nn.SELU, "leaky_relu": lambda: nn.LeakyReLU(spec_extra.tf_float32(0.2)), "relu6": nn.ReLU6,
    "hard_sigmoid": spec_extra.HardSigmoid, "softplus": nn.Softplus,
}
REQUIRED = {
    "input": ("shape",), "flatten": (), "reshape": ("shape",), "dropout": ("rate",), "activation": ("activation",),
    "dense": ("units", "in_features", "use_bias", "activation"), "bn": ("features", "momentum", "eps"),
    "ln": ("features", "eps"), "gn": ("features", "groups", "eps"), "lstm": ("in_features", "units", "return_sequences"),
    **spec_layers.REQUIRED, **spec_extra.REQUIRED,
}
WEIGHTED = ("dense", "bn", "ln", "gn", "lstm", "conv", "embedding", "gru", "mha")


class Reshape(nn.Module):
    """Keras's ``Reshape(target_shape)``: every axis but the batch one, row-major as Keras."""

    def __init__(self, shape: list[int]) -> None:
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


class KerasLSTM(nn.Module):
    """A one-layer ``nn.LSTM`` (batch first) with Keras's single bias: all of it in ``bias_ih``,
    ``bias_hh`` fixed at 0 and not trained (two trained biases would move the effective bias
    twice as fast as Keras's). Returns every step's output or the last one, as ``return_sequences``.
    With Keras's ``recurrent_dropout`` (the rates held as ``nn.Dropout``'s ``p``), training runs
    Keras's step loop with its masks (``lightning_mods.recurrent_loop``)."""

    def __init__(self, in_features: int, units: int, return_sequences: bool, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_features, units, batch_first=True)
        self.return_sequences = return_sequences
        self.drop_inputs, self.drop_state = nn.Dropout(dropout), nn.Dropout(recurrent_dropout)
        with torch.no_grad():
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.drop_state.p > 0:
            out = lstm_loop(self.lstm, x, *draw(x, self.lstm.hidden_size, 4, self.drop_inputs.p, self.drop_state.p))
        else:
            out, _ = self.lstm(x)  # (B, T, units)
        return out if self.return_sequences else out[:, -1]


def check_spec(spec) -> None:
    """Raise a one-line UsageError unless ``spec`` is a list of known layer entries."""
    if not isinstance(spec, list) or not spec or not isinstance(spec[0], dict) or spec[0].get("layer") != "input":
        raise UsageError("the layer spec must be a list whose first entry is {layer: input, shape: [...]}; "
                         "use the spec.yaml that scripts/convert.py wrote")
    for i, entry in enumerate(spec):
        kind = entry.get("layer") if isinstance(entry, dict) else None
        if kind not in REQUIRED:
            raise UsageError(f"layer spec entry {i} has unknown layer {kind!r}; known: {', '.join(REQUIRED)}")
        missing = [key for key in REQUIRED[kind] if key not in entry]
        if missing:
            raise UsageError(f"layer spec entry {i} ({kind}) lacks {', '.join(missing)}; add it or re-convert the model")
        earlier = [e.get("name") for e in spec[:i]] + ([spec[0].get("name", "input")] if i else [])
        inputs = entry.get("inputs")
        if inputs is not None and (not isinstance(inputs, list) or not inputs or any(n not in earlier for n in inputs)):
            raise UsageError(f"layer spec entry {i} ({kind}) takes inputs {inputs!r}, which are not names of earlier "
                             "entries; use the spec.yaml that scripts/convert.py wrote")
        axis = entry.get("axis") if kind in ("bn", "ln", "gn") else None
        if axis is not None and not (isinstance(axis, list) and axis and all(type(a) is int and a >= 1 for a in axis)):
            raise UsageError(f"layer spec entry {i} ({kind}): axis {axis!r} is not a list of axes after the batch axis "
                             "(e.g. [1]); use the spec.yaml that scripts/convert.py wrote")
        for key in ("activation",):
            if key in entry and entry[key] not in ACTIVATIONS:
                raise UsageError(f"layer spec entry {i} ({kind}): activation {entry[key]!r} is not one of "
                                 f"{', '.join(ACTIVATIONS)}")


def _norm(entry: dict) -> nn.Module:
    options = dict(eps=entry["eps"], center=entry.get("center", True), scale=entry.get("scale", True),
                   frozen=not entry.get("trainable", True))
    if entry["layer"] == "bn":
        options.update(bn_momentum=entry["momentum"], bn_variance="biased")  # Keras's moving-variance rule
    if entry["layer"] == "gn":
        options.update(groups=entry["groups"])
    features = entry["features"]  # LN over several axes: their sizes, in Keras's order (its gamma's shape)
    norm = SequenceNorm(make_norm(entry["layer"], tuple(features) if isinstance(features, list) else features,
                                  **options))  # Keras's axis=-1 on any rank
    return AxisNorm(norm, entry["axis"]) if "axis" in entry else norm  # another axis: moved last and back


def _modules(entry: dict) -> list[nn.Module]:
    """The torch modules of one spec entry (a Dense with an activation is two)."""
    kind = entry["layer"]
    if kind == "flatten":
        return [nn.Flatten()]
    if kind == "reshape":
        return [Reshape(entry["shape"])]
    if kind == "dropout":
        return [nn.Dropout(entry["rate"])]
    if kind == "activation":
        return [ACTIVATIONS[entry["activation"]]()]
    if kind == "dense":
        linear = nn.Linear(entry["in_features"], entry["units"], bias=entry["use_bias"])
        return [linear] + ([] if entry["activation"] == "linear" else [ACTIVATIONS[entry["activation"]]()])
    if kind == "lstm":
        return spec_extra.recurrent_dropout(entry) + [KerasLSTM(entry["in_features"], entry["units"],
                                                                entry["return_sequences"], *spec_extra.loop_rates(entry))]
    if kind in spec_extra.REQUIRED:
        return spec_extra.build(entry)
    if kind in spec_layers.REQUIRED:
        module = spec_layers.build(entry)
        activation = entry.get("activation", "linear")
        return [module] + ([] if activation == "linear" else [ACTIVATIONS[activation]()])
    return [_norm(entry)]


def _inner(built: list[nn.Module]) -> nn.Module:
    """The module holding a weighted entry's Keras weights: the Linear, norm, conv, nn.LSTM/GRU or nn.Embedding."""
    first = next(m for m in built if not isinstance(m, spec_extra.SequenceDropout))
    if isinstance(first, AxisNorm):
        first = first.norm
    if isinstance(first, SequenceNorm):
        return first.norm
    for key in ("lstm", "gru", "conv", "embedding", "attention"):
        if hasattr(first, key):
            return getattr(first, key)
    return first


def _freeze(module: nn.Module) -> None:
    for param in module.parameters():
        param.requires_grad_(False)


class SpecNet(nn.Module):
    """The chain of modules a spec describes. ``logits=True`` leaves out a final softmax (for
    training on cross-entropy from logits; the predicted classes are the same).

    >>> spec = [{"layer": "input", "shape": [28, 28]}, {"layer": "flatten"},
    ...         {"layer": "dense", "units": 10, "in_features": 784, "use_bias": True, "activation": "softmax"}]
    >>> torch.allclose(SpecNet(spec)(torch.zeros(2, 28, 28)).sum(dim=1), torch.ones(2))  # softmax rows sum to 1
    True
    """

    def __init__(self, spec: list[dict], logits: bool = False) -> None:
        super().__init__()
        check_spec(spec)
        self.spec = spec
        self.input_shape = tuple(spec[0]["shape"])
        modules: list[nn.Module] = []
        self.slices: list[tuple] = []  # (entry name, its inputs or None, first module, end module)
        self.weighted: dict[str, nn.Module] = {}  # Keras layer name -> its torch module (not registered twice)
        self.regularized: list[tuple[nn.Module, dict]] = []  # (module, its entry) of Keras's regularizers
        for i, entry in enumerate(spec[1:], start=1):
            built = _modules(entry)
            if entry["layer"] in WEIGHTED:
                inner = _inner(built)
                if not entry.get("trainable", True):
                    _freeze(inner)
                self.weighted[entry.get("name", f"layer_{i}")] = inner  # the Linear, norm or nn.LSTM itself
                self.regularized += [(inner, entry)] if any(k in entry for k in spec_extra.REGULARIZED) else []
            self.slices.append((entry.get("name", f"layer_{i}"), entry.get("inputs"), len(modules), len(modules) + len(built)))
            modules += built
        if logits and modules and isinstance(modules[-1], nn.Softmax):
            modules.pop()
            name, inputs, start, _ = self.slices[-1]
            self.slices[-1] = (name, inputs, start, len(modules))
        self.layers = nn.Sequential(*modules)  # every module once, in spec order (the state dict's keys)
        self.graph = any(entry.get("inputs") for entry in spec)

    def regularization_loss(self) -> torch.Tensor | None:
        """What Keras's ``kernel_regularizer``/``bias_regularizer``/... add to the training loss
        (``sum(model.losses)``): ``l1 * sum(|w|) + l2 * sum(w ** 2)`` per weight; None without any."""
        terms = [t for t in (spec_extra.penalty(module, entry) for module, entry in self.regularized) if t is not None]
        return torch.stack(terms).sum() if terms else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # (B, *input_shape); a (B, 1, 28, 28) image batch fits a (28, 28) or (28, 28, 1) input as well
        x = x.reshape(x.shape[0], *self.input_shape)
        if not self.graph:
            return self.layers(x)
        # A Functional DAG: the entries are in topological order; each takes the outputs its
        # ``inputs`` name (several for a merge), or the previous entry's output.
        outputs = {self.spec[0].get("name", "input"): x}
        for name, inputs, start, end in self.slices:
            x = [outputs[n] for n in inputs] if inputs and len(inputs) > 1 else (outputs[inputs[0]] if inputs else x)
            for module in self.layers[start:end]:
                x = module(x)
            outputs[name] = x
        return x


def read_spec(path: str | Path) -> list[dict]:
    """The spec in a YAML file (``safe_load``: no code runs), checked."""
    path = Path(path)
    try:
        spec = yaml.safe_load(path.read_text())
    except OSError as err:
        raise UsageError(f"{path} cannot be read ({err.strerror}); convert a model first with scripts/convert.py") from None
    except yaml.YAMLError:
        raise UsageError(f"{path} is not valid YAML; use the spec.yaml that scripts/convert.py wrote") from None
    check_spec(spec)
    return spec


def load_net(net_dir: str | Path, logits: bool = False) -> SpecNet:
    """The converted net saved in ``net_dir`` (``spec.yaml`` + ``weights.pt``), weights loaded
    with ``weights_only=True`` (no pickled code runs)."""
    net_dir = Path(net_dir)
    if not (net_dir / SPEC_FILE).is_file() or not (net_dir / WEIGHTS_FILE).is_file():
        raise UsageError(f"--net {net_dir} holds no {SPEC_FILE} and {WEIGHTS_FILE}; "
                         "make it with: python scripts/convert.py keras-to-torch MODEL.keras --out DIR")
    net = SpecNet(read_spec(net_dir / SPEC_FILE), logits=logits)
    try:
        state = torch.load(net_dir / WEIGHTS_FILE, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    except pickle.UnpicklingError:  # weights_only refused a pickled object: nothing ran
        raise UsageError(f"{net_dir / WEIGHTS_FILE} holds pickled objects, not a plain state dict of tensors; "
                         "re-convert the model with scripts/convert.py") from None
    except (RuntimeError, ValueError, OSError, EOFError) as err:
        first = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise UsageError(f"{net_dir / WEIGHTS_FILE} does not fit {SPEC_FILE} ({first}); re-convert the model") from None
    return net
