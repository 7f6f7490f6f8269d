"""A run folder that can be moved or copied: its checkpoints' saved paths follow the folder.

Lightning's ModelCheckpoint saves absolute paths (its ``dirpath``, ``best_model_path``, ...) in
every checkpoint and, on resume from a folder that was moved (``mv``) or copied, keeps the OLD
``best_model_path``: a moved run cannot test its best checkpoint, a copied one silently tests the
original folder's. Here, on resume, every saved path under the old checkpoint folder is rebased
onto the current one, so a run resumes from and tests its own files.
"""

from __future__ import annotations

import os
from typing import Any

from lightning.pytorch.callbacks import ModelCheckpoint


def rebase(path: str | None, old: str, new: str) -> str | None:
    """``path`` moved from the folder ``old`` to ``new`` (a path outside ``old`` keeps its name)."""
    if not path:
        return path
    relative = os.path.relpath(path, old)
    return os.path.join(new, os.path.basename(path) if relative.startswith("..") else relative)


class RunFolderCheckpoint(ModelCheckpoint):
    """ModelCheckpoint whose restored paths point into this run's own checkpoint folder."""

    @property
    def state_key(self) -> str:
        """ModelCheckpoint's own key: checkpoints written before and after this class load alike."""
        return super().state_key.replace(type(self).__qualname__, ModelCheckpoint.__qualname__, 1)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        old, new = state_dict.get("dirpath"), self.dirpath
        if old and new and old != new:
            state_dict = {**state_dict, "dirpath": new,
                          **{name: rebase(state_dict.get(name), old, new)
                             for name in ("best_model_path", "kth_best_model_path", "last_model_path")},
                          "best_k_models": {rebase(path, old, new): score
                                            for path, score in (state_dict.get("best_k_models") or {}).items()}}
        super().load_state_dict(state_dict)
