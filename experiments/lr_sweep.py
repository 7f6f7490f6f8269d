"""The lesson's "BN allows higher learning rates": no norm, BN and LN over a sweep of SGD rates.

Every run is the lesson's MLP at batch 32 for ``EPOCHS`` epochs at one constant rate, with the
project's NaN guard on every step: a run whose training loss becomes non-finite stops there and
counts as diverged (at chance accuracy), not as an error. A seed *trains* at a rate when it did
not diverge and ended with val accuracy >= ``TRAINS_ACC``; its *highest trainable rate* is the
largest such rate of the sweep (a seed that trains at none counts as ``LRS[0] / 3``, below the
sweep; one that trains at the top is capped there, a lower bound).
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             mean_band)
from experiments.runner import RunSpec, Settings, by_variant
from experiments.stats import UNIT, Claim, mean_ci, paired_ci, ratio_ci

NORMS = ("none", "bn", "ln")
LRS = (0.01, 0.03, 0.1, 0.3, 1.0)
EPOCHS = 2
TRAINS_ACC = 0.80
CHANCE = 0.1  # ten balanced classes: a diverged run's accuracy
NAMES = {"none": "no norm", "bn": "BN", "ln": "LN"}


def label(norm: str, lr: float) -> str:
    return f"{norm}, lr {lr:g}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(label(norm, lr), settings.config(seed, epochs, norm=norm, lr=lr), stop_at_nan=True)
            for lr in LRS for norm in NORMS for seed in settings.seed_list()]


def measure(fit) -> dict:
    """One run: diverged or not (and where), its final val accuracy (chance if it diverged)."""
    val_loss = last(fit, "val/loss")
    diverged = fit.diverged is not None or not math.isfinite(val_loss)
    acc = CHANCE if diverged else last(fit, "val/acc")
    return {"diverged": diverged, "where": fit.diverged, "val_acc": acc, "val_loss": None if diverged else val_loss,
            "trains": (not diverged) and acc >= TRAINS_ACC, "epochs_run": len(fit.history)}


def highest_trainable(measured: dict, norm: str, seeds: int) -> list[float]:
    """Per seed: the largest rate of the sweep at which ``norm`` trains (``LRS[0] / 3`` if none)."""
    return [max([lr for lr in LRS if measured[label(norm, lr)][seed]["trains"]], default=LRS[0] / 3)
            for seed in range(seeds)]


def claims(measured: dict, seeds: int) -> list[Claim]:
    top = max(LRS)
    highest = {norm: highest_trainable(measured, norm, seeds) for norm in NORMS}
    acc = {norm: [m["val_acc"] for m in measured[label(norm, top)]] for norm in NORMS}
    return [
        Claim("BN trains at higher learning rates than no norm", "highest trainable rate of the sweep, BN / none",
              ratio_ci(highest["bn"], highest["none"]), ">", 1.0, key="bn_higher_lr"),
        Claim(f"At the sweep's highest rate ({top:g}) BN beats no norm", f"final val acc at lr {top:g}, BN - none",
              paired_ci(acc["bn"], acc["none"], bounded=True), ">", 0.0, key="bn_beats_none_at_top"),
        Claim("LN trains at higher learning rates than no norm", "highest trainable rate of the sweep, LN / none",
              ratio_ci(highest["ln"], highest["none"]), ">", 1.0, key="ln_higher_lr"),
        Claim("No norm diverges at the highest rate more often than BN", f"diverged seeds at lr {top:g}, none - BN",
              paired_ci([float(m["diverged"]) for m in measured[label("none", top)]],
                        [float(m["diverged"]) for m in measured[label("bn", top)]]), ">", 0.0, key="none_diverges_more"),
    ]


def analyse(fits, settings: Settings) -> Report:
    measured = {name: [measure(f) for f in group] for name, group in by_variant(fits).items()}
    rows = []
    for lr in LRS:
        for norm in NORMS:
            ms = measured[label(norm, lr)]
            went = [m for m in ms if m["diverged"]]
            rows.append([f"{lr:g}", norm, ci_text([m["val_acc"] for m in ms], bounds=UNIT), f"{sum(m['trains'] for m in ms)}/{len(ms)}",
                         f"{len(went)}/{len(ms)}", "; ".join(sorted({m["where"] for m in went if m["where"]})) or "-"])
    checked = claims(measured, settings.seeds)
    highest = {norm: highest_trainable(measured, norm, settings.seeds) for norm in NORMS}
    paragraph = ("Highest trainable rate per seed: " + "; ".join(f"{NAMES[n]} {', '.join(f'{v:g}' for v in highest[n])}"
                                                                for n in NORMS) + ". "
                 + " ".join(c.sentence() for c in checked))
    return Report(
        name="lr_sweep", title="Higher learning rates: no norm, BN and LN over an SGD rate sweep",
        setup=(f"MLP {fits[0].spec.config.hidden}, norm before ReLU, plain SGD at constant rates {', '.join(map(str, LRS))}, "
               f"batch 32, He init, {fits[0].spec.config.epochs} epochs, {settings.seeds} seeds, {settings.data} data. "
               f"{PAIRING} The NaN guard checks every step; a diverged run counts at chance accuracy ({CHANCE}). A seed "
               f"trains at a rate when it did not diverge and ended with val acc >= {TRAINS_ACC}; a seed that trains at "
               f"no rate counts as {LRS[0] / 3:.3g} (below the sweep), one that trains at {max(LRS):g} is capped there."),
        columns=["lr", "norm", "final val acc (diverged: chance)", "seeds that train", "diverged", "where it diverged"],
        rows=rows, paragraph=paragraph,
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures={"val_acc_vs_lr.png": _figure(measured, settings.seeds)},
        results={"settings": settings, "measured": measured, "highest_trainable": highest,
                 "claims": claims_json(checked), "runs": histories(fits)},
    )


def _figure(measured: dict, seeds: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for norm in NORMS:
        estimates = [mean_ci([m["val_acc"] for m in measured[label(norm, lr)]], bounds=UNIT) for lr in LRS]
        mid, low, high = mean_band(estimates)
        (line,) = ax.plot(LRS, mid, marker="o", label=NAMES[norm])
        ax.fill_between(LRS, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
        for lr in LRS:
            went = sum(m["diverged"] for m in measured[label(norm, lr)])
            if went:
                ax.annotate(f"{went} NaN", (lr, CHANCE), textcoords="offset points", xytext=(0, 6 + 9 * NORMS.index(norm)),
                            ha="center", fontsize=7, color=line.get_color())
    ax.axhline(TRAINS_ACC, color="grey", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xticks(LRS, [f"{lr:g}" for lr in LRS])
    ax.set(xlabel="SGD learning rate", ylabel="final validation accuracy (diverged: chance)",
           title=f"Val accuracy vs learning rate (mean, band: 95% CI over {seeds} seed{'s' * (seeds > 1)})")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
