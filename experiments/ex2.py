"""Exercise 2: BatchNorm before vs after the activation, for ReLU, GELU and SiLU (Swish) (2 x 3).

The lesson claims "before" wins with ReLU and "after" with GELU/Swish (SiLU is Swish with beta 1,
Keras's "silu"/"swish"); each is a paired
difference of final val accuracy over seeds with its 95% CI, judged by the rule in ``stats``.
"""

from __future__ import annotations

from experiments import ex1
from experiments.report import (PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last,
                                             standard_figures)
from experiments.runner import MLP_EPOCHS, RunSpec, Settings, by_variant
from experiments.stats import POSITIVE, UNIT, Claim, paired_ci
from lightning_mods.history import epochs_to

ACTIVATIONS = ("relu", "gelu", "silu")
NAMES = {"relu": "ReLU", "gelu": "GELU", "silu": "SiLU (Swish)"}
PLACEMENTS = ("pre", "post")
WORDS = {"pre": "before", "post": "after"}
CLAIMED = {"relu": "pre", "gelu": "post", "silu": "post"}  # the lesson: before wins with ReLU, after with GELU/Swish


def variant(placement: str, activation: str) -> str:
    return f"{WORDS[placement]} {activation}"


def plan(settings: Settings) -> list[RunSpec]:
    # Validated every 0.1 epoch like ex1 and the homework, whose runs "before relu" shares.
    epochs = settings.epochs_or(MLP_EPOCHS)
    return [RunSpec(variant(p, a), settings.config(seed, epochs, norm="bn", placement=p, activation=a),
                    checks_per_epoch=ex1.CHECKS)
            for a in ACTIVATIONS for p in PLACEMENTS for seed in settings.seed_list()]


def claims(summary: dict) -> list[Claim]:
    out = []
    for a in ACTIVATIONS:
        win = CLAIMED[a]
        lose = "post" if win == "pre" else "pre"
        out.append(Claim(f"BN {WORDS[win]} the activation beats {WORDS[lose]} with {NAMES[a]}",
                         f"final val acc, {WORDS[win]} - {WORDS[lose]}",
                         paired_ci(summary[variant(win, a)]["final_val_acc"], summary[variant(lose, a)]["final_val_acc"], bounded=True),
                         ">", 0.0, key=f"{a}_{WORDS[win]}"))
    return out


def analyse(fits, settings: Settings) -> Report:
    groups = by_variant(fits)
    summary = {name: {"final_val_acc": [last(f, "val/acc") for f in g],
                      "final_val_loss": [last(f, "val/loss") for f in g],
                      "min_val_loss": [min(r["val/loss"] for r in f.history) for f in g],
                      "epochs_to_val_loss_0.4": [epochs_to(f.checks, "val/loss", 0.4) for f in g]}
               for name, g in groups.items()}
    rows = []
    for a in ACTIVATIONS:
        for p in PLACEMENTS:
            s = summary[variant(p, a)]
            rows.append([a, WORDS[p], ci_text(s["final_val_acc"], bounds=UNIT), ci_text(s["final_val_loss"]),
                         ci_text(s["min_val_loss"]), ci_text(s["epochs_to_val_loss_0.4"], 2, POSITIVE)])
    checked = claims(summary)
    epochs = len(fits[0].history)
    return Report(
        name="ex2", title="Exercise 2: BatchNorm before or after the activation",
        setup=(f"MLP {fits[0].spec.config.hidden} with BN; before: Linear -> BN -> act, after: Linear -> act -> BN; "
               f"SGD lr 0.01, batch 32, He init, {epochs} epochs, {settings.seeds} seeds, {settings.data} data. {PAIRING}"),
        columns=["activation", "BN", "final val acc", "final val loss", "lowest val loss", "epochs to val loss < 0.4"],
        rows=rows, paragraph=" ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, "Ex. 2: BN before / after the activation"),
        results={"settings": settings, "summary": summary, "claims": claims_json(checked), "runs": histories(fits)},
    )
