"""Ready for the lent GPU machine, checked on the CPU: the GPU check's plan and budget, the data on
an accelerator as uint8, and the torch side importing and running where Keras cannot be imported."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from lightning_mods.data import FashionMNISTDataModule

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """``scripts/<name>.py`` as a module (these scripts import nothing of the project at their top)."""
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_check():
    return load_script("gpu_check")


def test_the_gpu_check_fits_six_minutes_and_its_rehearsal_runs_the_same_steps(gpu_check, tmp_path):
    gpu, rehearsal = gpu_check.plan(False, tmp_path, tmp_path), gpu_check.plan(True, tmp_path, tmp_path)
    assert gpu_check.BUDGET_S == 360 and sum(step.timeout_s for step in gpu) <= gpu_check.BUDGET_S
    assert all(step.timeout_s > 0 for step in gpu)
    assert f"| in all   | {sum(step.timeout_s for step in gpu)} s" in gpu_check.__doc__  # the table counts them
    assert [(s.name, s.argv[:2]) for s in gpu] == [(s.name, s.argv[:2]) for s in rehearsal]  # the same entry points
    flags = {s.name: " ".join(s.argv) for s in gpu}
    assert "--accelerator gpu" in flags["train"] and "--device cuda" in flags["syncbn"] and "--device cuda" in flags["bench"]
    assert "keras" not in " ".join(v for k, v in flags.items() if k != "env")  # no Keras part runs
    # the claims ledger's row 24 reads the GPU benchmark from reports/bench/gpu.json; the rehearsal never writes there
    assert str(ROOT / "reports" / "bench" / "gpu.json") in flags["bench"] and "--norms bn none" in flags["bench"]
    assert "reports" not in " ".join(rehearsal[-1].argv)
    assert {s.name: " ".join(s.argv) for s in rehearsal}["train"].count("cpu") == 1


def test_the_gpu_check_refuses_a_missing_data_bundle_with_one_line(gpu_check, tmp_path, capsys):
    assert gpu_check.main(["--data-dir", str(tmp_path), "--work", str(tmp_path / "work")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "make gpu-bundle" in err[0]
    assert not (tmp_path / "work").exists()


def test_the_data_moves_to_an_accelerator_as_uint8_and_batches_are_cut_there():
    """On an accelerator (here the meta device, which has no CPU copy) every split is held as
    uint8 and a training batch is cut on that device as float32 minibatches."""
    datamodule = FashionMNISTDataModule("synthetic", batch_size=8, steps_per_execution=4)
    datamodule.trainer = SimpleNamespace(strategy=SimpleNamespace(root_device=torch.device("meta")), world_size=1)
    datamodule.setup("fit")
    for split in datamodule.splits.values():
        assert split.images.device.type == "meta" and split.images.dtype == torch.uint8
        assert split.labels.device.type == "meta"
    minibatches = next(iter(datamodule.train_dataloader()))
    assert len(minibatches) == 4
    for x, y in minibatches:
        assert x.device.type == "meta" and x.dtype == torch.float32 and x.shape == (8, 28, 28) and y.shape == (8,)


def without_keras(tmp_path: Path) -> dict:
    """The environment of a Python where TensorFlow and Keras cannot be imported (the lent machine's)."""
    site = load_script("gpu_rehearsal").write_blocker(tmp_path / "site")
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), OMP_NUM_THREADS="1")


@pytest.mark.slow  # ~40 s on 2 idle cores: two subprocesses, an experiment and the benchmark's smoke run
def test_the_torch_side_imports_and_runs_where_keras_cannot_be_imported(tmp_path):
    """Every module of lightning_mods, experiments and bench imports; an experiment and the
    benchmark's torch workers (Lightning path and plain loop) run; Keras stays unimportable."""
    code = f"""
import importlib, pkgutil, sys
for blocked in ("tensorflow", "keras"):
    try:
        importlib.import_module(blocked)
        raise SystemExit(blocked + " is importable: the imitation failed")
    except ImportError:
        pass
import lightning_mods, experiments, bench
for package in (lightning_mods, experiments, bench):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)
sys.argv = ["experiment.py", "ex3", "--data", "synthetic", "--seeds", "2", "--epochs", "1", "--images-per-epoch",
            "128", "--workers", "1", "--no-progress", "--out", {str(tmp_path / "reports")!r}]
sys.path.insert(0, "scripts")
import runpy
try:
    runpy.run_path("scripts/experiment.py", run_name="__main__")
except SystemExit as stop:
    assert not stop.code, stop.code
print("loaded:", sorted(m for m in ("tensorflow", "keras") if sys.modules.get(m) is not None))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=without_keras(tmp_path), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "loaded: []"
    assert (tmp_path / "reports" / "ex3" / "report.md").is_file()
    bench = subprocess.run([sys.executable, "scripts/bench.py", "--quick", "--variants", "lightning", "torch", "--json",
                            str(tmp_path / "bench.json")], cwd=ROOT, env=without_keras(tmp_path), capture_output=True,
                           text=True, timeout=300)
    assert bench.returncode == 0, bench.stderr[-3000:]
    assert "(a) Lightning" in bench.stdout and "(b) hand-written torch loop" in bench.stdout
