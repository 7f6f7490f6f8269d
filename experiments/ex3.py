"""Exercise 3: predict one validation batch in training mode and in inference mode.

BN in training mode normalizes with the batch's own statistics, in inference mode with the
running averages, so its predictions change; LN computes the same thing in both modes. Also
measured on the same models: which statistics BN's layers use in each mode (their outputs
against the formula), what a hand-written validation loop that forgets ``model.eval()`` does
(the lesson's "forgetting training=False" error, torch form), and whether LN's output for a
sample depends on the rest of its batch.
"""

from __future__ import annotations

from experiments.probes import (FORMULA_TOLERANCE, batch1_inference, bn_statistics_used, forgot_eval,
                                             mode_accuracies, mode_change)
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories,
                                             markdown_table, mean, standard_figures)
from experiments.runner import RunSpec, Settings, by_variant, split
from experiments.stats import UNIT, Claim, mean_ci, paired_ci

NORMS = ("bn", "ln")
BATCH = 128  # trained and probed at batch 128 (the homework's batch-1 model is the same run)
EPOCHS = 4
LN_BATCH = 1_000  # LN's batch-independence: every validation image alone vs in batches of this size


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(norm, settings.config(seed, epochs, norm=norm, batch_size=BATCH))
            for norm in NORMS for seed in settings.seed_list()]


def claims(probes: dict) -> list[Claim]:
    bn, ln = probes["bn"], probes["ln"]
    return [
        Claim("BN's predictions change between training and inference mode", "fraction of a batch's predictions changed",
              mean_ci([p["changed_fraction"] for p in bn], bounds=UNIT), ">", 0.0, key="bn_predictions_change"),
        Claim("BN's accuracy differs between the modes", "val acc, training mode - inference mode",
              paired_ci([p["train_mode_acc"] for p in bn], [p["eval_acc"] for p in bn], bounded=True), "!=", 0.0, key="bn_acc_differs"),
        Claim("LN's predictions are the same in both modes", "fraction of a batch's predictions changed",
              mean_ci([p["changed_fraction"] for p in ln], bounds=UNIT), "<=", 0.0, key="ln_same_modes"),
        Claim("BN normalizes with the batch's own mean and variance in training mode",
              "largest |BN output - batch-statistics formula| over its layers",
              mean_ci([p["batch_formula_error"] for p in bn]), "<=", FORMULA_TOLERANCE, key="bn_uses_batch_stats"),
        Claim("BN normalizes with its moving averages in inference mode",
              "largest |BN output - moving-average formula| over its layers",
              mean_ci([p["running_formula_error"] for p in bn]), "<=", FORMULA_TOLERANCE, key="bn_uses_moving_averages"),
        Claim("LN's output for a sample does not depend on the rest of the batch",
              f"largest |logit, sample alone - in a batch of {LN_BATCH}| over the validation set",
              mean_ci([p["max_abs_logit_diff"] for p in ln]), "<=", FORMULA_TOLERANCE, key="ln_batch_independent"),
        Claim("A validation loop without model.eval() changes BN's predictions",
              "fraction of validation predictions changed", mean_ci([p["forgot_eval"]["changed_fraction"] for p in bn], bounds=UNIT),
              ">", 0.0, key="forgot_eval_predictions"),
        Claim("... and overwrites BN's running statistics with validation batches",
              "largest relative change of a running mean or variance",
              mean_ci([p["forgot_eval"]["running_stats_change"] for p in bn]), ">", 0.0, key="forgot_eval_running_stats"),
        Claim("... which changes later inference-mode accuracy", "val acc after the loop - before",
              mean_ci([p["forgot_eval"]["eval_acc_change"] for p in bn]), "!=", 0.0, key="forgot_eval_accuracy"),
    ]


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    probes = {norm: [{**mode_change(f.model.net, images[:BATCH]), **mode_accuracies(f.model.net, images, labels, BATCH),
                      **_more(norm, f.model.net, images, labels)}
                     for f in group] for norm, group in by_variant(fits).items()}
    rows = [[norm, ci_text([p["changed_fraction"] for p in ps], bounds=UNIT), f"{mean(p['mean_abs_logit_change'] for p in ps):.4g}",
             f"{max(p['max_abs_logit_change'] for p in ps):.4g}", ci_text([p["eval_acc"] for p in ps], bounds=UNIT),
             ci_text([p["train_mode_acc"] for p in ps], bounds=UNIT)] for norm, ps in probes.items()]
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
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked) + "\n\n" + _bn_table(probes["bn"]),
        figures=standard_figures(fits, f"Ex. 3: BN vs LN, batch {BATCH}"),
        results={"settings": settings, "probes": probes, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _bn_table(bn: list[dict]) -> str:
    """Per seed: the BN layers against the formulas, and the validation loop without model.eval()."""
    rows = [[str(seed), f"{p['batch_formula_error']:.2g}", f"{p['running_formula_error']:.2g}", f"{p['train_vs_running']:.3g}",
             f"{p['forgot_eval']['changed_fraction']:.4f}", f"{p['forgot_eval']['running_stats_change']:.4f}",
             f"{p['forgot_eval']['eval_acc_before']:.4f}", f"{p['forgot_eval']['eval_acc_after']:.4f}"]
            for seed, p in enumerate(bn)]
    return ("## Which statistics BN uses, and a validation loop without model.eval()\n\n"
            f"Hooks keep every BN layer's input and output for one batch of {BATCH}: the training-mode output against "
            "gamma (x - batch mean) / sqrt(batch variance + eps) + beta, the inference-mode output against the same with the "
            "running averages, and the training-mode output against the running-average formula. The loop predicts "
            f"the validation set in batches of {BATCH} in training mode on a copy of the model (under no_grad, which "
            "does not stop the running averages from moving), then the copy is evaluated properly.\n\n"
            + markdown_table(["seed", "train mode vs batch formula", "inference vs running formula",
                              "train mode vs running formula", "loop: predictions changed", "loop: running stats moved (rel.)",
                              "val acc before", "val acc after the loop"], rows))


def _more(norm: str, net, images, labels) -> dict:
    """BN: the statistics its layers use, and the loop without model.eval(); LN: batch-independence."""
    if norm == "bn":
        return {**bn_statistics_used(net, images[:BATCH]), "forgot_eval": forgot_eval(net, images, labels, BATCH)}
    return batch1_inference(net, images, labels, LN_BATCH)


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
