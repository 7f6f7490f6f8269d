"""A disk that fills while last.ckpt is written, after best.ckpt of the same epoch was: the one line says
best.ckpt is intact and what to run, and that command resumes from best.ckpt."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from lightning_mods.checkpoint_io import AtomicCheckpointIO


@pytest.mark.slow  # two short trainings: ~1 min on 2 loaded cores
def test_last_ckpt_lost_to_a_full_disk_resumes_from_best(train_script, tiny_args, tmp_path, monkeypatch, capsys):
    save = AtomicCheckpointIO.save_checkpoint

    def full_disk_for_last(self, checkpoint, path, storage_options=None):
        if Path(path).name == "last.ckpt":
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return save(self, checkpoint, path, storage_options)

    monkeypatch.setattr(AtomicCheckpointIO, "save_checkpoint", full_disk_for_last)
    args = list(tiny_args)
    args[args.index("--epochs") + 1] = "2"
    assert train_script.main(args) == 2
    out = tmp_path / "run"
    [line] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("error: ")]
    assert "best.ckpt (epoch 1" in line and "is intact" in line
    command = line.split("continue with: ")[1]
    assert command == f"python scripts/train.py --resume --out {out}"
    assert not (out / "checkpoints" / "last.ckpt").exists()
    monkeypatch.undo()
    assert train_script.main(["--resume", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["epochs"] == 2
