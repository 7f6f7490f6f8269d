"""Where an experiment's runs train: in this process, in a local process pool, or on Ray.

Every path calls the same function on each run (``train``: a picklable RunSpec in, plain
results out), so a run's numbers do not depend on where it ran: with the same torch threads
per run, serial and parallel give bitwise the same histories. The pools are the standard
library's ``multiprocessing.Pool`` (``spawn``: a fresh interpreter per worker, no forked
thread state) and its drop-in on a Ray cluster, ``ray.util.multiprocessing.Pool``; the
project adds no scheduling of its own beyond ordering the runs longest first.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable

from lightning_mods.errors import UsageError

EXECUTORS = ("local", "ray")
PR_SET_PDEATHSIG = 1  # linux/prctl.h


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
        if self.executor not in EXECUTORS:
            raise UsageError(f"--executor {self.executor!r} is not known; use one of {', '.join(EXECUTORS)}")
        # a Ray cluster's machines may have more cores than this one
        most_workers, most_threads = (1024, 256) if self.executor == "ray" else (4 * machine_cores(), machine_cores())
        if not 0 <= self.workers <= most_workers:
            raise UsageError(f"--workers {self.workers} is out of range; use 1 to {most_workers} (or 0: one per core)")
        if not 0 <= self.threads <= most_threads:
            raise UsageError(f"--threads {self.threads} is out of range; use 1 to {most_threads} (or 0: cores / workers)")
        if self.ray_address and self.executor != "ray":
            raise UsageError("--ray-address needs --executor ray; add it, or drop --ray-address")

    @property
    def n_workers(self) -> int:
        return self.workers or machine_cores()

    @property
    def n_threads(self) -> int:
        return self.threads or max(1, machine_cores() // self.n_workers)


def _init_worker(threads: int, parent: int | None = None) -> None:
    """A pool worker: ``threads`` torch threads; Ctrl+C is the parent's to handle (it stops the pool);
    and the worker ends itself as soon as its parent is gone (a kill -9 never leaves it running)."""
    import torch

    torch.set_num_threads(threads)
    if parent is not None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        watch_parent(parent)


def watch_parent(parent: int, every: float = 0.2) -> None:
    """End this process when ``parent`` dies: the kernel's parent-death signal on Linux, and a
    thread that polls ``os.getppid()`` (any POSIX system; covers a parent that died before)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)

    def poll() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=poll, name="watch-parent", daemon=True).start()


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
                                                         (settings.n_threads, os.getpid()))
    try:
        yield from pool.imap_unordered(task, items)
    finally:
        pool.terminate()
        pool.join()
