"""A run folder moved (mv) or copied resumes from, and tests, its OWN checkpoints."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from lightning_mods.run_folder import rebase


def test_rebase_moves_paths_under_the_old_folder_and_keeps_names():
    assert rebase("/a/run/checkpoints/best.ckpt", "/a/run/checkpoints", "/b/x/checkpoints") == "/b/x/checkpoints/best.ckpt"
    assert rebase("/elsewhere/best.ckpt", "/a/run/checkpoints", "/b/checkpoints") == "/b/checkpoints/best.ckpt"
    assert rebase("", "/a", "/b") == ""


def _checkpoint_paths(folder):
    state = torch.load(folder / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    [saved] = [v for k, v in state["callbacks"].items() if k.startswith("ModelCheckpoint{")]
    return saved


@pytest.mark.slow  # three short trainings: ~2 min on 2 loaded cores
def test_a_copied_then_moved_run_resumes_from_its_own_files(train_script, tiny_args, tmp_path):
    original = tmp_path / "run"
    assert train_script.main(tiny_args) == 0
    copy = tmp_path / "elsewhere" / "copied"
    shutil.copytree(original, copy)
    moved = tmp_path / "moved"
    original.rename(moved)  # mv: the original path no longer exists
    for folder in (copy, moved):
        assert train_script.main(["--resume", "--out", str(folder), "--epochs", "2", "--no-progress"]) == 0
        saved = _checkpoint_paths(folder)
        assert saved["dirpath"] == str((folder / "checkpoints").resolve())
        assert saved["best_model_path"].startswith(str(folder.resolve()))
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["best_epoch"] in (1, 2) and summary["test_acc"] == summary["test_acc"]  # tested: not NaN
