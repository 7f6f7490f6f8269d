"""BN as a regularizer, BN and dropout, and BN on the last layer (the lesson's Temas, FAQ and
common errors): five variants of the homework's MLP, trained alike.

no norm, BN (the homework's own runs), dropout, BN + dropout (``DROPOUT`` after each hidden
block), and BN with a BN on the logits before the softmax (``norm_logits``). The train-val gap
is measured after training on the first ``TRAIN_PROBE`` training images, in inference mode like
the validation set, so dropout's noise does not enter it.
"""

from __future__ import annotations

import torch

from experiments import ex1
from experiments.probes import logits_of
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             standard_figures)
from experiments.runner import MLP_EPOCHS, RunSpec, Settings, by_variant, split
from experiments.stats import UNIT, Claim, paired_ci

DROPOUT = 0.2
TRAIN_PROBE = 10_000
NON_INFERIORITY = 0.005  # "as good as": the CI of the difference stays above -0.5 points (and "no gain": below +0.5)
VARIANTS = {
    "none": dict(norm="none"),
    "bn": dict(norm="bn"),
    "dropout": dict(norm="none", dropout=DROPOUT),
    "bn + dropout": dict(norm="bn", dropout=DROPOUT),
    "bn + BN on logits": dict(norm="bn", norm_logits=True),
}


def plan(settings: Settings) -> list[RunSpec]:
    # Validated every 0.1 epoch like ex1 and the homework, so "none" and "bn" are the homework's runs.
    epochs = settings.epochs_or(MLP_EPOCHS)
    return [RunSpec(name, settings.config(seed, epochs, **overrides), checks_per_epoch=ex1.CHECKS)
            for name, overrides in VARIANTS.items() for seed in settings.seed_list()]


def fit_gap(fit, train_images, train_labels) -> dict:
    """Final val accuracy and loss, the same on a training subset (inference mode), and the gaps."""
    logits = logits_of(fit.model.net, train_images, 1_000)
    train_acc = (logits.argmax(1) == train_labels).float().mean().item()
    train_loss = torch.nn.functional.cross_entropy(logits, train_labels).item()
    val_acc, val_loss = last(fit, "val/acc"), last(fit, "val/loss")
    return {"val_acc": val_acc, "val_loss": val_loss, "train_acc": train_acc, "train_loss": train_loss,
            "acc_gap": train_acc - val_acc, "loss_gap": val_loss - train_loss}


def claims(measured: dict) -> list[Claim]:
    def of(variant, key):
        return [m[key] for m in measured[variant]]

    dropout_gain_alone = [d - n for d, n in zip(of("dropout", "val_acc"), of("none", "val_acc"))]
    dropout_gain_on_bn = [d - b for d, b in zip(of("bn + dropout", "val_acc"), of("bn", "val_acc"))]
    return [
        Claim("BN has a mild regularizing effect: a smaller train-val gap than no norm after the same epochs",
              "train acc - val acc, none - BN", paired_ci(of("none", "acc_gap"), of("bn", "acc_gap")), ">", 0.0,
              key="bn_regularizes"),
        Claim("BN partly replaces dropout: dropout adds less on top of BN than on top of no norm",
              "val acc gain from dropout, with BN - without", paired_ci(dropout_gain_on_bn, dropout_gain_alone), "<", 0.0,
              key="bn_replaces_dropout"),
        Claim(f"BN alone is as accurate as dropout alone (within {NON_INFERIORITY:g})", "final val acc, BN - dropout",
              paired_ci(of("bn", "val_acc"), of("dropout", "val_acc"), bounded=True), ">", -NON_INFERIORITY, key="bn_suffices"),
        Claim(f"BN on the last layer before the softmax brings no gain (not above +{NON_INFERIORITY:g})",
              "final val acc, with BN on the logits - without", paired_ci(of("bn + BN on logits", "val_acc"), of("bn", "val_acc"), bounded=True),
              "<", NON_INFERIORITY, key="logits_bn_no_gain"),
    ]


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "train")
    images, labels = images[:TRAIN_PROBE], labels[:TRAIN_PROBE]
    measured = {name: [fit_gap(f, images, labels) for f in group] for name, group in by_variant(fits).items()}
    rows = [[name, ci_text([m["val_acc"] for m in ms], bounds=UNIT), ci_text([m["train_acc"] for m in ms], bounds=UNIT),
             ci_text([m["acc_gap"] for m in ms]), ci_text([m["val_loss"] for m in ms]), ci_text([m["loss_gap"] for m in ms])]
            for name, ms in measured.items()]
    checked = claims(measured)
    return Report(
        name="regularization", title="BN as a regularizer, BN with dropout, and BN on the last layer",
        setup=(f"MLP {fits[0].spec.config.hidden}, norm before ReLU, SGD lr 0.01, batch 32, He init, "
               f"{len(fits[0].history)} epochs, {settings.seeds} seeds, {settings.data} data. Dropout {DROPOUT} after "
               "every hidden block (Linear -> norm -> ReLU -> Dropout); BN on logits: Linear(10) -> BN -> softmax. "
               f"{PAIRING} Training accuracy and loss: the first {len(labels)} training images in inference mode after "
               f"training; gap = training - validation accuracy. \"As good as\": the CI stays within {NON_INFERIORITY:g} "
               "of no difference on the claimed side."),
        columns=["variant", "final val acc", "train acc (inference mode)", "train - val acc", "final val loss",
                 "val loss - train loss"],
        rows=rows, paragraph=" ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, "No norm, BN, dropout, BN + dropout, BN on logits"),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )
