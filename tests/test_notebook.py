"""The lesson's notebook (notebooks/clase_110_normalizacion.ipynb): it runs end to end on the
synthetic parameters (papermill injects them), and the committed copy, executed on the real
data, carries no error output and no machine path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "clase_110_normalizacion.ipynb"
SOURCE = NOTEBOOK.with_suffix(".py")  # the jupytext percent source the .ipynb is paired with
# Small enough for the whole notebook to run in well under 3 minutes on 2 cores.
SYNTHETIC = {"DATOS": "sintetico", "SEMILLAS": 2, "EPOCAS": 1, "IMAGENES_POR_EPOCA": 128, "TRABAJADORES": 1,
             "OCULTAS_PARIDAD": [64, 32]}
MACHINE_PATH = re.compile(r"(/work/|/home/|/tmp/|/root/|/usr/|/opt/|/var/|site-packages|[A-Za-z]:\\\\)")
VERDICTS = ("respaldada", "contradicha", "no concluyente")
SECTIONS = ("## Objetivo", "## Las normalizaciones", "## Ejercicio 1", "## Ejercicio 2", "## Ejercicio 3",
            "## Ejercicio 4", "## Ejercicio 5", "## Tarea", "## Keras vs PyTorch", "## Errores comunes", "## Tiempo")


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


@pytest.mark.notebook
def test_notebook_runs_on_synthetic_data(tmp_path):
    import papermill  # the notebook extra (make test installs it)

    executed = tmp_path / "executed.ipynb"
    # Raises PapermillExecutionError at the first cell that errors.
    papermill.execute_notebook(str(NOTEBOOK), str(executed), parameters=SYNTHETIC, cwd=str(NOTEBOOK.parent),
                               progress_bar=False, log_output=False, kernel_name="python3")
    nb = json.loads(executed.read_text())
    assert errors_of(nb) == []
    text = "\n".join(output_texts(nb))
    assert "datos sintetico, 2 semillas" in text  # the injected parameters were used
    for name in ("ex1", "ex2", "ex3", "ex4", "ex5", "homework"):
        assert f"{name}: " in text  # each exercise trained through the runner
    assert sum(text.count(v) for v in VERDICTS) >= 20  # the claims tables and the summary
    assert "error: --batch-size 1 with --norm bn" in text  # the project's one-line error, caught in its cell
    assert "Expected more than 1 value per channel when training" in text
    assert "coinciden" in text and "DIFIEREN" in text  # parity: mapped pair agrees, raw defaults differ
    images = sum("image/png" in out.get("data", {}) for cell in nb["cells"] for out in cell.get("outputs", []))
    assert images >= 6


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
    assert "Esta ejecución:" in joined  # the measured time of the saved run
    assert "(datos real," in joined, "the saved run is a real-data run (make notebook)"
    metadata = json.dumps(nb["metadata"])
    assert not MACHINE_PATH.search(metadata), "machine paths in the notebook's metadata"
    found = sorted({m.group(0) for t in texts for m in MACHINE_PATH.finditer(t)})
    assert found == [], f"machine paths in the outputs: {found}"
    assert "Traceback" not in joined
    assert "\r" not in joined and "it/s" not in joined, "progress bars in the outputs"


def test_committed_notebook_follows_the_lesson():
    markdown = "\n".join("".join(c["source"]) for c in committed()["cells"] if c["cell_type"] == "markdown")
    positions = [markdown.find(title) for title in SECTIONS]
    assert -1 not in positions, [t for t, p in zip(SECTIONS, positions) if p == -1]
    assert positions == sorted(positions), "sections in the lesson's order"
    for name in ("BatchNorm", "LayerNorm", "GroupNorm", "InstanceNorm"):
        assert name in markdown
    first_code = next(c for c in committed()["cells"] if c["cell_type"] == "code")
    assert "".join(first_code["source"]).startswith("# Imports y configuración inicial")


def test_the_notebook_is_its_jupytext_source():
    """The .ipynb holds exactly the cells of its paired source (``make notebook`` syncs them)."""
    import jupytext

    source = jupytext.read(SOURCE)
    executed = jupytext.read(NOTEBOOK)
    cells = lambda nb: [(c.cell_type, c.source.strip(), c.metadata.get("tags", [])) for c in nb.cells]  # noqa: E731
    assert cells(source) == cells(executed), "run `jupytext --sync notebooks/clase_110_normalizacion.py`"
    assert "ipynb,py:percent" in source.metadata["jupytext"]["formats"]
