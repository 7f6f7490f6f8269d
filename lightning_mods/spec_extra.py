"""The torch modules of a converted model's parametric activations, embeddings, GRUs and recurrent
dropout, and the weight penalties of Keras's regularizers (``lightning_mods.spec_net``'s spec).

Spec entries, in torch's words:

    relu(max_value, negative_slope, threshold) | elu(alpha) | embedding(input_dim, output_dim)
    | gru(in_features, units, return_sequences) | mha(dim, heads, dropout)

``lstm`` and ``gru`` entries may carry ``dropout`` and ``recurrent_dropout`` (Keras's rates).
Weight-carrying entries may carry ``kernel_regularizer``, ``bias_regularizer``,
``recurrent_regularizer`` or ``embeddings_regularizer``, each ``{l1: a, l2: b}``: Keras adds
``l1 * sum(|w|) + l2 * sum(w ** 2)`` (no 1/2) per weight to the training loss, and so does
``penalty`` (``SpecNet.regularization_loss``), with the factors rounded to float32 as Keras on
TensorFlow casts them (``tf_float32``; 0.2 -> 0.2000000030, 1e-9 relative after 20 float64 steps).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lightning_mods.recurrent_loop import draw, gru_loop

REQUIRED = {
    "relu": ("max_value", "negative_slope", "threshold"), "elu": ("alpha",),
    "embedding": ("input_dim", "output_dim"), "gru": ("in_features", "units", "return_sequences"),
    "mha": ("dim", "heads"),
}
# Which torch tensors hold a Keras weight, per regularizer key (their sums are layout-free).
REGULARIZED = {"kernel_regularizer": ("weight", "weight_ih_l0", "in_proj_weight", "out_proj.weight"),
               "recurrent_regularizer": ("weight_hh_l0",), "bias_regularizer": ("bias", "bias_ih_l0", "in_proj_bias",
                                                                                 "out_proj.bias"),
               "embeddings_regularizer": ("weight",)}


def tf_float32(value: float) -> float:
    """A Python number as Keras on TensorFlow uses it in some ops, float64 ones too: rounded to float32
    (``LeakyRelu``'s slope attribute; ``ops.cast(threshold, x.dtype)`` makes a float32 constant first)."""
    return torch.tensor(value, dtype=torch.float32).item()


class KerasReLU(nn.Module):
    """Keras's ``ReLU(max_value, negative_slope, threshold)`` (and ``LeakyReLU``), computed as
    ``keras.activations.relu`` does: ``x`` above the threshold (else 0), clipped at ``max_value``,
    minus ``negative_slope * relu(threshold - x)``; a slope alone is TensorFlow's leaky_relu op. The
    threshold it compares with and ``max_value`` are float32-rounded, as there (``tf_float32``)."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0, threshold: float = 0.0) -> None:
        super().__init__()
        self.max_value, self.negative_slope, self.threshold = max_value, negative_slope, threshold

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.negative_slope and self.max_value is None and not self.threshold:
            return F.leaky_relu(x, tf_float32(self.negative_slope))
        negative = F.relu(self.threshold - x) if self.negative_slope else None
        y = torch.where(x > tf_float32(self.threshold), x, torch.zeros_like(x)) if self.threshold else F.relu(x)
        if self.max_value is not None:
            y = y.clamp(0.0, tf_float32(self.max_value))
        return y - self.negative_slope * negative if negative is not None else y

    def extra_repr(self) -> str:
        return f"max_value={self.max_value}, negative_slope={self.negative_slope}, threshold={self.threshold}"


class HardSigmoid(nn.Module):
    """Keras 3's ``hard_sigmoid``: ``relu6(x + 3) / 6``, written out: ``nn.Hardsigmoid``'s backward
    multiplies by ``1.0f / 6.0f``, a float32 sixth, in float64 too (3e-8 off after 20 steps)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(x + 3.0) / 6.0


class Embedding(nn.Module):
    """Keras's ``Embedding``: the (float or integer) inputs cast to integers (truncated, as Keras's
    cast to int32), then rows of ``.embedding.weight`` ``(input_dim, output_dim)``, Keras's layout."""

    def __init__(self, input_dim: int, output_dim: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(input_dim, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embedding(x.long())


class SequenceDropout(nn.Dropout):
    """Keras's recurrent ``dropout`` on the inputs: ONE mask per sequence, the same at every step
    (``DropoutRNNCell`` caches it). An ``nn.Dropout``, so that setting ``p = 0`` turns it off."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, F)
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x[:, :1]).bernoulli_(1 - self.p)
        return x * keep / (1 - self.p)


class KerasGRU(nn.Module):
    """A one-layer ``nn.GRU`` (batch first): Keras's ``reset_after=True`` GRU, gates z, r, h there
    and r, z, n here; Keras's bias row 0 -> ``bias_ih``, row 1 -> ``bias_hh`` (both trained, as in Keras).
    With ``recurrent_dropout``, training runs Keras's step loop with its masks (``recurrent_loop``)."""

    def __init__(self, in_features: int, units: int, return_sequences: bool, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0) -> None:
        super().__init__()
        self.gru = nn.GRU(in_features, units, batch_first=True)
        self.return_sequences = return_sequences
        self.drop_inputs, self.drop_state = nn.Dropout(dropout), nn.Dropout(recurrent_dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.drop_state.p > 0:
            out = gru_loop(self.gru, x, *draw(x, self.gru.hidden_size, 3, self.drop_inputs.p, self.drop_state.p))
        else:
            out, _ = self.gru(x)
        return out if self.return_sequences else out[:, -1]


class KerasMHA(nn.Module):
    """Keras's ``MultiHeadAttention(heads, key_dim=dim // heads)`` called on ``[query, value]`` (or
    ``[query, value, key]``). ``.attention`` is an ``nn.MultiheadAttention`` holding the weights
    (packed ``in_proj_weight``, ``out_proj``) and the ``dropout`` rate on the attention probabilities;
    the forward is written out because Keras on TensorFlow scales the scores by ``1/sqrt(head_dim)``
    rounded to float32 (``tf_float32``), float64 included, where torch's own uses the exact value."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        a = self.attention
        query, value = xs[0], xs[1]
        key = xs[2] if len(xs) > 2 else value
        w, b = a.in_proj_weight.chunk(3), a.in_proj_bias.chunk(3)
        heads = lambda t, i: F.linear(t, w[i], b[i]).unflatten(-1, (a.num_heads, a.head_dim)).transpose(1, 2)  # noqa: E731
        q, k, v = heads(query, 0), heads(key, 1), heads(value, 2)  # (B, heads, T, head_dim)
        scores = (q @ k.transpose(-2, -1)) * tf_float32(a.head_dim ** -0.5)
        probs = F.dropout(scores.softmax(dim=-1), a.dropout, self.training)
        return a.out_proj((probs @ v).transpose(1, 2).flatten(2))


def build(entry: dict) -> list[nn.Module]:
    """The modules of one relu/elu/embedding/gru/mha entry."""
    kind = entry["layer"]
    if kind == "mha":
        return [KerasMHA(entry["dim"], entry["heads"], float(entry.get("dropout", 0.0)))]
    if kind == "relu":
        return [KerasReLU(entry["max_value"], entry["negative_slope"], entry["threshold"])]
    if kind == "elu":
        return [nn.ELU(entry["alpha"])]
    if kind == "embedding":
        return [Embedding(entry["input_dim"], entry["output_dim"])]
    return recurrent_dropout(entry) + [KerasGRU(entry["in_features"], entry["units"], entry["return_sequences"],
                                                *loop_rates(entry))]


def recurrent_dropout(entry: dict) -> list[nn.Module]:
    """The input dropout of an lstm/gru entry without ``recurrent_dropout`` (none at rate 0): one mask
    per sequence, as Keras's. With ``recurrent_dropout`` both rates go to the step loop (``loop_rates``)."""
    rate = float(entry.get("dropout", 0.0))
    return [SequenceDropout(rate)] if rate and not entry.get("recurrent_dropout") else []


def loop_rates(entry: dict) -> tuple[float, float]:
    """``(dropout, recurrent_dropout)`` for the step loop of an lstm/gru entry with ``recurrent_dropout``."""
    if not entry.get("recurrent_dropout"):
        return 0.0, 0.0
    return float(entry.get("dropout", 0.0)), float(entry["recurrent_dropout"])


RECURRENT_DROPOUT = ("recurrent_dropout: in training the torch module runs Keras's step loop, one mask per gate on the "
               "inputs and one on the state, drawn once per batch (lightning_mods.recurrent_loop); at 0, or in "
               "inference, nn.LSTM/nn.GRU's own kernel")


def _tensor(module: nn.Module, name: str):
    for part in name.split("."):
        module = getattr(module, part, None)
    return module


def penalty(module: nn.Module, entry: dict) -> torch.Tensor | None:
    """Keras's regularization loss of one spec entry's weights in ``module`` (None: it has none)."""
    total = None
    for key, names in REGULARIZED.items():
        factors = entry.get(key)
        if not factors:
            continue
        tensors = [t for t in (_tensor(module, name) for name in names) if isinstance(t, torch.Tensor)]
        if key == "bias_regularizer" and hasattr(module, "bias_hh_l0"):
            tensors = [module.bias_ih_l0 + module.bias_hh_l0] if isinstance(module, nn.LSTM) else \
                [module.bias_ih_l0, module.bias_hh_l0]  # the LSTM's one Keras bias; the GRU's two rows
        for w in tensors:
            for kind, fn in (("l1", torch.abs), ("l2", torch.square)):
                if factors.get(kind):
                    term = tf_float32(factors[kind]) * fn(w).sum()  # Keras: ops.cast(l2, x.dtype), via float32
                    total = term if total is None else total + term
    return total
