"""Validation far from training because BN's inference statistics differ: stale moving averages
after few steps, and the momentum's role (the lesson's common error).

BN at batch 128 bounded like exercise 4 (``ex4.EPOCHS`` epochs of ``Settings.images_per_epoch``
images: 64 optimizer steps with the defaults), with Keras's momentum 0.99 (torch's 0.01: the
exercise-4 run itself) and with 0.9 (torch's default 0.1). The gap is the validation accuracy
in training mode (batch statistics, batches of 128) minus that in inference mode (the moving
averages): what the moving averages cost.
"""

from __future__ import annotations

from experiments import ex4
from experiments.probes import mode_accuracies
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             standard_figures)
from experiments.runner import RunSpec, Settings, by_variant, split
from experiments.stats import UNIT, Claim, mean_ci, paired_ci

BATCH = 128
MOMENTA = (0.99, 0.9)  # Keras's convention (torch momentum = 1 - this)


def label(momentum: float) -> str:
    return f"bn, Keras momentum {momentum:g}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(ex4.EPOCHS)
    # NetConfig.bn_momentum is torch's (1 - Keras's); rounded so that 0.99 gives exactly ex4's 0.01 (the same run)
    return [RunSpec(label(m), settings.config(seed, epochs, norm="bn", batch_size=BATCH, groups=ex4.GROUPS,
                                              bn_momentum=round(1 - m, 6)),
                    train_steps=settings.images_per_epoch // BATCH)
            for m in MOMENTA for seed in settings.seed_list()]


def claims(measured: dict) -> list[Claim]:
    slow, fast = (measured[label(m)] for m in MOMENTA)
    return [
        Claim("After few steps BN's validation accuracy in inference mode is below its training-mode accuracy "
              f"(stale moving averages, momentum {MOMENTA[0]:g})", "val acc, training mode - inference mode",
              mean_ci([m["gap"] for m in slow]), ">", 0.0, key="stale_gap"),
        Claim(f"A faster moving average (momentum {MOMENTA[1]:g}) shrinks that gap",
              f"gap at momentum {MOMENTA[0]:g} - gap at {MOMENTA[1]:g}",
              paired_ci([m["gap"] for m in slow], [m["gap"] for m in fast]), ">", 0.0, key="momentum_role"),
    ]


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    measured = {name: [{"val_loss": last(f, "val/loss"), "steps": len(f.step_losses),
                        **mode_accuracies(f.model.net, images, labels, BATCH)} for f in group]
                for name, group in by_variant(fits).items()}
    rows = [[f"{m:g}", f"{1 - m:g}", str(measured[label(m)][0]["steps"]), ci_text([x["eval_acc"] for x in measured[label(m)]], bounds=UNIT),
             ci_text([x["train_mode_acc"] for x in measured[label(m)]], bounds=UNIT), ci_text([x["gap"] for x in measured[label(m)]])]
            for m in MOMENTA]
    checked = claims(measured)
    return Report(
        name="stale_stats", title="Stale moving averages: BN's inference statistics after few steps, and the momentum",
        setup=(f"MLP {fits[0].spec.config.hidden}, BN before ReLU, SGD lr 0.01, batch {BATCH}, {len(fits[0].history)} "
               f"epochs of {settings.images_per_epoch} images (a random subset each epoch, as in exercise 4), "
               f"{settings.seeds} seeds, {settings.data} data. {PAIRING} Training-mode accuracy: the validation set "
               f"predicted with model.train() in batches of {BATCH} on a copy of the model."),
        columns=["Keras momentum", "torch momentum", "optimizer steps", "val acc, inference mode", "val acc, training mode",
                 "gap (training - inference)"],
        rows=rows, paragraph=" ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, f"BN at batch {BATCH}, two momenta"),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )
