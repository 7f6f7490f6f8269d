"""How the notebook shows things: markdown tables (Spanish headers and cells), figures with
alternative text (a markdown image, which nbconvert's HTML renders with its ``alt``), each
returned as markdown and shown through IPython."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from experiments.report import markdown_table
from teaching.spanish import es, figure_es


def show(markdown: str) -> str:
    display(Markdown(markdown))
    return markdown


def table(columns: list[str], rows: list[list[str]], title: str = "") -> str:
    """A markdown table (``|`` in any cell escaped), with an optional bold title above it."""
    return show((f"**{title}**\n\n" if title else "") + markdown_table(columns, rows))


def report_table(report) -> str:
    """An experiment's Report table with its headers and cells in Spanish."""
    return table([es(c) for c in report.columns], [[es(str(cell)) for cell in row] for row in report.rows])


def image_markdown(png: bytes, alt: str) -> str:
    alt = alt.replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"


def figure(fig, alt: str) -> str:
    """A matplotlib figure, its texts in Spanish, shown as an image with ``alt`` (then closed)."""
    figure_es(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(fig)
    return show(image_markdown(buffer.getvalue(), alt))


def report_figure(report, filename: str, alt: str) -> str:
    return figure(report.figures[filename], alt)


def image_file(path: Path, alt: str) -> str:
    """A PNG file (e.g. a committed report's figure), shown with ``alt``."""
    return show(image_markdown(Path(path).read_bytes(), alt))
