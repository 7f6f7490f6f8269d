"""The homework: no norm, BN and LN on the [512, 256, 128, 64, 10] MLP (val accuracy, epochs
until val_loss < 0.4), then the BN model trained at batch 128 evaluated one sample at a time.

``claims`` checks the lesson's acceptance on the measured numbers; the slow tests use it.
"""

from __future__ import annotations

import math

from experiments import ex1, ex3
from experiments.probes import batch1_inference
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             markdown_table, mean, standard_figures)
from experiments.runner import MLP_EPOCHS, RunSpec, Settings, by_variant, split
from experiments.stats import POSITIVE, UNIT, Claim, mean_ci, paired_ci, ratio_ci
from experiments.targets import censored, resolution, time_to, times_to

NORMS = ("none", "bn", "ln")
VAL_LOSS_TARGET = 0.4
SPEEDUP_CLAIM = 0.30  # "BN must speed convergence by at least 30%": BN's epochs <= 0.7 x no norm's
BATCH1_VARIANT = "bn, batch 128"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(MLP_EPOCHS)
    specs = [RunSpec(norm, settings.config(seed, epochs, norm=norm), checks_per_epoch=ex1.CHECKS)
             for norm in NORMS for seed in settings.seed_list()]
    # The same run as ex3's BN model (same config), so `all` trains it once.
    bn128 = [spec for spec in ex3.plan(settings) if spec.config.norm == "bn"]
    return specs + [RunSpec(BATCH1_VARIANT, spec.config) for spec in bn128]


def to_none_best(fits) -> dict:
    """Ioffe & Szegedy's measure on the MLP, per seed: the epochs no norm took to reach its best val
    accuracy, and those BN took to first reach that same accuracy (censored like ``times_to``)."""
    groups = by_variant(fits)
    out = {"target": [], "none_epochs": [], "bn_epochs": [], "bn_reached": []}
    for none, bn in zip(groups["none"], groups["bn"]):
        target = max(row["val/acc"] for row in none.checks)
        out["target"].append(target)
        out["none_epochs"].append(time_to(none, "val/acc", target, below=False)["epochs"])
        reached = time_to(bn, "val/acc", target, below=False)
        out["bn_epochs"].append(reached["epochs"])
        out["bn_reached"].append(reached["reached"])
    return out


def summarize(fits) -> dict:
    """Per norm: final/best val accuracy, time to val_loss < 0.4 per seed, NaN seen."""
    return {norm: {"final_val_acc": [last(f, "val/acc") for f in group],
                   "best_val_acc": [max(r["val/acc"] for r in f.history) for f in group],
                   "final_val_loss": [last(f, "val/loss") for f in group],
                   "to_val_loss_0.4": times_to(group, "val/loss", VAL_LOSS_TARGET),
                   "epochs_run": len(group[0].history),
                   "nan": any(math.isnan(r["val/loss"]) or math.isnan(r["train/loss"]) for f in group for r in f.history),
                   "seconds_per_epoch": mean(r["seconds"] for f in group for r in f.history)}
            for norm, group in by_variant(fits).items() if norm in NORMS}


def claims(summary: dict, batch1: list[dict], none_best: dict | None = None) -> list[Claim]:
    """The lesson's acceptance, as claims on the measurements, each with its CI and the rule's verdict
    (and, given ``to_none_best``'s numbers, Ioffe & Szegedy's "same accuracy in fewer steps")."""
    bn, none, ln = summary["bn"], summary["none"], summary["ln"]
    ln_ok = [float(reached and not ln["nan"]) for reached in ln["to_val_loss_0.4"]["reached"]]
    extra = [] if none_best is None else [
        Claim("BN reaches no norm's best val accuracy in fewer steps (Ioffe & Szegedy: 14x fewer on Inception)",
              "epochs (steps / 1,719) to no norm's best val acc, BN / none",
              ratio_ci(none_best["bn_epochs"], none_best["none_epochs"]), "<", 1.0, key="steps_to_none_best",
              censored=tuple((not r, False) for r in none_best["bn_reached"]), sides=("BN", "none"))]
    cut = {"censored": censored(bn["to_val_loss_0.4"], none["to_val_loss_0.4"]), "sides": ("BN", "none")}
    return extra + [
        Claim("BN reaches val loss < 0.4 in fewer epochs than no norm", "epochs, BN / none",
              ratio_ci(bn["to_val_loss_0.4"]["epochs"], none["to_val_loss_0.4"]["epochs"]), "<", 1.0,
              key="epochs_to_loss", **cut),
        Claim("BN reaches val loss < 0.4 in >= 30% fewer epochs than no norm", "epochs, BN / none",
              ratio_ci(bn["to_val_loss_0.4"]["epochs"], none["to_val_loss_0.4"]["epochs"]), "<=", 1 - SPEEDUP_CLAIM,
              key="epochs_to_loss_30pct", **cut),
        Claim("LN is stable (every seed reaches val loss < 0.4, no NaN)", "fraction of LN seeds",
              mean_ci(ln_ok, bounds=UNIT), ">=", 1.0, key="ln_stable"),
        Claim("LN is a little worse than BN", "final val acc, BN - LN",
              paired_ci(bn["final_val_acc"], ln["final_val_acc"], bounded=True), ">", 0.0, key="ln_below_bn"),
        Claim("batch-1 inference gives the batched predictions", "differing predictions per seed (not float ties)",
              mean_ci([b["differing_not_ties"] for b in batch1]), "<=", 0.0, key="batch1_inference"),
    ]


def analyse(fits, settings: Settings) -> Report:
    summary = summarize(fits)
    images, labels = split(settings, "val")
    batch1 = [{"seed": f.seed, **batch1_inference(f.model.net, images, labels)} for f in by_variant(fits)[BATCH1_VARIANT]]
    none_best = to_none_best([f for f in fits if f.variant in NORMS])
    checked = claims(summary, batch1, none_best)
    rows = [[norm, ci_text(s["final_val_acc"], bounds=UNIT), ci_text(s["best_val_acc"], bounds=UNIT), _time(s, "epochs", 2),
             ci_text(s["to_val_loss_0.4"]["steps"], 0, POSITIVE), _time(s, "seconds", 1), f"{s['seconds_per_epoch']:.2f}"]
            for norm, s in summary.items()]
    extra = "\n\n".join([
        "## The lesson's acceptance, on these numbers",
        claims_markdown(checked),
        f"## Batch-size-1 inference (BN trained at batch 128, {len(labels)} validation images one at a time)",
        markdown_table(["seed", "batched acc", "batch-1 acc", "differing predictions", "of which not float ties", "max |logit diff|"],
                       [[str(b["seed"]), f"{b['batched_acc']:.4f}", f"{b['batch1_acc']:.4f}", str(b["differing_predictions"]),
                         str(b["differing_not_ties"]), f"{b['max_abs_logit_diff']:.2g}"] for b in batch1]),
    ])
    mlp_fits = [f for f in fits if f.variant in NORMS]
    return Report(
        name="homework", title="Homework: no norm, BN and LN on the [512, 256, 128, 64, 10] MLP",
        setup=(f"Norm before ReLU, SGD lr 0.01 (Keras's \"sgd\"), batch 32 (Keras's default), He init, "
               f"{summary['bn']['epochs_run']} epochs, {settings.seeds} seeds, {settings.data} data, validated every "
               f"{resolution(mlp_fits[0]):.3f} epoch (time to a target to that resolution; seconds: training steps only). "
               f"{PAIRING} Ratios: t on per-seed log-ratios. A seed that never gets below 0.4 counts as the run's length "
               "plus one check (a lower bound)."),
        columns=["norm", "final val acc", "best val acc", "epochs to val loss < 0.4", "optimizer steps to 0.4",
                 "seconds to 0.4", "s / epoch"],
        rows=rows, paragraph=" ".join(c.sentence(3) for c in checked), extra=extra,
        figures=standard_figures(mlp_fits, "Homework: none / BN / LN"),
        results={"settings": settings, "summary": summary, "claims": claims_json(checked), "batch1": batch1,
                 "to_none_best": none_best,
                 "runs": histories(fits)},
    )


def _time(s: dict, key: str, digits: int) -> str:
    times = s["to_val_loss_0.4"]
    misses = times["reached"].count(False)
    return ci_text(times[key], digits, POSITIVE) + (f" ({misses} seed(s) never reached)" if misses else "")
