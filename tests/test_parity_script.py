"""scripts/parity.py: a thin main(argv) that prints the table and says, by its exit code, if a line failed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from lightning_mods.norms import ACTIVATIONS
from parity.compare import Diff, PairReport

TINY = ["--hidden", "16", "8", "--groups", "2", "--lstm-units", "8", "--steps", "2", "--skip-extras"]


def fake_report(rel: float) -> PairReport:
    """What compare_pair returns, with every difference ``rel`` (the real one is tested elsewhere)."""
    d = Diff(rel, rel, "logits")
    return PairReport(d, d, d, None, d, Diff(0.0, 0.0))


@pytest.fixture(scope="module")
def script():
    """scripts/parity.py imported as a module (as conftest's load_script does for train.py)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "parity.py"
    spec = importlib.util.spec_from_file_location("scripts_parity", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_prints_a_passing_line_for_every_norm_placement_and_lstm(script, capsys):
    """The real comparison, on tiny nets, 2 steps, one activation (for time): every line passes."""
    assert script.main(TINY + ["--activations", "gelu"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith(("mlp ", "lstm "))]
    assert len(lines) == 4 * 2 + 4
    assert all(line.endswith("PASS") and "1e-05/1e-04" in line for line in lines)
    assert "| bn_momentum |" in out and "ALL PASS" in out


@pytest.mark.parametrize("rel, code, verdict", [(1e-7, 0, "PASS"), (2e-5, 1, "FAIL")])
def test_exit_code_says_whether_any_line_failed(script, capsys, monkeypatch, rel, code, verdict):
    monkeypatch.setattr(script, "compare_pair", lambda *args, **kwargs: fake_report(rel))
    assert script.main(TINY) == code
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith(("mlp ", "lstm "))]
    assert len(lines) == 4 * 2 * len(ACTIVATIONS) + 4 and all(line.endswith(verdict) for line in lines)


def test_a_bad_argument_is_a_usage_error_before_any_work(script, capsys, monkeypatch):
    monkeypatch.setattr(script, "compare_pair", None)  # would raise TypeError if called
    assert script.main(["--hidden", "16", "8", "--groups", "3"]) == 2
    assert capsys.readouterr().err.startswith("error: --groups 3 does not divide")
    assert script.main(["--lstm-groups", "5"]) == 2
