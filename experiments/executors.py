"""Where an experiment's runs train: in this process, in a local process pool, or on Ray.

Every path calls the same function on each run (``train``: a picklable RunSpec in, plain
results out), so a run's numbers do not depend on where it ran: with the same torch threads
per run, serial and parallel give bitwise the same histories. The pools are the standard
library's ``multiprocessing.Pool`` (``spawn``: a fresh interpreter per worker, no forked
thread state) and its drop-in on a Ray cluster, ``ray.util.multiprocessing.Pool``; the
project adds no scheduling of its own beyond ordering the runs longest first.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from dataclasses import dataclass
from typing import Callable, Iterable

from lightning_mods.errors import UsageError

EXECUTORS = ("local", "ray")


def machine_cores() -> int:
    """Cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PoolSettings:
    """How runs are spread: ``workers`` processes of ``threads`` torch threads each."""

    workers: int = 0  # 0: one per core
    threads: int = 0  # 0: cores // workers
    executor: str = "local"
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.workers < 0:
            raise UsageError(f"--workers {self.workers} must be at least 1 (or 0: one per core)")
        if self.threads < 0:
            raise UsageError(f"--threads {self.threads} must be at least 1 (or 0: cores / workers)")
        if self.executor not in EXECUTORS:
            raise UsageError(f"--executor {self.executor!r} is not one of {', '.join(EXECUTORS)}")
        if self.ray_address and self.executor != "ray":
            raise UsageError("--ray-address needs --executor ray")

    @property
    def n_workers(self) -> int:
        return self.workers or machine_cores()

    @property
    def n_threads(self) -> int:
        return self.threads or max(1, machine_cores() // self.n_workers)


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _ray_pool(settings: PoolSettings):
    try:
        from ray.util.multiprocessing import Pool
    except ImportError:
        raise UsageError("--executor ray needs Ray: pip install -e \".[ray]\"") from None
    return Pool(processes=settings.n_workers, initializer=_init_worker, initargs=(settings.n_threads,),
                ray_address=settings.ray_address)


def _indexed(function: Callable, indexed_item: tuple) -> tuple:
    index, item = indexed_item
    return index, function(item)


def imap_unordered(function: Callable, items: Iterable, settings: PoolSettings) -> Iterable[tuple[int, object]]:
    """``(i, function(items[i]))`` for every item, as each one is ready; items start in order.

    One worker (or one item) and the local executor: in this process, with ``n_threads`` torch
    threads. Otherwise a pool of ``n_workers`` processes of ``n_threads`` threads each.
    """
    items = list(enumerate(items))
    task = functools.partial(_indexed, function)
    if settings.executor == "local" and (settings.n_workers == 1 or len(items) <= 1):
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(settings.n_threads)
        try:
            yield from map(task, items)
        finally:
            torch.set_num_threads(before)
        return
    if settings.executor == "ray":
        pool = _ray_pool(settings)
    else:
        pool = multiprocessing.get_context("spawn").Pool(min(settings.n_workers, len(items)), _init_worker,
                                                         (settings.n_threads,))
    try:
        yield from pool.imap_unordered(task, items)
    finally:
        pool.terminate()
