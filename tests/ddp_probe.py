"""Test helper: ``scripts/train.py`` with a recording callback, for the DDP tests.

``python tests/ddp_probe.py <train.py flags>`` runs train.py's own ``main``; Lightning's DDP
launcher relaunches this same command line for the other ranks. Each rank writes
``<out>/probe/rank<R>.pt``: the indices of every batch it fetched (per split), the weights it
started from, its BatchNorm buffers after its first and its last training step, and its final
state. The synthetic val/test splits have 499 samples, an odd count, so that a sampler that
pads with repeats would show up. Product code knows nothing of this file.
"""

from __future__ import annotations

import functools
import runpy
import sys
from pathlib import Path

import lightning_mods  # noqa: F401  (torch side first)
import lightning as L
import torch

ROOT = Path(__file__).resolve().parents[1]
SYNTHETIC_SIZES = (2_000, 499, 499)  # train, val, test


def bn_buffers(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every BatchNorm running statistic, by name, copied."""
    return {name: b.detach().clone() for name, b in module.named_buffers() if name.endswith(("running_mean", "running_var"))}


class Recorder(L.Callback):
    """Records what this rank saw and holds; writes it when the run ends (rank files, no collectives)."""

    def __init__(self) -> None:
        self.fetches: dict[str, list[list[int]]] = {}
        self.record: dict = {}

    def on_fit_start(self, trainer, pl_module) -> None:
        for split, dataset in trainer.datamodule.splits.items():
            dataset.__getitems__ = self._wrap(split, dataset.__getitems__)
        self.record["initial_state"] = {k: v.detach().clone() for k, v in pl_module.state_dict().items()}

    def _wrap(self, split: str, getitems):
        @functools.wraps(getitems)
        def recording(indices):
            self.fetches.setdefault(split, []).append([int(i) for i in indices])
            return getitems(indices)
        return recording

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == 1:
            self.record["bn_after_first_step"] = bn_buffers(pl_module)
        self.record["bn_after_last_step"] = bn_buffers(pl_module)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        self.record.update(rank=trainer.global_rank, world_size=trainer.world_size, fetches=self.fetches,
                           final_state={k: v.detach().clone() for k, v in pl_module.state_dict().items()})
        folder = Path(trainer.default_root_dir) / "probe"
        folder.mkdir(exist_ok=True)
        torch.save(self.record, folder / f"rank{trainer.global_rank}.pt")


def main(argv: list[str]) -> int:
    from lightning_mods import training
    from lightning_mods.data import FashionMNISTDataModule

    recorder = Recorder()
    make_trainer = training.make_trainer

    def make_recording_trainer(*args, **kwargs):
        trainer = make_trainer(*args, **kwargs)
        trainer.callbacks.append(recorder)
        return trainer

    training.make_trainer = make_recording_trainer
    training.FashionMNISTDataModule = functools.partial(FashionMNISTDataModule, synthetic_sizes=SYNTHETIC_SIZES)
    train = runpy.run_path(str(ROOT / "scripts" / "train.py"), run_name="train")
    return train["main"](argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
