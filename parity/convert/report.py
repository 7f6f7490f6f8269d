"""``parity.md``: the parity table of a converted model, and what its numbers mean."""

from __future__ import annotations

from parity.compare import FORWARD_RTOL, SGD_RTOL
from lightning_mods.spec_net import SpecNet
from parity.convert.check import ROUNDING_FACTOR, Report
from lightning_mods.spec_extra import RECURRENT_DROPOUT, REGULARIZED
from parity.convert import attention_map, layer_extra
from parity.convert.layer_table import MAPPINGS
from parity.convert.torch_to_keras import keras_momentum

ROWS = {"train": "outputs, training mode, float32", "eval": "outputs, inference mode, float32",
        "weights": "weights after {steps} SGD steps, float64", "moving": "moving statistics after the steps, float64",
        "eval_after": "inference outputs after the steps, float64"}


def _cell(d, tol) -> str:
    if d is None:
        return "n/a (none)"
    verdict = "pass" if d.within(tol) else "**FAIL**"
    return f"{d.rel:.1e} <= {tol:.1e} {verdict} (abs {d.abs:.0e})" + (f" ({d.where})" if not d.within(tol) else "")


def table(report: Report) -> str:
    """One row per check; each cell: the difference, the tolerance it is judged on, the verdict."""
    names = list(report.columns)
    lines = ["| check (max relative difference vs Keras on TensorFlow, <= tolerance) | " + " | ".join(names) + " |",
             "|---|" + "---|" * len(names)]
    first = report.columns[names[0]]
    for i, (key, _, _) in enumerate(first.checks()):
        cells = [_cell(*report.columns[n].checks()[i][1:]) for n in names]
        lines.append(f"| {ROWS[key].format(steps=report.settings.steps)} | " + " | ".join(cells) + " |")
    ref = report.reference
    if ref is not None:
        forward = max(ref.forward_control.values(), key=lambda d: d.rel)
        steps = max(ref.steps_control.values(), key=lambda d: d.rel)
        lines.append(f"| control: Keras float32 vs float64 outputs (not a check) | {forward.rel:.1e} |"
                     + " |" * (len(names) - 1))
        lines.append(f"| control: Keras float32 vs float64 after the steps, worst array (not a check) | "
                     f"{steps.rel:.1e} ({steps.where}) |" + " |" * (len(names) - 1))
    control = first.control
    lines.append("| control: torch vs itself started 1 ulp apart (not a check) | "
                 + (f"{control.rel:.1e}" if control else "-") + " |" + " - |" * (len(names) - 1))
    return "\n".join(lines)


def _layer(entry: dict) -> str:
    details = ", ".join(f"{k}={v}" for k, v in entry.items() if k not in ("layer", "name"))
    return f"| {entry.get('name', '')} | {entry['layer']} | {details} |"


def conventions(entry: dict) -> str:
    """What was mapped between Keras's and torch's conventions for one spec entry."""
    notes = [f"{key} {', '.join(f'{k}={v!r}' for k, v in entry[key].items() if v)} added to the training loss "
             "(SpecNet.regularization_loss: l1 * sum|w| + l2 * sum w**2, as Keras's model.losses)"
             for key in REGULARIZED if entry.get(key)]
    if entry.get("dropout") or entry.get("recurrent_dropout"):
        notes.append(f"dropout {entry.get('dropout', 0.0)!r}, recurrent_dropout {entry.get('recurrent_dropout', 0.0)!r} "
                     "(0 in the check)" + (f"; {RECURRENT_DROPOUT}" if entry.get("recurrent_dropout") else
                                           "; dropout: one mask per sequence on the inputs, as Keras"))
    return "; ".join([_conventions(entry)] + notes)


def _axis(entry: dict) -> str:
    if "axis" not in entry:
        return "axis -1"
    return f"axis {entry['axis']}: moved last around the norm and back (AxisNorm)"


def _conventions(entry: dict) -> str:
    kind = entry["layer"]
    if kind == "bn":
        return (f"momentum: torch {entry['momentum']!r} = 1 - Keras {keras_momentum(entry['momentum'])!r}; epsilon "
                f"{entry['eps']!r} kept (torch's default 1e-5); moving variance from the biased batch variance (Keras's "
                f"rule, torch's is unbiased); {_axis(entry)}: channels last, transposed around torch's BatchNorm1d"
                + ("; frozen: inference statistics in training too" if not entry.get("trainable", True) else ""))
    if kind in ("ln", "gn"):
        return f"epsilon {entry['eps']!r} kept (torch's default 1e-5); {_axis(entry)}" + (
            f"; {entry['groups']} groups over the channels, transposed around torch's GroupNorm" if kind == "gn" else "")
    if kind == "conv":
        return MAPPINGS["DepthwiseConv2D" if entry.get("depthwise") else "Conv2D"].conventions
    extra = {"lstm": "LSTM", "gru": "GRU", "embedding": "Embedding", "relu": "ReLU", "elu": "ELU"}
    if kind in extra:
        return layer_extra.MAPPINGS[extra[kind]].conventions
    if kind == "mha":
        return attention_map.MAPPINGS["MultiHeadAttention"].conventions
    return {"dense": "kernel (in, out) -> weight (out, in)",
            "flatten": "flattens the channels-last tensor, in Keras's order", "dropout": "rate kept (0 in the check)",
            "pool": MAPPINGS["MaxPooling2D"].conventions, "global_pool": "over the spatial axes (channels last)",
            "rescale": MAPPINGS["Rescaling"].conventions, "normalize": MAPPINGS["Normalization"].conventions,
            "merge": MAPPINGS["Add"].conventions}.get(kind, "as in Keras")


def summary(spec: list[dict]) -> list[str]:
    """The conversion summary: one row per Keras layer, its torch modules and the conventions mapped."""
    net = SpecNet(spec)
    rows = ["| # | Keras layer | spec entry | torch module(s) | conventions mapped |", "|---|---|---|---|---|"]
    for i, ((_, inputs, start, end), entry) in enumerate(zip(net.slices, spec[1:]), start=1):
        modules = ", ".join(type(m).__name__ for m in net.layers[start:end]) or "-"
        source = f" (from {', '.join(inputs)})" if inputs else ""
        rows.append(f"| {i} | {entry.get('name', '')} | {entry['layer']}{source} | {modules} | {conventions(entry)} |")
    return rows


def markdown(report: Report, source: str, spec: list[dict]) -> str:
    s = report.settings
    verdict = "PASS" if report.passed else "FAIL"
    chaotic = [name for name, c in report.columns.items() if c.chaotic]
    parts = [
        f"# Parity of the converted model: {verdict}", "",
        f"Model: `{source}`. Inputs: {report.inputs_from}; batches of {s.batch_size}; {s.steps} plain-SGD steps "
        f"(learning rate {s.learning_rate}) on the mean squared error against fixed random targets; seed {s.seed}.", "",
        table(report), "",
        "## What the columns and rows mean", "",
        "- **torch module**: the converted `nn.Module` (`weights.pt` + `spec.yaml`), in `.train()` / `.eval()`.",
        "- **Keras, torch backend**: the same model file run by Keras itself with `KERAS_BACKEND=torch` (in its own "
        "process), the mode chosen by `training=`; a second, independent implementation of Keras's semantics.",
        "- Every difference is `max|a - b| / max|b|` over an array, the worst array reported, `b` being Keras on "
        "TensorFlow. The outputs rows use one batch of fresh float32 weights (<= "
        f"{FORWARD_RTOL:g}); the steps run in float64 from the same weights on the same batches (<= {SGD_RTOL:g}), "
        "where rounding cannot build up into a difference of its own.",
        f"- In the float64 rows an array's scale gets a floor of {s.floor:g}: an array whose exact gradient is 0 "
        "(a Dense bias or a BN beta feeding a BatchNormalization, whose mean subtraction cancels it) moves only by "
        "rounding, and two correct frameworks disagree on that noise by all of itself; the floor allows such an "
        f"array {SGD_RTOL * s.floor:.0e} absolute. A moving MEAN is judged on the spread of the values it averages "
        "(the square root of its moving variance), not on its own size, which is near 0 for centred activations. "
        "Keras on its torch backend needs that: it computes float64 matmuls in float32 (64-bit result types are "
        "forced to 32-bit outside TensorFlow), so its float64 rows are ~1e-7 off in absolute terms.",
        "- Dropout's rate, an LSTM/GRU's dropout and recurrent_dropout and attention dropout are 0 in the check "
        "(random draws differ between frameworks); inference does not use them.",
        f"- Each tolerance is the base one ({FORWARD_RTOL:g} for the outputs, {SGD_RTOL:g} after the steps) or, for "
        f"a computation made in float32, {ROUNDING_FACTOR} times its control, array by array: Keras on TensorFlow in "
        "float32 vs float64 on the same batch (the outputs rows), or over the same steps (the Keras-on-torch "
        "column's step rows, whose matmuls run in float32). A FAIL is then a conversion error, not rounding.",
        "- The control trains two copies of the torch module whose weights start one rounding unit apart: where it "
        "exceeds the tolerance, the steps amplify rounding and no two implementations can agree after them.",
    ]
    if chaotic:
        parts.append(f"- **The control exceeds the tolerance** ({', '.join(chaotic)}): the trajectory rows cannot be "
                     "tight for this model; use fewer --steps.")
    parts += ["", "## Conversion summary", ""] + summary(spec)
    parts += ["", "## The layers (spec.yaml)", "", "| Keras name | layer | settings (BN momentum in torch's convention) |",
              "|---|---|---|"] + [_layer(e) for e in spec]
    parts += ["", "## Known differences kept on purpose", "",
              "- BatchNormalization: torch momentum = 1 - Keras momentum; the moving variance is updated with the "
              "biased batch variance, as Keras does (torch's own rule is the unbiased one); `trainable=False` "
              "normalizes with the moving statistics even in training mode and never updates them.",
              "- LSTM: Keras has one bias, torch two; all of it is in `bias_ih`, and `bias_hh` stays 0, not trained."]
    if any(e["layer"] in ("relu", "mha") or e.get("activation") == "leaky_relu" or any(k in e for k in REGULARIZED)
           for e in spec):
        parts.append("- Keras on TensorFlow rounds a leaky slope, ReLU's threshold and max_value, a regularizer's factor "
                     "and attention's 1/sqrt(head_dim) to float32, in float64 too; the torch module uses the same values.")
    if any(e.get("recurrent_dropout") for e in spec):
        parts.append(f"- LSTM/GRU {RECURRENT_DROPOUT}.")
    return "\n".join(parts) + "\n"
