"""The bench package's imports: cheap to import (no torch, no TensorFlow), each worker on its own
side, and the dependency direction scripts -> bench -> lightning_mods, keras_ref."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           TF_CPP_MIN_LOG_LEVEL="3")
TORCH_SIDE = {"torch", "lightning", "torchvision", "torchmetrics", "lightning_mods"}
KERAS_SIDE = {"tensorflow", "keras", "keras_ref"}


def python(code: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True,
                          timeout=timeout)


def imported_roots(path: Path) -> set[str]:
    """The top-level names a module imports, wherever in the file (inside functions too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_importing_bench_and_every_module_of_it_loads_neither_framework():
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "bench").rglob("*.py")
                     if p.name not in ("__init__.py", "__main__.py"))
    assert "bench.workers.keras_fit" in modules and "bench.orchestrator" in modules
    proc = python(f"import sys, importlib, bench\nfor m in {modules!r}: importlib.import_module(m)\n"
                  "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'lightning') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]"


def test_dependencies_point_one_way_and_each_worker_names_only_its_own_side():
    bench_files = list((ROOT / "bench").rglob("*.py"))
    for path in bench_files:
        assert "parity" not in imported_roots(path), path
    for path in (ROOT / "parity").rglob("*.py"):
        assert "bench" not in imported_roots(path), path
    workers = ROOT / "bench" / "workers"
    assert not imported_roots(workers / "keras_fit.py") & TORCH_SIDE
    for name in ("lightning_path", "torch_loop", "matmul", "torch_device"):
        assert not imported_roots(workers / f"{name}.py") & KERAS_SIDE, name
    for path in bench_files:  # the orchestrator's modules name no framework at all
        if path.parent != workers:
            assert not imported_roots(path) & (TORCH_SIDE | KERAS_SIDE), path


HELP_IMPORTS = """
import runpy, sys
sys.argv = ["scripts/bench.py", "--help"]
try:
    runpy.run_path("scripts/bench.py", run_name="__main__")
except SystemExit:
    pass
print("loaded:", sorted(m for m in ("torch", "lightning", "tensorflow", "keras", "numpy") if m in sys.modules))
"""


def test_bench_script_help_loads_no_framework():
    """--help is instant because it loads no framework (torch alone takes more than a second to
    import): checked by what the interpreter loaded, not by a clock (machines here differ 2x)."""
    proc = subprocess.run([sys.executable, "-c", HELP_IMPORTS], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--slices" in proc.stdout, proc.stderr[-2000:]
    assert "loaded: []" in proc.stdout, proc.stdout[-500:]


RUN_ONE = """
import io, sys
from bench.protocol import Gate
from bench.workers import {name}
class Go:
    def readline(self):
        return "GO\\n"
job = dict(norm="bn", hidden=[8], batch_size=500, data="synthetic", device="cpu", epochs=1, warmup=0, batch_sizes=[8])
result = {name}.run(job, Gate(io.StringIO(), Go(), slices=2))
print(sorted(m for m in ("torch", "tensorflow") if m in sys.modules))
"""


@pytest.mark.slow  # three fresh interpreters, torch, Lightning and TensorFlow: about half a minute
def test_each_worker_loads_only_its_own_framework():
    expected = {"keras_fit": "['tensorflow']", "torch_loop": "['torch']", "lightning_path": "['torch']"}
    procs = {name: subprocess.Popen([sys.executable, "-c", RUN_ONE.format(name=name)], cwd=ROOT, env=ENV, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE) for name in expected}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name}: {stderr[-2000:]}"
        assert stdout.strip().splitlines()[-1] == expected[name], name
