"""Exercise 2: BatchNorm before vs after the activation, for ReLU and for GELU (2 x 2).

The lesson claims "before" wins with ReLU and "after" with GELU/Swish; the report states
what the measured numbers say, with the spread over seeds as the yardstick.
"""

from __future__ import annotations

from lightning_mods.exercises.report import Report, histories, last, mean, pm, spread, standard_figures
from lightning_mods.exercises.runner import MLP_EPOCHS, RunSpec, Settings, by_variant
from lightning_mods.history import epochs_to

ACTIVATIONS = ("relu", "gelu")
PLACEMENTS = ("pre", "post")
WORDS = {"pre": "before", "post": "after"}


def variant(placement: str, activation: str) -> str:
    return f"{WORDS[placement]} {activation}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(MLP_EPOCHS)
    return [RunSpec(variant(p, a), settings.config(seed, epochs, norm="bn", placement=p, activation=a))
            for a in ACTIVATIONS for p in PLACEMENTS for seed in range(settings.seeds)]


def analyse(fits, settings: Settings) -> Report:
    groups = by_variant(fits)
    summary = {name: {"final_val_acc": [last(f, "val/acc") for f in g],
                      "final_val_loss": [last(f, "val/loss") for f in g],
                      "min_val_loss": [min(r["val/loss"] for r in f.history) for f in g],
                      "epochs_to_val_loss_0.4": [epochs_to(f.history, "val/loss", 0.4) for f in g]}
               for name, g in groups.items()}
    rows = []
    for a in ACTIVATIONS:
        for p in PLACEMENTS:
            s = summary[variant(p, a)]
            rows.append([a, WORDS[p], pm(s["final_val_acc"]), pm(s["final_val_loss"]), pm(s["min_val_loss"]),
                         " ".join("-" if e is None else str(e) for e in s["epochs_to_val_loss_0.4"])])
    verdicts = {a: _verdict(summary[variant("pre", a)]["final_val_acc"], summary[variant("post", a)]["final_val_acc"])
                for a in ACTIVATIONS}
    epochs = len(fits[0].history)
    return Report(
        name="ex2", title="Exercise 2: BatchNorm before or after the activation",
        setup=(f"MLP {fits[0].spec.config.hidden} with BN; before: Linear -> BN -> act, after: Linear -> act -> BN; "
               f"SGD lr 0.01, batch 32, He init, {epochs} epochs, {settings.seeds} seed(s), {settings.data} data."),
        columns=["activation", "BN", "final val acc", "final val loss", "lowest val loss", "epochs to val loss < 0.4 (per seed)"],
        rows=rows, paragraph=_paragraph(verdicts), figures=standard_figures(fits, "Ex. 2: BN before / after the activation"),
        results={"settings": settings.__dict__, "summary": summary, "verdicts": verdicts, "runs": histories(fits)},
    )


def _verdict(before: list[float], after: list[float]) -> dict:
    """Which placement has the higher mean final val accuracy, and whether the gap exceeds
    the seeds' spread (the larger of the two standard deviations)."""
    diff = mean(before) - mean(after)
    noise = max(spread(before), spread(after))
    winner = "before" if diff > 0 else "after" if diff < 0 else "tie"
    return {"winner": winner, "difference": diff, "seed_std": noise, "beyond_noise": abs(diff) > noise > 0}


def _paragraph(verdicts: dict) -> str:
    def says(a):
        v = verdicts[a]
        if v["seed_std"] == 0:
            noise = "(one seed: no spread over seeds to judge it against)"
        else:
            noise = f"{'more than' if v['beyond_noise'] else 'within'} the seed-to-seed spread ({v['seed_std']:.4f})"
        return f"with {a.upper()}, BN {v['winner']} the activation ends higher by {abs(v['difference']):.4f} val accuracy, {noise}"

    relu, gelu = verdicts["relu"], verdicts["gelu"]
    holds = relu["winner"] == "before" and gelu["winner"] == "after"
    firm = holds and relu["beyond_noise"] and gelu["beyond_noise"]
    if firm:
        verdict = "The data supports the lesson's claim (before wins with ReLU, after with GELU)."
    elif holds:
        verdict = ("The ordering matches the lesson's claim, but at least one difference is not beyond the seed "
                   "noise, so the data does not firmly support it.")
    else:
        verdict = "The data does NOT support the lesson's claim that BN before wins with ReLU and after with GELU."
    return f"Measured: {says('relu')}; {says('gelu')}. {verdict}"
