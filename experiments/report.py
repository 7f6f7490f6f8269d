"""Reports: curves over seeds with 95% CI bands, plots (matplotlib, Agg), claims tables with
rule-made verdicts (``stats``), markdown and results.json."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from experiments.runner import Fit, by_variant  # noqa: E402
from experiments.stats import CLAIM_COLUMNS, RULE, Claim, mean_ci  # noqa: E402
from lightning_mods.files import write_all_atomically  # noqa: E402

METRIC_LABELS = {"val/loss": "validation loss", "val/acc": "validation accuracy"}


@dataclass
class Report:
    """What one experiment writes: a table, a paragraph from the numbers, plots, raw results."""

    name: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    paragraph: str
    results: dict
    figures: dict[str, plt.Figure] = field(default_factory=dict)  # file name -> figure
    extra: str = ""  # more markdown (a second table), placed after the paragraph
    setup: str = ""  # one line: what was trained, how


def mean(values) -> float:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(values) if values else math.nan


def spread(values) -> float:
    """Standard deviation over seeds (0 for one seed)."""
    values = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.stdev(values) if len(values) > 1 else 0.0


def ci_text(values, digits: int = 4, bounds: tuple[float, float] | None = None) -> str:
    """``mean [low, high]``: the mean over seeds and its 95% CI (Student t; with ``bounds``, inside them:
    ``stats.UNIT`` for accuracies and fractions, ``stats.POSITIVE`` for times)."""
    return mean_ci(values, bounds=bounds).text(digits)


def claims_markdown(claims: list[Claim]) -> str:
    """The claims table and the rule that made its verdicts."""
    rows = [claim.row() for claim in claims]
    return markdown_table(CLAIM_COLUMNS, rows) + f"\n\nVerdict rule (in code, `experiments/stats.py`): {RULE}."


def claims_json(claims: list[Claim]) -> list[dict]:
    return [claim.to_dict() for claim in claims]


PAIRING = ("Paired seeds: seed s gives every variant the same initial weights and the same order of training "
           "images; differences are taken per seed, and every interval is a 95% CI over seeds: Student t, on the logit "
           "scale for accuracies and fractions (cut to the bounds when a value sits on 0 or 1) and on the log scale for "
           "times and ratios, so that no interval leaves its quantity's range.")


def last(fit: Fit, metric: str) -> float:
    return fit.history[-1][metric] if fit.history else math.nan


def _points(fit: Fit) -> list[dict]:
    """The rows a curve is drawn from: every validation when the run validated within epochs."""
    return fit.checks if len(fit.checks) > len(fit.history) else fit.history


def curve(fits: list[Fit], metric: str) -> tuple[list[float], list[float], list[float], list[float]]:
    """Epochs (fractional where runs validated within epochs) and the mean of ``metric`` over the
    fits (seeds) at each, with its 95% CI (the band collapses to the mean with one seed)."""
    points = [_points(fit) for fit in fits]
    count = min(len(p) for p in points)
    x = [mean(p[i]["epoch"] for p in points) for i in range(count)]  # the same for every seed
    return (x, *mean_band([mean_ci([p[i][metric] for p in points]) for i in range(count)]))


def mean_band(estimates) -> tuple[list[float], list[float], list[float]]:
    """Means, lows and highs of ``estimates`` for a line with its CI band (one seed: no width)."""
    low = [e.mean if math.isnan(e.low) else e.low for e in estimates]
    high = [e.mean if math.isnan(e.high) else e.high for e in estimates]
    return [e.mean for e in estimates], low, high


def curves_figure(fits: list[Fit], metric: str, title: str) -> plt.Figure:
    """One line per variant (mean over seeds) with its 95% CI band."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for variant, group in by_variant(fits).items():
        epochs, mid, low, high = curve(group, metric)
        (line,) = ax.plot(epochs, mid, marker="o", markersize=2 if len(epochs) > 20 else 3, label=variant)
        ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    seeds = max(len(group) for group in by_variant(fits).values())
    ax.set(xlabel="epoch", ylabel=METRIC_LABELS.get(metric, metric),
           title=f"{title} (mean, band: 95% CI over {seeds} seed{'s' * (seeds > 1)})")
    ax.title.set_fontsize(9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def standard_figures(fits: list[Fit], title: str) -> dict[str, plt.Figure]:
    return {"val_loss.png": curves_figure(fits, "val/loss", title), "val_acc.png": curves_figure(fits, "val/acc", title)}


def histories(fits: list[Fit]) -> list[dict]:
    """Every run's per-epoch rows for results.json."""
    return [{"variant": f.variant, "seed": f.seed, "fit_seconds": f.seconds, "epochs": f.history,
             **({"checks": f.checks} if len(f.checks) > len(f.history) else {}),
             **({"diverged": f.diverged} if f.diverged else {})} for f in fits]


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(table_cell, columns)) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(map(table_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def table_cell(cell) -> str:
    """A header or body cell's text: its ``|`` is text, not a column break (headers such as
    "max |mean per feature|" included)."""
    return str(cell).replace("|", "\\|")


def json_safe(value):
    """JSON without NaN/inf (they become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "to_dict"):
        return json_safe(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def write(report: Report, out_root: Path) -> Path:
    """Write ``out_root/<name>/``: report.md, results.json and the PNGs, all rendered first and put in
    place together (``write_all_atomically``): a failed write leaves the previous report whole."""
    folder = Path(out_root) / report.name
    folder.mkdir(parents=True, exist_ok=True)
    contents = {}
    for filename, fig in report.figures.items():
        png = io.BytesIO()
        fig.savefig(png, format="png")
        plt.close(fig)
        contents[folder / filename] = png.getvalue()
    parts = [f"# {report.title}", report.setup, markdown_table(report.columns, report.rows), report.paragraph, report.extra]
    parts += [f"![{filename}]({filename})" for filename in report.figures]
    contents[folder / "report.md"] = ("\n\n".join(p for p in parts if p) + "\n").encode()
    contents[folder / "results.json"] = (json.dumps(json_safe(report.results), indent=1) + "\n").encode()
    write_all_atomically(contents)
    return folder


def text_table(columns: list[str], rows: list[list[str]]) -> str:
    """The table for the terminal: aligned columns."""
    cells = [columns] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
