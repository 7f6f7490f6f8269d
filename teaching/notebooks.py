"""The lesson's two notebooks from its one jupytext source (``notebooks/clase_110_normalizacion.py``,
percent format): the student's (``clase_110_normalizacion.ipynb``: every cell but those tagged
``solucion``) and the teacher's (``clase_110_normalizacion_docente.ipynb``: every cell but those
tagged ``alumno``). ``python -m teaching.notebooks`` writes both, unexecuted (``make notebook``
then executes them with papermill)."""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

SOURCE = Path(__file__).resolve().parents[1] / "notebooks" / "clase_110_normalizacion.py"
STUDENT, TEACHER = "alumno", "solucion"


def outputs(source: Path = SOURCE) -> dict[str, Path]:
    return {STUDENT: source.with_suffix(".ipynb"), TEACHER: source.with_name(source.stem + "_docente.ipynb")}


def edition(notebook: nbformat.NotebookNode, drop: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` without the cells tagged ``drop``, and without jupytext's pairing."""
    copy = nbformat.from_dict(notebook)
    copy.cells = [cell for cell in copy.cells if drop not in cell.metadata.get("tags", [])]
    copy.metadata.pop("jupytext", None)
    return copy


def build(source: Path = SOURCE, out_dir: Path | None = None) -> dict[str, Path]:
    """Write the student's and the teacher's notebooks; their paths by edition."""
    notebook = jupytext.read(source)
    paths = outputs(Path(source))
    if out_dir is not None:
        paths = {k: Path(out_dir) / p.name for k, p in paths.items()}
    for name, path in paths.items():
        nbformat.write(edition(notebook, TEACHER if name == STUDENT else STUDENT), path)
    return paths


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    source = Path(args[0]) if args else SOURCE
    if not source.is_file() or source.suffix != ".py":
        print(f"error: {source} is not the notebook's jupytext source; give notebooks/clase_110_normalizacion.py",
              file=sys.stderr)
        return 2
    for name, path in build(source).items():
        print(f"{name}: {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
