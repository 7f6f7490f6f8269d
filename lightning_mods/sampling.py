"""A training-set shuffle that depends on (seed, epoch) only and can resume mid-epoch.

torch's default RandomSampler draws its order from the global RNG when an epoch starts, so a
run resumed from a checkpoint would see other batches than an uninterrupted one. Here the
order of epoch ``e`` is ``randperm`` seeded with ``(seed, e)``, and the loader's
``state_dict`` (which Lightning saves in every checkpoint) records how far the epoch went.
"""

from __future__ import annotations

import itertools

import torch
from torch.utils.data import DataLoader, RandomSampler, Sampler

from lightning_mods.errors import UsageError


class EpochShuffle(RandomSampler):
    """A RandomSampler whose order is a function of ``seed`` and the epoch Lightning sets.

    Being a RandomSampler, Lightning still swaps it for a DistributedSampler under DDP.

    >>> s = EpochShuffle(range(5), seed=1); s.set_epoch(3); a = list(s); s.set_epoch(3)
    >>> a == list(s) and sorted(a) == [0, 1, 2, 3, 4]
    True
    """

    def __init__(self, data_source, seed: int, num_samples: int | None = None) -> None:
        # num_samples < len(data_source): the first num_samples of the epoch's permutation
        super().__init__(data_source, num_samples=num_samples, generator=torch.Generator())
        self.seed, self.epoch = seed, 0
        self.start = 0  # indices of this epoch already used before a resume
        self.yielded = 0  # indices handed out in this epoch so far

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.start = 0  # a checkpoint from the end of the previous epoch: start afresh
        self.epoch = epoch

    def __iter__(self):
        self._seed()
        start, self.start = self.start, 0
        self.yielded = start
        for index in itertools.islice(super().__iter__(), start, None):
            self.yielded += 1
            yield index

    def _seed(self) -> None:
        self.generator.manual_seed((self.seed * 1_000_003 + self.epoch) % 2**63)

    def order(self) -> torch.Tensor:
        """The epoch's whole order at once, as a tensor: what ``__iter__`` yields from index 0
        (RandomSampler's first ``randperm``, cut to ``num_samples``)."""
        if self.num_samples > len(self.data_source):
            raise ValueError("order() covers at most one permutation: num_samples <= len(data_source)")
        self._seed()
        return torch.randperm(len(self.data_source), generator=self.generator)[:self.num_samples]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "yielded": self.yielded}

    def load_state_dict(self, state: dict) -> None:
        self.epoch = int(state["epoch"])
        self.start = int(state["yielded"]) % max(len(self), 1)  # a whole epoch done: nothing to skip


class EpochBatches(Sampler):
    """A batch sampler: an EpochShuffle's order cut into index tensors of ``batch_size`` (the
    last may be shorter), the same batches as torch's BatchSampler over the shuffle, but one
    slice per batch instead of one Python generator step per sample (~60 calls an optimizer step
    at batch 32). Resumes where the shuffle's ``start`` says, and keeps its ``yielded`` count.

    >>> s = EpochShuffle(range(5), seed=1); [b.tolist() for b in EpochBatches(s, 2)] == [list(s)[:2], list(s)[2:4], list(s)[4:]]
    True
    """

    def __init__(self, sampler: EpochShuffle, batch_size: int) -> None:
        self.sampler, self.batch_size = sampler, batch_size  # `sampler`: Lightning calls its set_epoch
        self.drop_last = False

    def __len__(self) -> int:
        return -(-len(self.sampler) // self.batch_size)

    def __iter__(self):
        shuffle = self.sampler
        start, shuffle.start = shuffle.start, 0
        shuffle.yielded = start
        for batch in shuffle.order()[start:].split(self.batch_size):
            shuffle.yielded += len(batch)
            yield batch


class ResumableLoader(DataLoader):
    """A DataLoader with ``state_dict``/``load_state_dict``: Lightning saves its sampler's
    position in checkpoints and restores it before iterating (no "not resumable" warning).

    Lightning counts an epoch's progress in loader batches, so a run stopped mid-epoch must go on
    with batches of the same size (same batch size, steps per execution and process count).
    """

    def _shuffle(self):
        """The sampler that knows the epoch's position (an EpochBatches' own, or the loader's)."""
        return self.batch_sampler.sampler if isinstance(self.batch_sampler, EpochBatches) else self.sampler

    def state_dict(self) -> dict:
        save = getattr(self._shuffle(), "state_dict", None)
        return {**save(), "loader_batch_size": self.batch_sampler.batch_size} if callable(save) else {}

    def load_state_dict(self, state: dict) -> None:
        shuffle = self._shuffle()
        load = getattr(shuffle, "load_state_dict", None)
        if not state or not callable(load):
            return
        size = self.batch_sampler.batch_size
        saved_size = state.get("loader_batch_size", size)
        if saved_size != size and int(state["yielded"]) % max(len(shuffle), 1):
            raise UsageError(f"the checkpoint stopped mid-epoch with training batches of {saved_size} samples, this run "
                             f"cuts {size}; resume with the run's --steps-per-execution and --devices "
                             "(they may change only at an epoch's end)")
        load(state)
