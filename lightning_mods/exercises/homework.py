"""The homework: no norm, BN and LN on the [512, 256, 128, 64, 10] MLP (val accuracy, epochs
until val_loss < 0.4), then the BN model trained at batch 128 evaluated one sample at a time.

``claims`` checks the lesson's acceptance on the measured numbers; the slow tests use it.
"""

from __future__ import annotations

import math

from lightning_mods.exercises import ex3
from lightning_mods.exercises.probes import batch1_inference
from lightning_mods.exercises.report import Report, histories, last, markdown_table, mean, pm, standard_figures
from lightning_mods.exercises.runner import MLP_EPOCHS, RunSpec, Settings, by_variant, split
from lightning_mods.history import epochs_to

NORMS = ("none", "bn", "ln")
VAL_LOSS_TARGET = 0.4
SPEEDUP_CLAIM = 0.30  # "BN must speed convergence by at least 30%"
BATCH1_VARIANT = "bn, batch 128"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(MLP_EPOCHS)
    specs = [RunSpec(norm, settings.config(seed, epochs, norm=norm)) for norm in NORMS for seed in range(settings.seeds)]
    # The same run as ex3's BN model (same config), so `all` trains it once.
    bn128 = [spec for spec in ex3.plan(settings) if spec.config.norm == "bn"]
    return specs + [RunSpec(BATCH1_VARIANT, spec.config) for spec in bn128]


def summarize(fits) -> dict:
    """Per norm: final/best val accuracy, epochs to val_loss < 0.4 per seed, NaN seen."""
    return {norm: {"final_val_acc": [last(f, "val/acc") for f in group],
                   "best_val_acc": [max(r["val/acc"] for r in f.history) for f in group],
                   "final_val_loss": [last(f, "val/loss") for f in group],
                   "epochs_to_val_loss_0.4": [epochs_to(f.history, "val/loss", VAL_LOSS_TARGET) for f in group],
                   "epochs_run": len(group[0].history),
                   "nan": any(math.isnan(r["val/loss"]) or math.isnan(r["train/loss"]) for f in group for r in f.history),
                   "seconds_per_epoch": mean(r["seconds"] for f in group for r in f.history)}
            for norm, group in by_variant(fits).items() if norm in NORMS}


def claims(summary: dict, batch1: list[dict]) -> dict:
    """The lesson's acceptance, evaluated on the measurements. A seed that never reached the
    target counts as epochs_run + 1 (a lower bound on its true epochs)."""
    def censored(norm):
        s = summary[norm]
        return [e if e is not None else s["epochs_run"] + 1 for e in s["epochs_to_val_loss_0.4"]]

    none_mean, bn_mean = mean(censored("none")), mean(censored("bn"))
    speedup = 1 - bn_mean / none_mean
    ln = summary["ln"]
    return {
        "bn_epochs_mean": bn_mean, "none_epochs_mean": none_mean, "bn_speedup": speedup,
        "bn_all_reached": all(e is not None for e in summary["bn"]["epochs_to_val_loss_0.4"]),
        "bn_30pct_faster": speedup >= SPEEDUP_CLAIM and all(e is not None for e in summary["bn"]["epochs_to_val_loss_0.4"]),
        "ln_stable": all(e is not None for e in ln["epochs_to_val_loss_0.4"]) and not ln["nan"],
        "ln_val_acc": mean(ln["final_val_acc"]), "bn_val_acc": mean(summary["bn"]["final_val_acc"]),
        "batch1_equal": all(b["batch1_acc"] == b["batched_acc"] and b["differing_not_ties"] == 0 for b in batch1),
    }


def analyse(fits, settings: Settings) -> Report:
    summary = summarize(fits)
    images, labels = split(settings, "val")
    batch1 = [{"seed": f.seed, **batch1_inference(f.model.net, images, labels)} for f in by_variant(fits)[BATCH1_VARIANT]]
    verdict = claims(summary, batch1)
    rows = [[norm, pm(s["final_val_acc"]), pm(s["best_val_acc"]), _epochs(s), f"{s['seconds_per_epoch']:.2f}"]
            for norm, s in summary.items()]
    extra = "\n\n".join([
        "## The lesson's acceptance, on these numbers",
        markdown_table(["claim", "measured", "holds"], _claim_rows(verdict)),
        f"## Batch-size-1 inference (BN trained at batch 128, {len(labels)} validation images one at a time)",
        markdown_table(["seed", "batched acc", "batch-1 acc", "differing predictions", "of which not float ties", "max |logit diff|"],
                       [[str(b["seed"]), f"{b['batched_acc']:.4f}", f"{b['batch1_acc']:.4f}", str(b["differing_predictions"]),
                         str(b["differing_not_ties"]), f"{b['max_abs_logit_diff']:.2g}"] for b in batch1]),
    ])
    mlp_fits = [f for f in fits if f.variant in NORMS]
    return Report(
        name="homework", title="Homework: no norm, BN and LN on the [512, 256, 128, 64, 10] MLP",
        setup=(f"Norm before ReLU, SGD lr 0.01 (Keras's \"sgd\"), batch 32 (Keras's default), He init (the same initial "
               f"Linear weights for every norm per seed), {summary['bn']['epochs_run']} epochs, {settings.seeds} seed(s), "
               f"{settings.data} data."),
        columns=["norm", "final val acc", "best val acc", "epochs to val loss < 0.4: mean (per seed)", "s / epoch"],
        rows=rows, paragraph=_paragraph(summary, verdict, batch1), extra=extra,
        figures=standard_figures(mlp_fits, "Homework: none / BN / LN"),
        results={"settings": settings.__dict__, "summary": summary, "claims": verdict, "batch1": batch1,
                 "runs": histories(fits)},
    )


def _epochs(s: dict) -> str:
    values = s["epochs_to_val_loss_0.4"]
    hits = [v for v in values if v is not None]
    head = f"{mean(hits):.2f}" if hits else "not reached"
    return f"{head} ({' '.join(str(v) if v is not None else '-' for v in values)})"


def _claim_rows(v: dict) -> list[list[str]]:
    yes = {True: "yes", False: "**no**"}
    return [
        ["BN reaches val loss < 0.4 in >= 30% fewer epochs than no norm",
         f"{v['bn_epochs_mean']:.2f} vs {v['none_epochs_mean']:.2f} epochs: {100 * v['bn_speedup']:.0f}% fewer", yes[v["bn_30pct_faster"]]],
        ["LN is stable (every seed reaches val loss < 0.4, no NaN)", f"LN val acc {v['ln_val_acc']:.4f} (BN {v['bn_val_acc']:.4f})",
         yes[v["ln_stable"]]],
        ["batch-1 inference accuracy equals batched", "see the table below", yes[v["batch1_equal"]]],
    ]


def _paragraph(summary: dict, v: dict, batch1: list[dict]) -> str:
    accs = ", ".join(f"{n} {mean(s['final_val_acc']):.4f}" for n, s in summary.items())
    diff = sum(b["differing_predictions"] for b in batch1)
    speed = (f"BN needed {v['bn_epochs_mean']:.2f} epochs on average to bring val loss below 0.4 against "
             f"{v['none_epochs_mean']:.2f} without normalization, {100 * v['bn_speedup']:.0f}% fewer: the lesson's "
             f"'at least 30%' claim {'holds' if v['bn_30pct_faster'] else 'FAILS'} here.")
    ln = (f"LN {'was stable (every seed got below 0.4, no NaN)' if v['ln_stable'] else 'was NOT stable by that test'} and "
          f"ended at val accuracy {v['ln_val_acc']:.4f} against BN's {v['bn_val_acc']:.4f} "
          f"({'a little worse than BN, as the lesson expects' if v['ln_val_acc'] < v['bn_val_acc'] else 'not worse than BN, unlike the lesson expects'}).")
    b1 = (f"Evaluated one sample at a time, the BN model gave {diff} prediction(s) different from the batched evaluation "
          f"over {len(batch1)} seed(s) x {batch1[0]['samples']} images, so the accuracy "
          f"{'is identical' if v['batch1_equal'] else 'is NOT identical'}: inference uses the running averages, not the batch.")
    missed = [n for n in ("none", "bn") if None in summary[n]["epochs_to_val_loss_0.4"]]
    if missed:
        speed += (f" ({', '.join(missed)}: some seeds never got below 0.4 in {summary['bn']['epochs_run']} epochs and "
                  f"count as {summary['bn']['epochs_run'] + 1}, a lower bound.)")
    return f"Final val accuracy: {accs}. {speed} {ln} {b1}"
