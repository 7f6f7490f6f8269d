"""Shared test helpers: tiny CPU configs, in-process script calls, the real dataset's presence."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

import lightning_mods  # noqa: F401  (torch side first, before any test imports TensorFlow)

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def load_script(name: str):
    """Import ``scripts/<name>.py`` as a module, so tests call its ``main(argv)`` in-process."""
    path = ROOT / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def train_script():
    return load_script("train")


@pytest.fixture(scope="module")
def train_module():
    """scripts/train.py loaded once for a test module (its tests share module-scoped runs)."""
    return load_script("train")


@pytest.fixture(scope="session")
def convert_script():
    return load_script("convert")


@pytest.fixture
def tiny_args(tmp_path):
    """CLI arguments for a seconds-long CPU run on synthetic data."""
    return ["--data", "synthetic", "--epochs", "1", "--hidden", "32", "16", "--batch-size", "64",
            "--accelerator", "cpu", "--devices", "1", "--no-progress", "--out", str(tmp_path / "run")]


def real_data_available() -> bool:
    from lightning_mods.fashion_files import find_dataset
    from lightning_mods.errors import UsageError

    try:
        find_dataset(download=False)
        return True
    except UsageError:
        return False


@pytest.fixture(scope="session")
def real_data():
    """The real splits; the slow tests need them (`make test` installs the dataset first)."""
    from lightning_mods.data import load_real

    return load_real(download=False)
