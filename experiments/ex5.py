"""Exercise 5: an LSTM over the 28 image rows, plain, with LayerNorm before it, and with BN
before it (the lesson's "BN in an RNN" error): val accuracy per epoch, and what BN changes.

Sequence length: the trained LSTMs also read each validation image as a sequence of 14 and of
56 rows (the whole image resampled along its rows: bilinear, antialiased when shrinking), so
that only the number of steps changes, not what the sequence shows nor its pixel range.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from experiments.probes import as_float, mode_accuracies, mode_change
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             markdown_table, mean, standard_figures)
from experiments.runner import RunSpec, Settings, by_variant, split
from experiments.stats import UNIT, Claim, mean_ci, paired_ci

NORMS = ("none", "ln", "bn")
EPOCHS = 3
BATCH = 128
LENGTHS = (14, 28, 56)  # steps per sequence at evaluation (training: 28)
SMALL_BATCH = 4  # training-mode probe with small batches: how much BN's output depends on batch-mates
# SGD at lr 0.01 barely moves an LSTM in a few epochs; Adam (Keras's default lr) does.
LSTM_TRAINING = dict(arch="lstm", optimizer="adam", lr=0.001, batch_size=BATCH)


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(f"LSTM, {norm} before" if norm != "none" else "LSTM, plain",
                    settings.config(seed, epochs, norm=norm, **LSTM_TRAINING))
            for norm in NORMS for seed in settings.seed_list()]


def claims(measured: dict) -> list[Claim]:
    plain, ln, bn = (measured[n] for n in measured)

    def acc(ms, key="val_acc"):
        return [m[key] for m in ms]

    return [
        Claim("An LSTM with LayerNorm before it trains at least as well as the plain LSTM", "final val acc, LN - plain",
              paired_ci(acc(ln), acc(plain), bounded=True), ">", 0.0, key="ln_beats_plain"),
        Claim("LayerNorm before the LSTM beats BatchNorm before it", "final val acc, LN - BN",
              paired_ci(acc(ln), acc(bn), bounded=True), ">", 0.0, key="ln_beats_bn"),
        Claim("LN's predictions are the same in training and inference mode", "fraction of predictions changed",
              mean_ci(acc(ln, "changed_fraction"), bounds=UNIT), "<=", 0.0, key="ln_same_modes"),
        Claim("BN's output depends on the batch in training mode", "fraction of predictions changed",
              mean_ci(acc(bn, "changed_fraction"), bounds=UNIT), ">", 0.0, key="bn_batch_dependent"),
    ] + [Claim(f"BN before the LSTM loses more accuracy than LN when sequences have {steps} steps instead of 28",
               f"val acc drop 28 -> {steps} steps, BN - LN",
               paired_ci([m["length_acc"][28] - m["length_acc"][steps] for m in bn],
                         [m["length_acc"][28] - m["length_acc"][steps] for m in ln]), ">", 0.0, key=f"bn_length_{steps}")
         for steps in LENGTHS if steps != 28]


def resample(images: torch.Tensor, steps: int) -> torch.Tensor:
    """``(N, 28, 28)`` images -> ``(N, steps, 28)`` sequences: each whole image resampled along its rows."""
    x = as_float(images)
    if steps == x.shape[1]:
        return x
    return F.interpolate(x.unsqueeze(1), size=(steps, x.shape[2]), mode="bilinear", align_corners=False,
                         antialias=steps < x.shape[1]).squeeze(1)


@torch.no_grad()
def length_accuracy(net, images: torch.Tensor, labels: torch.Tensor, steps: int, train_mode: bool = False) -> float:
    """Val accuracy of a trained LSTMClassifier reading ``steps``-row sequences (batches of BATCH)."""
    model = copy.deepcopy(net).train() if train_mode else net.eval()
    x = resample(images, steps)
    predicted = []
    for i in range(0, len(x), BATCH):
        seq = x[i : i + BATCH]
        if model.input_norm is not None:
            seq = model.input_norm(seq)
        _, (h_n, _) = model.lstm(seq)
        predicted.append(model.head(h_n[-1]).argmax(1))
    return (torch.cat(predicted) == labels).float().mean().item()


@torch.no_grad()
def bn_statistics_shift(net, images: torch.Tensor, steps: int) -> float:
    """How far the BN input's statistics over a whole split at ``steps`` steps lie from the running
    averages learned at 28: mean over pixel columns of |mean - running mean| / running std."""
    layer = net.input_norm.norm
    x = resample(images, steps).reshape(-1, images.shape[-1])
    return ((x.mean(0) - layer.running_mean).abs() / layer.running_var.sqrt()).mean().item()


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    measured = {}
    for name, group in by_variant(fits).items():
        measured[name] = [{"val_acc": last(f, "val/acc"), "val_loss": last(f, "val/loss"),
                           **mode_change(f.model.net, images[:BATCH]),
                           **mode_accuracies(f.model.net, images, labels, BATCH),
                           "train_mode_acc_small_batch": mode_accuracies(f.model.net, images, labels, SMALL_BATCH)["train_mode_acc"],
                           "length_acc": {steps: length_accuracy(f.model.net, images, labels, steps) for steps in LENGTHS},
                           "length_acc_train_mode": {steps: length_accuracy(f.model.net, images, labels, steps, True)
                                                     for steps in LENGTHS},
                           **({"bn_stat_shift": {steps: bn_statistics_shift(f.model.net, images, steps) for steps in LENGTHS}}
                              if name.startswith("LSTM, bn") else {})}
                          for f in group]
    rows = [[name, ci_text([m["val_acc"] for m in ms], bounds=UNIT), ci_text([m["val_loss"] for m in ms]),
             f"{mean(m['changed_fraction'] for m in ms):.4f}", ci_text([m["train_mode_acc"] for m in ms], bounds=UNIT),
             ci_text([m["train_mode_acc_small_batch"] for m in ms], bounds=UNIT)] for name, ms in measured.items()]
    checked = claims(measured)
    config = fits[0].spec.config
    return Report(
        name="ex5", title="Exercise 5: normalization before an LSTM",
        setup=(f"LSTM({config.lstm_units}) over the 28 rows of each image (28 steps of 28 pixels), last hidden state -> "
               f"Linear(10); the norm acts on the input features (LN: per sample and step; BN: per pixel column over "
               f"batch and steps). Adam lr 0.001, batch {BATCH}, {len(fits[0].history)} epochs, {settings.seeds} seeds, "
               f"{settings.data} data. {PAIRING} Training-mode probes run on a copy of the trained model."),
        columns=["model", "final val acc", "final val loss", f"predictions changed, train vs eval mode (batch {BATCH})",
                 f"val acc, training mode, batch {BATCH}", f"val acc, training mode, batch {SMALL_BATCH}"],
        rows=rows, paragraph=_paragraph(measured) + " " + " ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked) + "\n\n" + _length_table(measured),
        figures=standard_figures(fits, "Ex. 5: norm before an LSTM"),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _paragraph(measured: dict) -> str:
    names = list(measured)
    plain, ln, bn = (measured[n] for n in names)
    acc = {n: mean(m["val_acc"] for m in measured[n]) for n in names}
    ranking = ", ".join(f"{n} {acc[n]:.4f}" for n in sorted(names, key=acc.get, reverse=True))
    return (f"Final val accuracy: {ranking}. LayerNorm on the inputs computes the same thing in both modes "
            f"({mean(m['changed_fraction'] for m in ln):.4f} of predictions changed). BN before the LSTM pools its "
            f"statistics over the batch and all 28 steps, so in training mode its output depends on the other sequences "
            f"in the batch: with a batch of {BATCH}, {100 * mean(m['changed_fraction'] for m in bn):.2f}% of the "
            f"predictions differ from inference mode, and the validation accuracy in training mode is "
            f"{mean(m['train_mode_acc'] for m in bn):.4f} with batches of {BATCH} and "
            f"{mean(m['train_mode_acc_small_batch'] for m in bn):.4f} with batches of {SMALL_BATCH}, against "
            f"{mean(m['eval_acc'] for m in bn):.4f} in inference mode.")


def _length_table(measured: dict) -> str:
    """Val accuracy per sequence length, per model, in inference and in training mode."""
    rows = []
    for name, ms in measured.items():
        for steps in LENGTHS:
            shift = ci_text([m["bn_stat_shift"][steps] for m in ms], 3) if "bn_stat_shift" in ms[0] else "-"
            rows.append([name, str(steps), ci_text([m["length_acc"][steps] for m in ms], bounds=UNIT),
                         ci_text([m["length_acc_train_mode"][steps] for m in ms], bounds=UNIT), shift])
    return ("## Sequence length (trained on 28 steps)\n\n"
            "Each validation image read as a sequence of 14, 28 or 56 rows: the whole image resampled along its rows "
            "(bilinear; antialiased when shrinking), so only the number of steps changes. BN statistics shift: mean over "
            "the 28 pixel columns of |mean of the BN input over the split - running mean| / running std.\n\n"
            + markdown_table(["model", "steps", "val acc, inference mode", f"val acc, training mode (batch {BATCH})",
                              "BN statistics shift"], rows))
