"""Checkpoints written atomically in the run folder itself, as a Lightning ``CheckpointIO`` plugin.

Lightning's own ``TorchCheckpointIO`` writes through fsspec, which stages the file in the system
temp folder and then moves it into the run folder: across two file systems that move is a copy,
and a kill during it leaves a truncated checkpoint. Here the temporary file is beside the
checkpoint (see ``lightning_mods.files``), so ``last.ckpt`` is always a complete last good one.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lightning_mods.files import write_atomically


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to ``<name>.tmp-<pid>``, fsync, ``os.replace``; a failed write raises an
    ``OSError`` naming the checkpoint and leaves the old one and no temporary file. Loading is
    Lightning's, with ``weights_only=True`` unless the caller says otherwise."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Serialized in memory first (as Lightning does): torch's writer turns a failing file write
        # into an opaque RuntimeError, a plain write keeps the OSError (ENOSPC, EFBIG, ...).
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        write_atomically(path, lambda handle: handle.write(buffer.getbuffer()))

    def load_checkpoint(self, path, map_location=lambda storage, loc: storage, weights_only: bool | None = None):
        return super().load_checkpoint(path, map_location=map_location,
                                       weights_only=True if weights_only is None else weights_only)
