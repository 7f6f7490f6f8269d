"""How BatchNorm helps optimization: Santurkar et al. (2018), Figure 4, on the lesson's MLP.

BN vs no norm, plain SGD at two constant learning rates, batch 128, paired seeds. Every
``PROBE_EVERY`` optimizer steps ``lightning_mods.landscape.LandscapeProbe`` moves along -g by
eta in {0.5, 1, 2, 4} x lr on the step's own batch and measures (a) the range of the loss over
eta, (b) the range of ||grad L(x - eta g) - g|| (gradient predictiveness) and (c) the largest
||grad L(x - eta g) - g|| / ||eta g|| (effective beta-smoothness). A run whose training loss
becomes NaN stops there, and its divergence is a result.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt

from experiments.report import (PAIRING, Report, claims_json, claims_markdown, histories, last, mean,
                                             standard_figures)
from experiments.runner import RunSpec, Settings, steps_per_epoch
from experiments.stats import Claim, paired_ci, ratio_ci
from lightning_mods.landscape import MULTIPLIERS

NORMS = ("none", "bn")
LRS = (0.1, 0.5)
BATCH_SIZE = 128
EPOCHS = 12  # 12 x 430 = 5,160 optimizer steps on the real data (the paper: ~15k; the 12 runs fit in ~20 min on 2 cores)
PROBE_EVERY = 100  # the paper's; shorter runs probe more often, so that each has MIN_PROBES
MIN_PROBES = 20
WINDOW = 0.1  # "early": the first tenth of a run's planned steps, "late": the last tenth
MEASURES = {  # key of a probe's summary -> (its panel in the paper's Figure 4, what it is)
    "loss_range": ("(a)", "loss range over eta, max - min"),
    "diff_high": ("(b)", "upper edge of ||grad L(x - eta g) - g|| over eta"),
    "beta": ("(c)", "effective beta-smoothness, max over eta"),
}
COLORS = {"none": "tab:blue", "bn": "tab:orange"}
NAMES = {"none": "no norm", "bn": "BN"}


def label(norm: str, lr: float) -> str:
    return f"{norm}, lr {lr:g}"


def planned_steps(spec: RunSpec) -> int:
    return spec.config.epochs * steps_per_epoch(spec.config)


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    specs = []
    for lr in LRS:
        for norm in NORMS:
            for seed in settings.seed_list():
                config = settings.config(seed, epochs, norm=norm, lr=lr, batch_size=BATCH_SIZE)
                every = min(PROBE_EVERY, max(1, epochs * steps_per_epoch(config) // MIN_PROBES))
                specs.append(RunSpec(label(norm, lr), config, probe_every=every, stop_at_nan=True))
    return specs


def probes(fit) -> list[dict]:
    """A run's probes as the figure's numbers, one per probe taken at a finite point (L(x), ||g||)."""
    out = []
    for row in fit.landscape:
        if not (math.isfinite(row["loss"]) and math.isfinite(row["grad_norm"])):
            continue  # the run had diverged: there is no landscape to speak of
        losses, diffs = row["losses"], row["grad_diffs"]
        out.append({"step": row["step"], "loss_low": min(losses), "loss_high": max(losses),
                    "loss_range": max(losses) - min(losses), "diff_low": min(diffs), "diff_high": max(diffs),
                    "beta": max(row["betas"])})
    return out


def diverged_step(fit) -> int | None:
    """The optimizer step (0-based) whose training loss was first non-finite, if any."""
    return next((i for i, loss in enumerate(fit.step_losses) if not math.isfinite(loss)), None)


def _window(rows: list[dict], key: str, start: float, stop: float) -> float:
    return mean(r[key] for r in rows if start <= r["step"] < stop)


def summarize(fits) -> dict:
    """Per variant: per seed, its divergence, final val acc, and early/late/whole-run means of each edge."""
    out = {}
    for fit in fits:
        rows, steps = probes(fit), planned_steps(fit.spec)
        early, late = (0, WINDOW * steps), ((1 - WINDOW) * steps, math.inf)
        keys = ("loss_low", "loss_high", *MEASURES, "diff_low")
        entry = out.setdefault(fit.variant, {"norm": fit.spec.config.norm, "lr": fit.spec.config.lr, "seeds": []})
        entry["seeds"].append({
            "seed": fit.seed, "diverged_step": diverged_step(fit), "probes": len(rows),
            "probe_every": fit.spec.probe_every, "planned_steps": steps,
            "final_val_acc": math.nan if fit.diverged else last(fit, "val/acc"),
            "early": {k: _window(rows, k, *early) for k in keys}, "late": {k: _window(rows, k, *late) for k in keys}})
    return out


def _paired_means(fits, lr: float, key: str) -> tuple[list[float], list[float], list[int]]:
    """Per seed, BN's and no norm's mean of ``key`` over the probe steps both runs reached."""
    runs = {(f.spec.config.norm, f.seed): {r["step"]: r[key] for r in probes(f)} for f in fits if f.spec.config.lr == lr}
    bn, none, counts = [], [], []
    for seed in sorted({seed for _, seed in runs}):
        a, b = runs.get(("bn", seed), {}), runs.get(("none", seed), {})
        common = sorted(set(a) & set(b))
        bn.append(mean(a[s] for s in common))
        none.append(mean(b[s] for s in common))
        counts.append(len(common))
    return bn, none, counts


def claims(fits, summary: dict) -> list[Claim]:
    """BN's landscape is smoother (each measure lower, per seed, over the probes both runs reached),
    at each rate; and at the higher rate no norm diverges where BN does not."""
    out = []
    for lr in LRS:
        for key, (panel, what) in MEASURES.items():
            bn, none, counts = _paired_means(fits, lr, key)
            steps = f"{min(counts)}-{max(counts)}" if min(counts) != max(counts) else str(min(counts))
            out.append(Claim(f"lr {lr:g}: BN's landscape is smoother by {panel}",
                             f"{what}, mean over the {steps} probes both runs reached, BN / none",
                             ratio_ci(bn, none), "<", 1.0, key=f"smoother_{key}_lr{lr:g}"))
    top = max(LRS)
    went = {norm: [float(s["diverged_step"] is not None) for s in summary[label(norm, top)]["seeds"]] for norm in NORMS}
    out.append(Claim(f"lr {top:g}: no norm diverges (NaN loss) where BN does not", "diverged seeds, none - BN",
                     paired_ci(went["none"], went["bn"]), ">", 0.0, key="none_diverges"))
    return out


def _by_step(fits, key: str) -> tuple[list[int], list[float]]:
    """Steps and the mean of ``key`` over the seeds that have a probe there."""
    values: dict[int, list[float]] = {}
    for fit in fits:
        for row in probes(fit):
            values.setdefault(row["step"], []).append(row[key])
    steps = sorted(values)
    return steps, [mean(values[s]) for s in steps]


def figure(fits, summary: dict, seeds: int) -> plt.Figure:
    """The paper's Figure 4, one row per learning rate: (a) the loss band over eta, (b) the band of
    the gradient change, (c) effective beta-smoothness; BN vs no norm; mean over seeds."""
    fig, axes = plt.subplots(len(LRS), 3, figsize=(14, 4.2 * len(LRS)), dpi=100, squeeze=False)
    panels = [("loss_low", "loss_high", "(a) loss landscape: L(x - eta g) over eta"),
              ("diff_low", "diff_high", "(b) gradient predictiveness: ||grad L(x - eta g) - g||"),
              (None, "beta", "(c) effective beta-smoothness: max ||grad L(x - eta g) - g|| / ||eta g||")]
    for row, lr in zip(axes, LRS):
        for norm in NORMS:
            group = [f for f in fits if f.spec.config.norm == norm and f.spec.config.lr == lr]
            went = [s["diverged_step"] for s in summary[label(norm, lr)]["seeds"] if s["diverged_step"] is not None]
            name = NAMES[norm] + (f" (diverged in {len(went)}/{len(group)} seeds, step {min(went)}+)" if went else "")
            for ax, (low, high, _) in zip(row, panels):
                steps, top = _by_step(group, high)
                marker = "o" if len(steps) < 3 else None
                ax.plot(steps, top, color=COLORS[norm], linewidth=1, marker=marker, markersize=3, label=name)
                if low is not None:
                    _, bottom = _by_step(group, low)
                    ax.plot(steps, bottom, color=COLORS[norm], linewidth=0.6, marker=marker, markersize=3)
                    ax.fill_between(steps, bottom, top, color=COLORS[norm], alpha=0.3, linewidth=0)
        for ax, (_, _, title) in zip(row, panels):
            ax.set_yscale("log")
            ax.set_title(f"{title}\nlr {lr:g}", fontsize=9)
            ax.set_xlabel("optimizer step")
            ax.grid(alpha=0.3, which="both")
        row[0].legend(fontsize=8)
    etas = ", ".join(f"{m:g}" for m in MULTIPLIERS)
    fig.suptitle(f"Loss landscape along -g, eta in {{{etas}}} x lr, on each step's batch (BN in training mode); "
                 f"mean over {seeds} seed{'s' * (seeds > 1)}; bands: min to max over eta", fontsize=10)
    fig.tight_layout()
    return fig


def _number(value: float, digits: int = 3) -> str:
    return f"{value:.{digits}g}" if math.isfinite(value) else "-"


def _edges(seeds: list[dict], when: str, low: str, high: str | None = None) -> str:
    """The mean over seeds of a window's lower (and upper) edge; "-" where no seed has a probe there."""
    bottom = _number(mean(s[when][low] for s in seeds))
    return bottom if high is None else f"{bottom} to {_number(mean(s[when][high] for s in seeds))}"


def _diverged_text(seeds: list[dict]) -> str:
    went = [str(s["diverged_step"]) for s in seeds if s["diverged_step"] is not None]
    return f"{len(went)} (step {', '.join(went)})" if went else "0"


def analyse(fits, settings: Settings) -> Report:
    summary = summarize(fits)
    checked = claims(fits, summary)
    rows = []
    for variant, entry in summary.items():
        seeds = entry["seeds"]
        rows.append([f"{entry['lr']:g}", NAMES[entry["norm"]], _diverged_text(seeds), _number(mean(s["final_val_acc"] for s in seeds), 4),
                     *(_edges(seeds, when, *keys) for keys in (("loss_low", "loss_high"), ("diff_low", "diff_high"), ("beta",))
                       for when in ("early", "late"))])
    steps = planned_steps(fits[0].spec)
    every = sorted({f.spec.probe_every for f in fits})
    seconds = sum(f.seconds for f in fits)
    setup = (f"MLP {fits[0].spec.config.hidden}, norm before ReLU, He init, plain SGD at a constant learning rate "
             f"({' and '.join(f'{lr:g}' for lr in LRS)}), batch {BATCH_SIZE}, {fits[0].spec.config.epochs} epochs = "
             f"{steps} optimizer steps per run, {settings.seeds} seeds, {settings.data} data. {PAIRING} Probe every "
             f"{'/'.join(map(str, every))} optimizer steps, before the step, on its own batch, BatchNorm in training "
             f"mode, with eta in {{{', '.join(f'{m:g}' for m in MULTIPLIERS)}}} x lr; the probe restores weights, "
             "gradients and running statistics bit for bit, so probed runs train exactly as unprobed ones. A run "
             "stops at its first NaN training loss (diverged). Early: probes in the first "
             f"{WINDOW:.0%} of the planned steps; late: the last {WINDOW:.0%} (means over seeds; a diverged run has "
             f"no late probes). {len(fits)} runs, {seconds / 60:.1f} minutes of fit time (sum over runs).")
    return Report(
        name="landscape", title="How BatchNorm helps optimization: the loss landscape (Santurkar et al. 2018, Fig. 4)",
        setup=setup,
        columns=["lr", "norm", "seeds diverged", "final val acc (runs not diverged)", "(a) loss band, early", "(a) late",
                 "(b) gradient change band, early", "(b) late", "(c) beta, early", "(c) late"],
        rows=rows, paragraph=_paragraph(fits, summary) + " " + " ".join(c.sentence(3) for c in checked),
        extra="## The paper's claims, on these numbers\n\n" + claims_markdown(checked),
        figures={"landscape.png": figure(fits, summary, settings.seeds),
                 **standard_figures(fits, "Landscape runs: none / BN at two rates")},
        results={"settings": settings, "summary": summary, "claims": claims_json(checked),
                 "runs": [{**run, "diverged": f.diverged, "landscape": f.landscape}
                          for run, f in zip(histories(fits), fits)]},
    )


def _paragraph(fits, summary: dict) -> str:
    parts = []
    for lr in LRS:
        bn, none = summary[label("bn", lr)]["seeds"], summary[label("none", lr)]["seeds"]
        ratios = {when: mean(b[when]["diff_high"] for b in bn) / mean(n[when]["diff_high"] for n in none)
                  for when in ("early", "late")}
        said = ", ".join(f"{when} {value:.2f}" for when, value in ratios.items() if math.isfinite(value))
        went = [s["diverged_step"] for s in none if s["diverged_step"] is not None]
        diverged = (f"; no norm diverged in {len(went)} of {len(none)} seeds (first NaN loss at step "
                    f"{', '.join(map(str, went))})" if went else "")
        parts.append(f"At lr {lr:g}, BN's upper edge of the gradient change (b) over no norm's: {said or 'no common probes'}"
                     f"{diverged}.")
    return " ".join(parts)
