"""Exercise 3: predict one validation batch in training mode and in inference mode.

BN in training mode normalizes with the batch's own statistics, in inference mode with the
running averages, so its predictions change; LN computes the same thing in both modes.
"""

from __future__ import annotations

from lightning_mods.exercises.probes import mode_accuracies, mode_change
from lightning_mods.exercises.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, mean,
                                             standard_figures)
from lightning_mods.exercises.runner import RunSpec, Settings, by_variant, split
from lightning_mods.exercises.stats import Claim, mean_ci, paired_ci

NORMS = ("bn", "ln")
BATCH = 128  # trained and probed at batch 128 (the homework's batch-1 model is the same run)
EPOCHS = 4


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(norm, settings.config(seed, epochs, norm=norm, batch_size=BATCH))
            for norm in NORMS for seed in range(settings.seeds)]


def claims(probes: dict) -> list[Claim]:
    bn, ln = probes["bn"], probes["ln"]
    return [
        Claim("BN's predictions change between training and inference mode", "fraction of a batch's predictions changed",
              mean_ci([p["changed_fraction"] for p in bn]), ">", 0.0),
        Claim("BN's accuracy differs between the modes", "val acc, training mode - inference mode",
              paired_ci([p["train_mode_acc"] for p in bn], [p["eval_acc"] for p in bn]), "!=", 0.0),
        Claim("LN's predictions are the same in both modes", "fraction of a batch's predictions changed",
              mean_ci([p["changed_fraction"] for p in ln]), "<=", 0.0),
    ]


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    probes = {norm: [{**mode_change(f.model.net, images[:BATCH]), **mode_accuracies(f.model.net, images, labels, BATCH)}
                     for f in group] for norm, group in by_variant(fits).items()}
    rows = [[norm, ci_text([p["changed_fraction"] for p in ps]), f"{mean(p['mean_abs_logit_change'] for p in ps):.4g}",
             f"{max(p['max_abs_logit_change'] for p in ps):.4g}", ci_text([p["eval_acc"] for p in ps]),
             ci_text([p["train_mode_acc"] for p in ps])] for norm, ps in probes.items()]
    checked = claims(probes)
    epochs = len(fits[0].history)
    return Report(
        name="ex3", title="Exercise 3: training-mode vs inference-mode predictions",
        setup=(f"MLP {fits[0].spec.config.hidden}, SGD lr 0.01, batch {BATCH}, {epochs} epochs, {settings.seeds} seeds, "
               f"{settings.data} data. {PAIRING} Probe: the first {BATCH} validation images as one batch, predicted with "
               "model.eval() and with model.train() (on a copy, so the running statistics stay untouched); "
               f"accuracies over the whole validation set in batches of {BATCH}."),
        columns=["norm", f"predictions changed (one batch of {BATCH})", "mean |logit change|", "max |logit change|",
                 "val acc, inference mode", "val acc, training mode"],
        rows=rows, paragraph=_paragraph(probes) + " " + " ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, f"Ex. 3: BN vs LN, batch {BATCH}"),
        results={"settings": settings, "probes": probes, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _paragraph(probes: dict) -> str:
    bn, ln = probes["bn"], probes["ln"]
    bn_changed, ln_changed = mean(p["changed_fraction"] for p in bn), mean(p["changed_fraction"] for p in ln)
    ln_max = max(p["max_abs_logit_change"] for p in ln)
    ln_words = ("LN's predictions are identical in both modes" if ln_changed == 0 else
                f"LN's predictions changed for {100 * ln_changed:.2f}% of the batch (unexpected)")
    return (f"In training mode BN normalizes with the batch's statistics instead of its running averages: "
            f"{100 * bn_changed:.2f}% of the batch's predictions changed (mean over seeds) and the logits moved by "
            f"{mean(p['mean_abs_logit_change'] for p in bn):.4g} on average; over the whole validation set the "
            f"training-mode accuracy is {mean(p['train_mode_acc'] for p in bn):.4f} against "
            f"{mean(p['eval_acc'] for p in bn):.4f} in inference mode. {ln_words} (largest logit difference "
            f"{ln_max:.2g}), since LN normalizes each sample by itself.")
