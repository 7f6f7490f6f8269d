"""How each Keras setting maps to torch: ONE table, and the matched pair built from it.

Keras is the reference (the lesson is Keras's): a net is described in Keras's words
(:class:`NetSpec`) and :func:`matched_pair` derives the torch ``NetConfig`` and the Keras
builder's keyword arguments from the table, so the two sides cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from lightning_mods.nets import NetConfig


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True)
class Convention:
    """One setting: what Keras says, what torch says, and how a Keras value becomes torch's."""

    name: str
    keras: str
    torch: str
    keras_default: Any
    torch_default: Any
    to_torch: Callable[[Any], Any] = _same
    note: str = ""


CONVENTIONS: tuple[Convention, ...] = (
    Convention("bn_momentum", "BatchNormalization(momentum=m): moving = m*moving + (1-m)*batch",
               "BatchNorm1d(momentum=m'): running = (1-m')*running + m'*batch", 0.99, 0.1,
               lambda m: 1.0 - m, "torch momentum = 1 - keras momentum (pytorch/examples#289)"),
    Convention("bn_epsilon", "BatchNormalization(epsilon=1e-3)", "BatchNorm1d(eps=1e-5)", 1e-3, 1e-5,
               note="same meaning (added to the variance under the square root), different default"),
    Convention("ln_epsilon", "LayerNormalization(epsilon=1e-3)", "LayerNorm(eps=1e-5)", 1e-3, 1e-5,
               note="same meaning, different default"),
    Convention("gn_epsilon", "GroupNormalization(epsilon=1e-3)", "GroupNorm(eps=1e-5)", 1e-3, 1e-5,
               note="same meaning, different default"),
    Convention("bn_variance", "moving variance updated with the BIASED batch variance (/n)",
               "running_var updated with the UNBIASED one (/(n-1)); normalization uses the biased one",
               "biased", "unbiased",
               note="the project's make_norm(bn_variance='biased') (KerasBatchNorm1d) follows Keras"),
    Convention("init", "Dense(kernel_initializer='glorot_uniform'), zero bias",
               "Linear: kaiming_uniform(a=sqrt(5)), uniform bias ('torch' in lightning_mods.init)",
               "glorot_uniform", "torch",
               note="names he_normal / glorot_uniform mean the Keras schemes on both sides"),
    Convention("dense_kernel", "Dense kernel (in, out): y = x @ K + b", "Linear weight (out, in): y = x @ W.T + b",
               "(in, out)", "(out, in)", note="transfer transposes"),
    Convention("lstm_gates", "kernel (in, 4u): gate blocks i, f, c, o", "weight_ih (4u, in): gate blocks i, f, g, o",
               "i f c o", "i f g o",
               note="the SAME order (Keras's c is torch's g, the cell candidate): transpose, no reordering"),
    Convention("lstm_recurrent", "recurrent_kernel (u, 4u)", "weight_hh (4u, u)", "(u, 4u)", "(4u, u)",
               note="transpose"),
    Convention("lstm_bias", "one bias (4u); unit_forget_bias=True", "two biases b_ih + b_hh, both trained",
               "one", "two",
               note="Keras->torch: b_ih = b, b_hh = 0; torch->Keras: b = b_ih + b_hh. SGD moves each torch "
                    "bias by the full gradient, so the effective bias moves twice as fast unless b_hh is frozen"),
    Convention("norm_axis", "axis=-1 on (B, T, C)", "channels second: (B, C, T) for BatchNorm1d/GroupNorm",
               "features last", "channels second", note="lightning_mods.norms.SequenceNorm transposes"),
    Convention("image_layout", "NHWC: Conv2D(...)(x) on (B, H, W, C); kernel (kh, kw, in, out)",
               "NCHW: Conv2d on (B, C, H, W); weight (out, in, kh, kw)", "NHWC", "NCHW",
               note="transfer_vision transposes (2, 3, 1, 0)"),
    Convention("flatten_order", "Flatten of (H, W, C): index h*W*C + w*C + c", "Flatten of (C, H, W): c*H*W + h*W + w",
               "(H, W, C)", "(C, H, W)",
               note="the Dense after Flatten gets its input rows permuted (transfer_vision, flat_shape)"),
    Convention("bn_axis_images", "BatchNormalization(axis=-1) on NHWC: per channel over B, H, W",
               "BatchNorm2d on NCHW: per channel over B, H, W", "axis=-1", "channel dim 1",
               note="the same statistics; a Keras model with axis=1 on NHWC would normalize per ROW instead"),
    Convention("ln_axes_images", "LayerNormalization() is axis=-1: per pixel over C, gamma (C,); axis=[1, 2, 3]: "
               "over H, W, C, gamma (H, W, C)", "LayerNorm([C, H, W]): over C, H, W, gamma (C, H, W)",
               "axis=-1", "(C, H, W)",
               note="two conventions (--ln-axes c | chw); for chw gamma/beta are transposed (1, 2, 0)"),
    Convention("mha_weights", "MultiHeadAttention: query/key/value kernels (D, heads, head_dim), output (heads, "
               "head_dim, D)", "MultiheadAttention: packed in_proj_weight (3D, D), out_proj.weight (D, D)",
               "per projection", "packed", note="parity.attention maps them (key_dim must be D / heads)"),
    Convention("mode", "model(x, training=True or False); model(x) alone is inference",
               "module.train() / module.eval()", "inference", "train",
               note="training=True <-> .train(); both then update BN's moving statistics"),
    Convention("learning_rate", "SGD keeps it in a float32 variable", "SGD keeps a Python float (double)",
               "float32", "float64", lambda lr: float(np.float32(lr)),
               note="the pair gives torch the float32-rounded rate (0.01 -> 0.009999999776)"),
    Convention("bn_batch_of_one", "training with 1 sample returns beta (variance 0)",
               "training with 1 sample raises ValueError", "beta", "ValueError",
               note="the project refuses it with a UsageError (parity.compare.check_batch, the DataModule)"),
)

TABLE: dict[str, Convention] = {c.name: c for c in CONVENTIONS}


@dataclass
class NetSpec:
    """One net in Keras's words (Keras defaults); :func:`matched_pair` gives both sides."""

    arch: str = "mlp"
    norm: str = "bn"
    placement: str = "pre"
    activation: str = "relu"
    hidden_units: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    groups: int = 32
    lstm_units: int = 128
    bn_momentum: float = TABLE["bn_momentum"].keras_default
    epsilon: float = TABLE["bn_epsilon"].keras_default
    kernel_initializer: str = "he_normal"
    dropout: float = 0.0  # MLP: Dropout(rate) at the end of every hidden block (the same in both frameworks)
    norm_logits: bool = False  # MLP: the norm also on the logits

    def keras_kwargs(self) -> dict:
        """Keyword arguments for ``keras_ref.build_mlp`` / ``build_lstm``."""
        common = dict(norm=self.norm, groups=self.groups, bn_momentum=self.bn_momentum, epsilon=self.epsilon)
        if self.arch == "lstm":
            return dict(units=self.lstm_units, **common)
        return dict(hidden_units=list(self.hidden_units), placement=self.placement, activation=self.activation,
                    kernel_initializer=self.kernel_initializer, dropout=self.dropout, norm_logits=self.norm_logits,
                    **common)


def matched_pair(spec: NetSpec) -> tuple[NetConfig, dict]:
    """The torch ``NetConfig`` and the Keras builder kwargs of ONE net, mapped by the table."""
    config = NetConfig(
        arch=spec.arch, norm=spec.norm, placement=spec.placement, activation=spec.activation,
        hidden=list(spec.hidden_units), groups=spec.groups, lstm_units=spec.lstm_units,
        init=TABLE["init"].to_torch(spec.kernel_initializer),
        bn_momentum=TABLE["bn_momentum"].to_torch(spec.bn_momentum),
        eps=TABLE[f"{spec.norm}_epsilon" if spec.norm != "none" else "bn_epsilon"].to_torch(spec.epsilon),
        bn_variance=TABLE["bn_variance"].keras_default,  # Keras's rule, via KerasBatchNorm1d
        dropout=spec.dropout, norm_logits=spec.norm_logits,
    )
    return config, spec.keras_kwargs()


def raw_defaults_pair(spec: NetSpec) -> tuple[NetConfig, dict]:
    """Each framework left at ITS OWN defaults (torch momentum 0.1, eps 1e-5, unbiased moving
    variance; Keras 0.99, 1e-3): what a port that copies no hyper-parameter gets."""
    config, _ = matched_pair(spec)
    config.bn_momentum = TABLE["bn_momentum"].torch_default
    config.eps = TABLE["bn_epsilon"].torch_default
    config.bn_variance = TABLE["bn_variance"].torch_default
    keras = NetSpec(**{**spec.__dict__, "bn_momentum": TABLE["bn_momentum"].keras_default,
                       "epsilon": TABLE["bn_epsilon"].keras_default})
    return config, keras.keras_kwargs()


def format_table() -> str:
    """The table as Markdown, for the report and the README."""
    lines = ["| setting | Keras | torch | mapping |", "|---|---|---|---|"]
    for c in CONVENTIONS:
        lines.append(f"| {c.name} | {c.keras} | {c.torch} | {c.note or 'same value'} |")
    return "\n".join(lines)
