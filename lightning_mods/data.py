"""The Fashion-MNIST DataModule: uint8 tensors in memory, batches cut from them directly."""

from __future__ import annotations

import functools
import math

import lightning as L
import torch
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from lightning_mods.errors import UsageError
from lightning_mods.fashion_files import find_dataset
from lightning_mods.sampling import EpochBatches, EpochShuffle, ResumableLoader

TRAIN_SIZE = 55_000  # Géron's split: the LAST 5,000 training images are the validation set
VAL_SIZE = 5_000
DATA_SOURCES = ("real", "synthetic")
# Optimizer steps per Lightning training step when one process trains (Keras's
# compile(steps_per_execution=)): Lightning's own work per training step (hooks, loops, progress,
# ~1 ms on a CPU) is then paid once per 16 minibatches. Under DDP: 1 (resolve_steps_per_execution).
AUTO_STEPS_PER_EXECUTION = 16


class ImageBatches(Dataset):
    """uint8 images ``(N, 28, 28)`` and int64 labels; ``__getitems__`` cuts a whole batch at
    once (torch's DataLoader calls it with the batch's index list), so no per-sample collation.
    Pixels come out as float32 in [0, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError(f"expected uint8 (N, 28, 28) images and N labels, got {tuple(images.shape)} {images.dtype}")
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images[index].float().div_(255), self.labels[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        # non_blocking: on CUDA a plain copy of the index list would wait for the GPU every step.
        idx = torch.as_tensor(indices).to(self.images.device, non_blocking=True)
        return self.images[idx].float().div_(255), self.labels[idx]  # (B, 28, 28), (B,)

    def to(self, device: torch.device) -> "ImageBatches":
        self.images, self.labels = self.images.to(device), self.labels.to(device)
        return self


def keep_batch(batch):
    """collate_fn: ``__getitems__`` already returned the batch."""
    return batch


def split_minibatches(batch, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """collate_fn of the training loader: it cuts the samples of several optimizer steps at once
    and hands them over as a list of ``(x, y)`` minibatches of ``size`` (the epoch's last may be
    shorter), in the sampler's order: the same minibatches as a loader of ``batch_size=size``.

    >>> [len(y) for _, y in split_minibatches((torch.zeros(5, 28, 28), torch.zeros(5)), 2)]
    [2, 2, 1]
    """
    x, y = batch
    return list(zip(x.split(size), y.split(size)))


def synthetic_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Learnable fake data of the real shapes: each class a fixed random template plus noise."""
    g = torch.Generator().manual_seed(seed)
    templates = torch.rand(10, 28, 28, generator=torch.Generator().manual_seed(1234))
    labels = torch.arange(n) % 10
    labels = labels[torch.randperm(n, generator=g)]
    noise = torch.rand(n, 28, 28, generator=g)
    images = (0.35 * templates[labels] + 0.65 * noise).mul(255).round().to(torch.uint8)
    return images, labels


def load_real(data_dir=None, download: bool = True) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """The checked files, read by torchvision, split 55,000 / 5,000 / 10,000."""
    from torchvision.datasets import FashionMNIST

    root = str(find_dataset(data_dir, download=download))
    train = FashionMNIST(root, train=True, download=False)
    test = FashionMNIST(root, train=False, download=False)
    x, y = train.data, train.targets  # uint8 (60000, 28, 28), int64 (60000,)
    return {
        "train": (x[:TRAIN_SIZE], y[:TRAIN_SIZE]),
        "val": (x[TRAIN_SIZE:], y[TRAIN_SIZE:]),
        "test": (test.data, test.targets),
    }


def load_synthetic(train: int = 2_000, val: int = 500, test: int = 500, seed: int = 0):
    return {"train": synthetic_split(train, seed), "val": synthetic_split(val, seed + 1), "test": synthetic_split(test, seed + 2)}


class FashionMNISTDataModule(L.LightningDataModule):
    """Fashion-MNIST (``data="real"``) or its synthetic stand-in, held in memory as uint8.

    The tensors move to the GPU when the Trainer runs there (55 MB as uint8), so batches are
    cut on the device. With BatchNorm, a last training batch of one sample is dropped.

    A training batch is a list of ``steps_per_execution`` minibatches ``(x, y)`` of ``batch_size``
    samples (the last of an epoch may hold fewer), one optimizer step each; ``None`` picks
    AUTO_STEPS_PER_EXECUTION for one process and 1 under DDP. Validation and test batches are
    plain ``(x, y)``.
    """

    def __init__(self, data: str = "real", data_dir=None, batch_size: int = 32, norm: str = "bn",
                 eval_batch_size: int = 1_000, synthetic_sizes: tuple[int, int, int] = (2_000, 500, 500),
                 seed: int = 0, steps_per_execution: int | None = None) -> None:
        super().__init__()
        if data not in DATA_SOURCES:
            raise UsageError(f"unknown --data {data!r}; choose real or synthetic")
        if batch_size < 1:
            raise UsageError(f"--batch-size {batch_size} must be at least 1")
        if steps_per_execution is not None and steps_per_execution < 1:
            raise UsageError(f"--steps-per-execution {steps_per_execution} must be at least 1 (or left out: automatic)")
        if batch_size == 1 and norm == "bn":
            raise UsageError(
                "--batch-size 1 with --norm bn cannot train: BatchNorm's batch variance of one sample is 0 "
                "(torch refuses it, Keras silently outputs beta); use --batch-size 2 or more, or --norm ln/gn"
            )
        self.data, self.data_dir, self.batch_size, self.norm = data, data_dir, batch_size, norm
        self.eval_batch_size, self.synthetic_sizes = eval_batch_size, synthetic_sizes
        self.seed = seed  # the training order of epoch e depends on (seed, e) only: see sampling.py
        self.requested_steps = steps_per_execution
        self.splits: dict[str, ImageBatches] = {}
        self.drop_last_train = False

    def load(self) -> None:
        """Read (and check) the data now; raises UsageError before any training starts."""
        if self.splits:
            return
        raw = load_real(self.data_dir) if self.data == "real" else load_synthetic(*self.synthetic_sizes)
        self.splits = {name: ImageBatches(*tensors) for name, tensors in raw.items()}
        # A last batch of one sample would make BatchNorm fail mid-epoch: drop it (and say so).
        self.drop_last_train = self.norm == "bn" and len(self.splits["train"]) % self.batch_size == 1

    def setup(self, stage: str | None = None) -> None:
        self.load()
        if self.trainer is not None and self.trainer.strategy.root_device.type != "cpu":  # uint8 on the GPU
            for split in self.splits.values():
                split.to(self.trainer.strategy.root_device)

    def transfer_batch_to_device(self, batch, device: torch.device, dataloader_idx: int):
        """Every batch is cut where the splits sit, on the trainer's device (``setup``): nothing moves.
        Lightning's default walks the training batch's list of minibatches tensor by tensor (about 50
        Python calls a batch, issue 30); here the batch is handed on as it is."""
        if self.splits and self.splits["train"].images.device == device:
            return batch
        return super().transfer_batch_to_device(batch, device, dataloader_idx)

    def _eval_loader(self, split: str) -> DataLoader:
        return DataLoader(self.splits[split], batch_size=self.eval_batch_size, collate_fn=keep_batch, num_workers=0,
                          sampler=self._eval_sampler(split))

    def _eval_sampler(self, split: str) -> DistributedSampler | None:
        """Under DDP, each process evaluates every ``world_size``-th sample and none twice.

        Lightning would inject a DistributedSampler, which pads with repeated samples so that
        all processes get equal counts; the padded ones would count twice in val/test metrics.
        Training keeps Lightning's sampler (DDP needs equal step counts on every process).
        """
        if self.trainer is None or self.trainer.world_size == 1:
            return None
        return UnrepeatedDistributedSampler(self.splits[split], num_replicas=self.trainer.world_size,
                                            rank=self.trainer.global_rank, shuffle=False)

    @property
    def world_size(self) -> int:
        return self.trainer.world_size if self.trainer is not None else 1

    @property
    def steps_per_execution(self) -> int:
        """The optimizer steps per training batch: the requested number, else
        AUTO_STEPS_PER_EXECUTION in one process; 1 under DDP, where Lightning's automatic
        optimization (one step per training step) lets DDP sync gradients and broadcast
        BatchNorm's buffers at every step. The LightningModule reads it in its ``setup``."""
        if self.world_size == 1:
            return self.requested_steps or AUTO_STEPS_PER_EXECUTION
        if (self.requested_steps or 1) > 1:
            raise UsageError(f"--steps-per-execution {self.requested_steps} needs one process, but this run has "
                             f"{self.world_size} (DDP); leave it out (DDP takes 1 step per training batch)")
        return 1

    def train_dataloader(self) -> DataLoader:
        """Shuffled by (seed, epoch), resumable mid-epoch; batches of ``steps_per_execution`` minibatches."""
        split = self.splits["train"]
        collate = functools.partial(split_minibatches, size=self.batch_size)
        if self.world_size > 1:
            # Lightning swaps the sampler for a DistributedSampler, which pads each process's share
            # up; drop_last then drops a last batch of 1 (a training batch is 1 minibatch here).
            share = math.ceil(len(split) / self.world_size)
            self.drop_last_train = self.norm == "bn" and share % self.batch_size == 1
            return ResumableLoader(split, batch_size=self.batch_size * self.steps_per_execution, sampler=EpochShuffle(
                split, self.seed), drop_last=self.drop_last_train, collate_fn=collate, num_workers=0)
        # A last minibatch of 1 (BatchNorm) is dropped by sampling one index less per epoch: the
        # same order, and the last loader batch (several minibatches) is not thrown away whole. The
        # batches' indices are cut from the epoch's order at once (EpochBatches): the same batches.
        shuffle = EpochShuffle(split, self.seed, num_samples=len(split) - int(self.drop_last_train))
        return ResumableLoader(split, batch_sampler=EpochBatches(shuffle, self.batch_size * self.steps_per_execution),
                               collate_fn=collate, num_workers=0)

    def val_dataloader(self) -> DataLoader:
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._eval_loader("test")
