"""The project's layout, read from its imports: dependencies point one way, no module imports
one that imports it back, experiments are found by a registry, and the torch library loads
neither the science nor Keras."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lightning_mods", "experiments", "ledger", "parity", "bench", "keras_ref", "teaching")
# Which of the project's packages each may import: scripts -> {experiments, ledger, parity, bench}
# -> {lightning_mods, keras_ref}, and ledger -> experiments (results and the statistics); teaching (the
# notebook's helpers) is at the scripts' level.
ALLOWED = {
    "lightning_mods": set(),
    "keras_ref": set(),
    "experiments": {"lightning_mods"},
    "ledger": {"experiments", "lightning_mods", "keras_ref"},
    "parity": {"lightning_mods", "keras_ref"},
    "bench": {"lightning_mods", "keras_ref"},
    # the notebook's helpers sit at the scripts' level: they may import every package, and none imports them
    "teaching": {"experiments", "ledger", "parity", "lightning_mods", "keras_ref"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules ``path`` imports, anywhere in the file (inside functions too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = project_modules()
    known = set(modules)
    return {name: imports_of(path, known) - {name} for name, path in modules.items()}


def test_packages_import_only_what_the_layout_allows():
    wrong = sorted(f"{name} imports {dep}" for name, deps in graph().items() for dep in deps
                   if dep.split(".")[0] != name.split(".")[0] and dep.split(".")[0] not in ALLOWED[name.split(".")[0]])
    assert wrong == []


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), i.e. every import circle."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return groups


def test_no_import_circles():
    edges = graph()
    # A package's __init__ is imported by its submodules by Python itself; an edge from it down is fine.
    assert cycles(edges) == []


def test_the_circle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_experiments_are_found_by_a_registry():
    from experiments.registry import EXPERIMENTS, NAMES

    assert list(NAMES) == list(EXPERIMENTS)
    for name, module in EXPERIMENTS.items():
        assert module.__name__ == f"experiments.{name}" and callable(module.plan) and callable(module.analyse)
    for path in (ROOT / "experiments").rglob("*.py"):
        assert "import_module" not in path.read_text(), path


def test_lightning_mods_is_the_torch_library_only():
    assert not (ROOT / "lightning_mods" / "exercises").exists()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    modules = sorted(m for m in project_modules() if m.startswith("lightning_mods"))
    code = (f"import sys, importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('experiments', 'ledger', 'parity', 'bench', 'keras_ref', 'keras', 'tensorflow')))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT).as_posix() for package in PACKAGES + ("scripts",)
                                        for p in (ROOT / package).rglob("*.py")))
def test_no_code_file_over_300_lines(path):
    lines = len((ROOT / path).read_text().splitlines())
    assert lines <= 300, f"{path}: {lines} lines; split it"
