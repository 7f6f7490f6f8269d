"""Exercise 4: small batches. BN, LN and GN at batch size 4, and a sweep over 2, 4, 8, 32, 128.

Bounded honestly: every run sees the same number of training images per epoch
(``Settings.images_per_epoch``, a random subset each epoch) for the same number of epochs,
whatever its batch size, with the lesson's SGD lr 0.01; so small batches take more steps.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from experiments.probes import mode_accuracies
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             mean, mean_band, spread, standard_figures)
from experiments.runner import RunSpec, Settings, by_variant, split
from experiments.stats import UNIT, Claim, mean_ci, paired_ci

NORMS = ("bn", "ln", "gn")
BATCH_SIZES = (2, 4, 8, 32, 128)
FOCUS = 4  # the lesson's "force batch_size=4"
EPOCHS = 2
LAST_STEPS = 50  # the loss's std over the run's last steps (shown; it misses BN's collapse at batch 2, see ``instability``)
# Keras's default 32 groups would leave 2 features per group in the 64-wide layer, and a group of
# two normalizes to exactly (-1, +1): 8 groups keep 8 to 64 features per group in every layer.
GROUPS = 8


def label(norm: str, batch: int) -> str:
    return f"{norm} batch {batch}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(label(norm, b), settings.config(seed, epochs, norm=norm, batch_size=b, groups=GROUPS),
                    train_steps=settings.images_per_epoch // b)
            for b in BATCH_SIZES for norm in NORMS for seed in settings.seed_list()]


def measure(fit, images, labels) -> dict:
    losses = fit.step_losses
    tail = losses[-LAST_STEPS:]
    modes = mode_accuracies(fit.model.net, images, labels, fit.spec.config.batch_size)
    return {"steps": len(losses), "nan": any(math.isnan(v) for v in losses), "loss_std_last": spread(tail),
            "loss_mean_last": mean(tail), "val_acc": last(fit, "val/acc"), "val_loss": last(fit, "val/loss"),
            "train_mode_val_acc": modes["train_mode_acc"], "mode_gap": modes["gap"]}


def instability(m: dict) -> float:
    """What the lesson means by BN's instability at small batches: the net's accuracy depends on which
    statistics it normalizes with. |training-mode - inference-mode val accuracy| (0 for LN and GN, whose
    two modes are the same computation). At batch 2 BN's inference accuracy collapses to ~0.35 while its
    loss std is lower than LN's; this gap is ~0.13 there against LN's 0."""
    return abs(m["mode_gap"])


def claims(measured: dict) -> list[Claim]:
    def values(norm, b, key):
        return [m[key] for m in measured[label(norm, b)]]

    small = BATCH_SIZES[0]
    def unstable(norm, b):
        return [instability(m) for m in measured[label(norm, b)]]

    out = [Claim(f"BN is unstable at batch {FOCUS}: its accuracy depends on the mode (batch vs running statistics) "
                 "more than LN's", "|training-mode - inference-mode val acc|, BN - LN",
                 paired_ci(unstable("bn", FOCUS), unstable("ln", FOCUS), bounded=True), ">", 0.0,
                 key=f"bn_unstable_{FOCUS}")]
    out += [Claim(f"{n.upper()} does better than BN at batch {FOCUS}", f"val acc, {n.upper()} - BN",
                  paired_ci(values(n, FOCUS, "val_acc"), values("bn", FOCUS, "val_acc"), bounded=True), ">", 0.0,
                  key=f"{n}_beats_bn_{FOCUS}") for n in ("ln", "gn")]
    out.append(Claim(f"GN is far above BN at batch {small} (Wu & He)", f"val acc, GN - BN at batch {small}",
                     paired_ci(values("gn", small, "val_acc"), values("bn", small, "val_acc"), bounded=True), ">", 0.0,
                     key=f"gn_far_above_bn_{small}"))
    spread_gn = [max(vs) - min(vs) for vs in zip(*(values("gn", b, "val_acc") for b in BATCH_SIZES))]
    spread_bn = [max(vs) - min(vs) for vs in zip(*(values("bn", b, "val_acc") for b in BATCH_SIZES))]
    out.append(Claim("GN's accuracy varies less across batch sizes than BN's", "range of val acc over batch sizes, GN - BN",
                     paired_ci(spread_gn, spread_bn, bounded=True), "<", 0.0, key="gn_less_sensitive"))
    out.append(Claim(f"BN's running averages lag at batch {BATCH_SIZES[-1]} (training mode beats inference mode)",
                     "val acc, training mode - inference mode",
                     paired_ci(values("bn", BATCH_SIZES[-1], "train_mode_val_acc"), values("bn", BATCH_SIZES[-1], "val_acc"),
                               bounded=True), ">", 0.0, key="bn_stale_averages"))
    return out


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    measured = {name: [measure(f, images, labels) for f in group] for name, group in by_variant(fits).items()}
    rows = []
    for b in BATCH_SIZES:
        for norm in NORMS:
            ms = measured[label(norm, b)]
            rows.append([str(b), norm, str(ms[0]["steps"]), f"{mean(m['loss_std_last'] for m in ms):.4f}",
                         ci_text([m["val_acc"] for m in ms], bounds=UNIT), ci_text([m["train_mode_val_acc"] for m in ms], bounds=UNIT),
                         f"{mean(m['mode_gap'] for m in ms):+.4f}", "yes" if any(m["nan"] for m in ms) else "no"])
    checked = claims(measured)
    focus = [f for f in fits if f.spec.config.batch_size == FOCUS]
    figures = {"val_acc_vs_batch.png": _batch_figure(measured, settings.seeds)}
    figures.update(standard_figures(focus, f"Ex. 4: batch size {FOCUS}"))
    epochs = len(fits[0].history)
    return Report(
        name="ex4", title="Exercise 4: BatchNorm, LayerNorm and GroupNorm at small batch sizes",
        setup=(f"MLP {fits[0].spec.config.hidden}, norm before ReLU, GN with {fits[0].spec.config.groups} groups, "
               f"SGD lr 0.01, {settings.seeds} seeds, {settings.data} data. {PAIRING} BOUNDED: each run trains {epochs} epochs of "
               f"{settings.images_per_epoch} images (a random subset each epoch, not the full 55,000), the same for every "
               f"batch size and norm. Loss std: over the last {LAST_STEPS} training steps (shown, not judged: it misses BN's collapse at batch 2). Instability: |gap|. Training-mode accuracy: the "
               "validation set predicted with model.train() in batches of the training batch size; gap = training-mode "
               "minus inference-mode accuracy. The per-epoch curves are those of batch size 4."),
        columns=["batch", "norm", "steps", "loss std (last steps)", "val acc", "val acc, training mode", "gap", "NaN"],
        rows=rows, paragraph=_paragraph(measured) + " " + " ".join(c.sentence() for c in checked), figures=figures,
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _batch_figure(measured: dict, seeds: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for norm in NORMS:
        mid, low, high = mean_band([mean_ci([m["val_acc"] for m in measured[label(norm, b)]], bounds=UNIT) for b in BATCH_SIZES])
        (line,) = ax.plot(BATCH_SIZES, mid, marker="o", label=norm)
        ax.fill_between(BATCH_SIZES, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.set(xlabel="batch size", ylabel="validation accuracy (inference mode)",
           title=f"Val accuracy vs batch size (same images per run; mean, band: 95% CI over {seeds} seed{'s' * (seeds > 1)})")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def _paragraph(measured: dict) -> str:
    def acc(norm, b):
        return mean(m["val_acc"] for m in measured[label(norm, b)])

    def std(norm, b):
        return mean(m["loss_std_last"] for m in measured[label(norm, b)])

    small, large = BATCH_SIZES[0], BATCH_SIZES[-1]
    focus = ", ".join(f"{n.upper()} {acc(n, FOCUS):.4f}" for n in NORMS)
    stds = ", ".join(f"{n.upper()} {std(n, FOCUS):.3f}" for n in NORMS)
    best = max(NORMS, key=lambda n: acc(n, FOCUS))
    gaps = ", ".join(f"batch {b} {mean(m['mode_gap'] for m in measured[label('bn', b)]):+.4f}" for b in BATCH_SIZES)
    nans = [name for name, ms in measured.items() if any(m["nan"] for m in ms)]
    trend = "; ".join(f"{n.upper()} {acc(n, small):.4f} at batch {small} vs {acc(n, large):.4f} at {large}" for n in NORMS)
    bn_large = measured[label("bn", large)]
    lag = ""
    if mean(m["mode_gap"] for m in bn_large) > 0:
        lag = (f" At batch {large} BN is better in training mode than in inference mode: after only "
               f"{bn_large[0]['steps']} steps its running averages (torch momentum 0.01, Keras's 0.99) have not yet "
               "caught up with the batch statistics, so inference uses stale ones.")
    return (f"At batch size {FOCUS}: val accuracy {focus} (best: {best.upper()}); loss std over the last steps {stds}. "
            f"BN's training-mode minus inference-mode accuracy: {gaps} (LN and GN have no such gap: "
            f"{max(abs(m['mode_gap']) for n in ('ln', 'gn') for b in BATCH_SIZES for m in measured[label(n, b)]):.4f} at most). "
            f"Across the sweep: {trend}. "
            + (f"Runs with NaN losses: {', '.join(nans)}." if nans else "No run produced a NaN loss.") + lag)
