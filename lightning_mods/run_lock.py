"""One run per folder: an exclusive ``flock`` on ``<out>/.lock``, held for the whole run.

The kernel releases the lock when its holder exits, however it exits (kill -9 included), so a
stopped run never leaves a stale lock. The file holds the holder's pid, for the refusal's message;
it stays in the folder between runs (deleting it would let two runs lock two different files).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning_mods.errors import UsageError

LOCK_NAME = ".lock"


@contextmanager
def run_lock(out_dir: Path) -> Iterator[None]:
    """Hold ``out_dir``'s lock (the folder must exist); refuse at once if another process holds it."""
    path = out_dir / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(f"--out {out_dir}: its lock file {path} cannot be opened ({err.strerror}); "
                         "pick a folder you can write to") from err
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"--out {out_dir} is in use by another run (pid {_holder(fd)}); wait for it to end "
                             "(or stop it), or choose another --out") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """The pid in the lock file; the holder writes it just after locking, so wait a moment for it."""
    for _ in range(50):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text:
            return text
        time.sleep(0.02)
    return "unknown"
