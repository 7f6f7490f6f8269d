"""Exercise 1: the same MLP with and without BatchNorm: val_loss curves, and the epochs and
wall seconds until val accuracy >= 0.85."""

from __future__ import annotations

from lightning_mods.exercises.report import Report, histories, last, mean, pm, standard_figures
from lightning_mods.exercises.runner import MLP_EPOCHS, RunSpec, Settings, by_variant
from lightning_mods.history import epochs_to

TARGET_ACC = 0.85
NORMS = ("none", "bn")


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(MLP_EPOCHS)
    return [RunSpec(norm, settings.config(seed, epochs, norm=norm)) for norm in NORMS for seed in range(settings.seeds)]


def seconds_to(history: list[dict], epoch: int | None) -> float | None:
    """Training wall seconds of the first ``epoch`` epochs (validation excluded)."""
    return None if epoch is None else sum(row["seconds"] for row in history[:epoch])


def reached(values: list) -> str:
    """Mean over the seeds that reached the target, and how many did."""
    hits = [v for v in values if v is not None]
    text = f"{mean(hits):.2f}" if hits else "not reached"
    return text if len(hits) == len(values) else f"{text} ({len(hits)}/{len(values)} seeds reached)"


def analyse(fits, settings: Settings) -> Report:
    groups = by_variant(fits)
    summary = {}
    for norm, group in groups.items():
        epochs = [epochs_to(f.history, "val/acc", TARGET_ACC, below=False) for f in group]
        summary[norm] = {
            "epochs_to_acc_0.85": epochs,
            "seconds_to_acc_0.85": [seconds_to(f.history, e) for f, e in zip(group, epochs)],
            "seconds_per_epoch": mean(row["seconds"] for f in group for row in f.history),
            "final_val_loss": [last(f, "val/loss") for f in group],
            "final_val_acc": [last(f, "val/acc") for f in group],
            "min_val_loss": [min(r["val/loss"] for r in f.history) for f in group],
        }
    rows = [[norm, reached(s["epochs_to_acc_0.85"]), " ".join("-" if e is None else str(e) for e in s["epochs_to_acc_0.85"]),
             reached(s["seconds_to_acc_0.85"]), f"{s['seconds_per_epoch']:.2f}", pm(s["final_val_loss"]),
             pm(s["final_val_acc"])] for norm, s in summary.items()]
    epochs = len(fits[0].history)
    return Report(
        name="ex1", title="Exercise 1: the MLP with and without BatchNorm",
        setup=(f"MLP {fits[0].spec.config.hidden}, BN before ReLU, SGD lr 0.01, batch 32, He init (the same "
               f"initial weights for both per seed), {epochs} epochs, {settings.seeds} seed(s), {settings.data} data. "
               "Seconds are training-step wall time only (validation excluded), measured on this machine."),
        columns=["norm", "epochs to val acc >= 0.85 (mean)", "per seed", "seconds to 0.85 (mean)",
                 "s / epoch", "final val loss", "final val acc"],
        rows=rows, paragraph=_paragraph(summary), figures=standard_figures(fits, "Ex. 1: MLP, no norm vs BN"),
        results={"settings": settings.__dict__, "summary": summary, "runs": histories(fits)},
    )


def _paragraph(summary: dict) -> str:
    none, bn = summary["none"], summary["bn"]
    e_none, e_bn = mean(none["epochs_to_acc_0.85"]), mean(bn["epochs_to_acc_0.85"])
    s_none, s_bn = mean(none["seconds_to_acc_0.85"]), mean(bn["seconds_to_acc_0.85"])
    if any(e is None for e in none["epochs_to_acc_0.85"] + bn["epochs_to_acc_0.85"]):
        lead = "Not every seed reached val accuracy 0.85 within the epochs run (see the table)."
    else:
        faster = "fewer" if e_bn < e_none else "more" if e_bn > e_none else "as many"
        lead = (f"With BatchNorm the MLP reached val accuracy 0.85 after {e_bn:.2f} epochs on average, "
                f"{faster} than the {e_none:.2f} without it ({100 * (1 - e_bn / e_none):.0f}% fewer epochs); "
                f"in wall time {s_bn:.1f} s against {s_none:.1f} s ({100 * (1 - s_bn / s_none):.0f}% less), "
                f"since a BN epoch costs {bn['seconds_per_epoch'] / none['seconds_per_epoch']:.2f}x a plain one.")
    tail = (f" After the last epoch BN's val loss is {mean(bn['final_val_loss']):.4f} against "
            f"{mean(none['final_val_loss']):.4f} (lowest over the epochs: {mean(bn['min_val_loss']):.4f} vs "
            f"{mean(none['min_val_loss']):.4f}), val accuracy {mean(bn['final_val_acc']):.4f} vs "
            f"{mean(none['final_val_acc']):.4f}.")
    return lead + tail
