"""Exercise 1: the same MLP with and without BatchNorm: val_loss curves, and the epochs, optimizer
steps and wall seconds until val accuracy >= 0.85 (validated every 0.1 epoch)."""

from __future__ import annotations

from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             mean, standard_figures)
from experiments.runner import MLP_EPOCHS, RunSpec, Settings, by_variant
from experiments.stats import POSITIVE, UNIT, Claim, ratio_ci
from experiments.targets import censored, resolution, times_to

TARGET_ACC = 0.85
NORMS = ("none", "bn")
CHECKS = 10  # validations per epoch


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(MLP_EPOCHS)
    return [RunSpec(norm, settings.config(seed, epochs, norm=norm), checks_per_epoch=CHECKS)
            for norm in NORMS for seed in settings.seed_list()]


def claims(summary: dict) -> list[Claim]:
    none, bn = summary["none"], summary["bn"]
    # Seconds to the target: optimizer steps x the benchmark's seconds per step, made by the ledger
    # (ledger/timing.py), not the wall clock of runs that shared their cores.
    return [
        Claim("BN reaches val acc 0.85 in fewer epochs", "epochs, BN / none",
              ratio_ci(bn["to_acc_0.85"]["epochs"], none["to_acc_0.85"]["epochs"]), "<", 1.0, key="epochs_to_acc",
              censored=censored(bn["to_acc_0.85"], none["to_acc_0.85"]), sides=("BN", "none")),
    ]


def summarize(fits) -> dict:
    return {norm: {"to_acc_0.85": times_to(group, "val/acc", TARGET_ACC, below=False),
                   "seconds_per_epoch": mean(row["seconds"] for f in group for row in f.history),
                   "final_val_loss": [last(f, "val/loss") for f in group],
                   "final_val_acc": [last(f, "val/acc") for f in group],
                   "min_val_loss": [min(r["val/loss"] for r in f.history) for f in group]}
            for norm, group in by_variant(fits).items()}


def _reached(times: dict, key: str, digits: int = 2) -> str:
    text = ci_text(times[key], digits, POSITIVE)
    misses = times["reached"].count(False)
    return text + (f" ({misses} seed(s) never reached: counted as the run's length, a lower bound)" if misses else "")


def analyse(fits, settings: Settings) -> Report:
    summary = summarize(fits)
    checked = claims(summary)
    rows = [[norm, _reached(s["to_acc_0.85"], "epochs"), ci_text(s["to_acc_0.85"]["steps"], 0, POSITIVE),
             _reached(s["to_acc_0.85"], "seconds", 1), f"{s['seconds_per_epoch']:.2f}", ci_text(s["final_val_loss"]),
             ci_text(s["final_val_acc"], bounds=UNIT)] for norm, s in summary.items()]
    epochs = len(fits[0].history)
    return Report(
        name="ex1", title="Exercise 1: the MLP with and without BatchNorm",
        setup=(f"MLP {fits[0].spec.config.hidden}, BN before ReLU, SGD lr 0.01, batch 32, He init, {epochs} epochs, "
               f"{settings.seeds} seeds, {settings.data} data, validated every {resolution(fits[0]):.3f} epoch. "
               f"{PAIRING} Seconds here are training-step wall time only (validation excluded), measured with runs sharing "
               "the machine's cores: shown, not judged; the claims ledger's seconds are optimizer steps x the benchmark's "
               "seconds per step (reports/bench). Ratios: t on per-seed log-ratios (geometric mean and its CI)."),
        columns=["norm", "epochs to val acc >= 0.85", "optimizer steps to 0.85", "seconds to 0.85",
                 "s / epoch", "final val loss", "final val acc"],
        rows=rows, paragraph=" ".join(c.sentence(3) for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, "Ex. 1: MLP, no norm vs BN"),
        results={"settings": settings, "summary": summary, "claims": claims_json(checked), "runs": histories(fits)},
    )
