"""Finished training runs kept on disk, so that a stopped experiment continues where it stopped.

Each run is saved the moment it finishes, atomically, as ``<out>/runs/<hash>.pt`` (``torch.save``
of the plain results ``runner.train`` returns: epoch rows, checks, step losses, the net's CPU
state dict). The hash covers everything that decides the run's numbers: the RunSpec's key (the
full TrainConfig, data source and folder included, and its bounds), the torch threads per run and
the torch version; a changed setting is a new file, never a stale hit. Files are read with
``weights_only=True`` (no pickled code runs); one that cannot be read is trained again.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import torch

from lightning_mods.files import remove_leftovers, write_atomically

FORMAT = 1  # bump when what a saved run holds changes
FOLDER = "runs"


class RunStore:
    """The saved runs under ``out_root/runs``."""

    def __init__(self, out_root: Path, threads: int) -> None:
        self.folder = Path(out_root) / FOLDER
        self.threads = threads

    def path(self, key: str) -> Path:
        identity = json.dumps({"run": key, "threads": self.threads, "torch": torch.__version__, "format": FORMAT},
                              sort_keys=True)
        return self.folder / f"{hashlib.sha256(identity.encode()).hexdigest()[:32]}.pt"

    def load(self, key: str) -> dict | None:
        """The saved results of the run with this key, or None (not saved, or unreadable)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            saved = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged file: the run is trained again and the file replaced
            print(f"warning: {path} cannot be read ({type(err).__name__}); its run is trained again", file=sys.stderr)
            return None
        if not isinstance(saved, dict) or saved.get("key") != key:
            return None
        return saved["result"]

    def save(self, key: str, result: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        write_atomically(self.path(key), lambda handle: torch.save({"key": key, "result": result}, handle))

    def count(self) -> int:
        return len(list(self.folder.glob("*.pt"))) if self.folder.is_dir() else 0

    def clean(self) -> None:
        """Remove a killed writer's temporary files (under the out folder's lock)."""
        remove_leftovers(self.folder)
