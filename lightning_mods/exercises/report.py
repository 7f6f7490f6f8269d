"""Reports: per-epoch curves over seeds, plots (matplotlib, Agg), markdown and results.json."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from lightning_mods.exercises.runner import Fit, by_variant  # noqa: E402

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


def pm(values, digits: int = 4) -> str:
    """``mean ± std`` over seeds."""
    return f"{mean(values):.{digits}f} ± {spread(values):.{digits}f}"


def last(fit: Fit, metric: str) -> float:
    return fit.history[-1][metric] if fit.history else math.nan


def curve(fits: list[Fit], metric: str) -> tuple[list[int], list[float], list[float], list[float]]:
    """Epochs and the mean, min and max of ``metric`` over the fits (seeds) at each epoch."""
    epochs = min(len(fit.history) for fit in fits)
    values = [[fit.history[e][metric] for fit in fits] for e in range(epochs)]
    return list(range(1, epochs + 1)), [mean(v) for v in values], [min(v) for v in values], [max(v) for v in values]


def curves_figure(fits: list[Fit], metric: str, title: str) -> plt.Figure:
    """One line per variant (mean over seeds) with a min-max band."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for variant, group in by_variant(fits).items():
        epochs, mid, low, high = curve(group, metric)
        (line,) = ax.plot(epochs, mid, marker="o", markersize=3, label=variant)
        ax.fill_between(epochs, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    seeds = max(len(group) for group in by_variant(fits).values())
    ax.set(xlabel="epoch", ylabel=METRIC_LABELS.get(metric, metric),
           title=f"{title} (mean, band: min-max over {seeds} seed{'s' * (seeds > 1)})")
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
    return [{"variant": f.variant, "seed": f.seed, "fit_seconds": f.seconds, "epochs": f.history} for f in fits]


def markdown_table(columns: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _clean(value):
    """JSON without NaN/inf (they become null)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write(report: Report, out_root: Path) -> Path:
    """Write ``out_root/<name>/``: report.md, results.json and the PNGs; return the folder."""
    folder = Path(out_root) / report.name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, fig in report.figures.items():
        fig.savefig(folder / filename)
        plt.close(fig)
    parts = [f"# {report.title}", report.setup, markdown_table(report.columns, report.rows), report.paragraph, report.extra]
    parts += [f"![{filename}]({filename})" for filename in report.figures]
    (folder / "report.md").write_text("\n\n".join(p for p in parts if p) + "\n")
    (folder / "results.json").write_text(json.dumps(_clean(report.results), indent=1) + "\n")
    return folder


def text_table(columns: list[str], rows: list[list[str]]) -> str:
    """The table for the terminal: aligned columns."""
    cells = [columns] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
