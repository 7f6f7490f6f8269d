"""The lesson's notebooks (notebooks/clase_110_normalizacion.ipynb, the student's, and
clase_110_normalizacion_docente.ipynb, the teacher's, both written from the jupytext source
notebooks/clase_110_normalizacion.py by teaching.notebooks): each runs end to end on the quick
synthetic preset (papermill injects it), renders every markdown table as a table and every
figure with its alternative text; the committed student's copy, executed on the real data,
carries no error output and no machine path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from teaching import notebooks

ROOT = Path(__file__).resolve().parents[1]
SOURCE = notebooks.SOURCE
EDITIONS = notebooks.outputs(SOURCE)  # alumno / solucion -> .ipynb
NOTEBOOK = EDITIONS[notebooks.STUDENT]
MACHINE_PATH = re.compile(r"(/work/|/home/|/tmp/|/root/|/usr/|/opt/|/var/|site-packages|[A-Za-z]:\\\\)")
VERDICTS = ("respaldada", "contradicha", "no concluyente")
SECTIONS = ("## Objetivo", "## El modelo", "## Las normalizaciones", "## Batch norm desde cero",
            "## Qué hace la normalización a las activaciones", "## Por qué ayuda BN", "## Ejercicio 1",
            "## Ejercicio 2", "## Ejercicio 3", "## Ejercicio 4", "## Ejercicio 5", "## Tarea", "## Keras vs PyTorch",
            "## Errores comunes", "## Tasa de aprendizaje y regularización", "## Preguntas frecuentes", "## Resumen",
            "## Referencias", "## Siguiente clase", "## Tiempo")
IMAGE = re.compile(r"!\[([^\]]*)\]\(data:image/png;base64,")


def output_texts(nb: dict) -> list[str]:
    """Every text an output carries: streams, plain/markdown results, tracebacks."""
    texts = []
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            if "text" in out:
                texts.append("".join(out["text"]) if isinstance(out["text"], list) else out["text"])
            for kind in ("text/plain", "text/markdown", "text/html"):
                value = out.get("data", {}).get(kind)
                if value is not None:
                    texts.append("".join(value) if isinstance(value, list) else value)
            texts.extend(out.get("traceback", []))
    return texts


def errors_of(nb: dict) -> list[str]:
    return [f"{out.get('ename')}: {out.get('evalue')}" for cell in nb["cells"] for out in cell.get("outputs", [])
            if out.get("output_type") == "error"]


def markdown_sources(nb: dict) -> list[str]:
    """The markdown a reader sees: markdown cells and markdown outputs."""
    found = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            value = out.get("data", {}).get("text/markdown")
            if value is not None:
                found.append("".join(value) if isinstance(value, list) else value)
    return found


def table_problems(nb: dict) -> tuple[int, list[str]]:
    """(tables found, problems): every markdown table parsed (markdown-it, as JupyterLab's renderer
    does) with each row's cell count equal to its header's; and nbconvert's HTML shows as many
    tables, with no table left as raw ``|`` text and every image with its alt text."""
    from markdown_it import MarkdownIt
    from nbconvert import HTMLExporter
    import nbformat

    parser = MarkdownIt("commonmark").enable("table")
    problems, tables = [], 0
    for text in markdown_sources(nb):
        tokens = parser.parse(text)
        widths, header = [], None
        for token in tokens:
            if token.type == "table_open":
                tables, header, widths = tables + 1, None, []
            elif token.type == "tr_open":
                widths.append(0)
            elif token.type in ("th_open", "td_open"):
                widths[-1] += 1
            elif token.type == "table_close":
                header = widths[0]
                if any(w != header for w in widths):
                    problems.append(f"a table with rows of {sorted(set(widths))} cells: {text[:80]!r}")
        raw = [line for line in text.splitlines() if line.startswith("|") and line.rstrip().endswith("|")]
        if raw and not any(t.type == "table_open" for t in tokens):
            problems.append(f"a table left as text: {raw[0][:80]!r}")
    html, _ = HTMLExporter().from_notebook_node(nbformat.reads(json.dumps(nb), as_version=4))
    if html.count("<table") < tables:
        problems.append(f"nbconvert's HTML has {html.count('<table')} tables of {tables}")
    images = re.findall(r"<img[^>]*>", html)
    problems += [f"an image without alt text: {img[:60]}" for img in images if not re.search(r'alt="[^"]+"', img)]
    return tables, problems


@pytest.mark.notebook
@pytest.mark.parametrize("edition", [notebooks.STUDENT, notebooks.TEACHER])
def test_the_notebook_runs_on_the_quick_synthetic_preset(edition, tmp_path):
    import papermill  # the notebook extra (make test installs it)

    built = notebooks.build(SOURCE, tmp_path)[edition]
    executed = tmp_path / "executed.ipynb"
    # Raises PapermillExecutionError at the first cell that errors.
    papermill.execute_notebook(str(built), str(executed), cwd=str(SOURCE.parent), progress_bar=False,
                               log_output=False, kernel_name="python3",
                               parameters={"DATOS": "sintético", "RAPIDO": True, "TRABAJADORES": 1,
                                           "TIEMPOS": str(tmp_path / "tiempos.json")})
    nb = json.loads(executed.read_text())
    assert errors_of(nb) == []
    text = "\n".join(output_texts(nb))
    assert "datos sintéticos (preset RAPIDO), 2 semillas, épocas 1" in text  # the injected parameters were used
    for name in ("ex1", "ex2", "ex3", "ex4", "ex5", "homework", "regularization"):
        assert f"{name}: " in text  # each experiment trained through the runner
    assert "Datos sintéticos." in text and "veredicto aquí" not in text  # the banner, and no verdict of our own
    assert "error: --batch-size 1 with --norm bn" in text  # the project's one-line error, caught in its cell
    assert "Expected more than 1 value per channel when training" in text
    assert "coinciden" in text and "DIFIEREN" in text  # parity: mapped pair agrees, raw defaults differ
    assert text.count("aviso: LSTM con BatchNorm") == 1 and "warning:" not in text  # the runs' warning, once, in Spanish
    first_code = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "Esta ejecución tardó" in "\n".join(output_texts({"cells": [first_code]}))  # the intro shows the time
    checks = [line for line in text.splitlines() if line.startswith(("bien:", "todavía falta", "no:", "casi:"))]
    want = "todavía falta" if edition == notebooks.STUDENT else "bien:"
    assert len(checks) == 6 and all(line.startswith(want) for line in checks), checks
    assert not MACHINE_PATH.search(text), MACHINE_PATH.search(text)
    tables, problems = table_problems(nb)
    assert tables >= 20 and problems == []
    assert len(IMAGE.findall("\n".join(markdown_sources(nb)))) >= 10


def committed() -> dict:
    return json.loads(NOTEBOOK.read_text())


def test_committed_notebook_is_executed_without_errors_or_paths():
    nb = committed()
    assert errors_of(nb) == []
    code = [cell for cell in nb["cells"] if cell["cell_type"] == "code"]
    assert all(cell.get("execution_count") for cell in code), "every code cell executed (make notebook)"
    parameters = [cell for cell in code if "parameters" in cell["metadata"].get("tags", [])]
    assert len(parameters) == 1 and 'DATOS = "real"' in "".join(parameters[0]["source"])  # real data by default
    texts = output_texts(nb)
    joined = "\n".join(texts)
    assert "Esta ejecución tardó" in joined  # the measured time of the saved run
    assert "datos reales," in joined, "the saved run is a real-data run (make notebook)"
    metadata = json.dumps(nb["metadata"])
    assert not MACHINE_PATH.search(metadata), "machine paths in the notebook's metadata"
    found = sorted({m.group(0) for t in texts for m in MACHINE_PATH.finditer(t)})
    assert found == [], f"machine paths in the outputs: {found}"
    assert "Traceback" not in joined
    assert "\r" not in joined and "it/s" not in joined, "progress bars in the outputs"


def test_committed_notebook_renders_every_table_and_figure():
    tables, problems = table_problems(committed())
    assert tables >= 20 and problems == []


def test_committed_notebook_follows_the_lesson():
    markdown = "\n".join("".join(c["source"]) for c in committed()["cells"] if c["cell_type"] == "markdown")
    positions = [markdown.find(title) for title in SECTIONS]
    assert -1 not in positions, [t for t, p in zip(SECTIONS, positions) if p == -1]
    assert positions == sorted(positions), "sections in the lesson's order"
    for name in ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm", "Tu turno"):
        assert name in markdown
    first_code = next(c for c in committed()["cells"] if c["cell_type"] == "code")
    assert "".join(first_code["source"]).startswith("# Imports y configuración inicial")


@pytest.mark.parametrize("edition", [notebooks.STUDENT, notebooks.TEACHER])
def test_the_notebooks_are_their_jupytext_source(edition, tmp_path):
    """Each committed .ipynb holds exactly the cells its edition of the source gives (make notebook builds them)."""
    import jupytext

    built = jupytext.read(notebooks.build(SOURCE, tmp_path)[edition])
    committed_nb = jupytext.read(EDITIONS[edition])
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    # papermill adds an "injected-parameters" cell after the parameters cell
    mine = [c for c in cells(committed_nb) if "injected-parameters" not in c[2]]
    assert cells(built) == mine, "run `python -m teaching.notebooks` (make notebook)"
