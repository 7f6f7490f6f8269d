"""Run files written whole or not at all: a crash, a kill -9 or a full disk never leaves half of one.

Each file is written to a temporary file beside it (same folder, so the same file system), flushed
and fsynced, then ``os.replace``d over the old one, and the folder is fsynced: at every instant the
path holds either the old content or the new.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TEMP_MARK = ".tmp-"  # <name>.tmp-<pid>: the file being written, beside its target


def temp_path(path: Path) -> Path:
    return path.with_name(f"{path.name}{TEMP_MARK}{os.getpid()}")


def write_atomically(path: str | Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(file)`` on a temporary file, then put it in place of ``path`` in one step.

    A failure (``OSError``: a full disk, a quota, a file-size limit, an I/O error) removes the
    temporary file, leaves ``path`` as it was, and is raised with ``filename`` = ``path``.
    """
    path = Path(path)
    temp = temp_path(path)
    try:
        with open(temp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
        _fsync_folder(path.parent)
    except BaseException as err:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename != str(path):
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise


def write_text_atomically(path: str | Path, text: str) -> None:
    write_atomically(path, lambda handle: handle.write(text.encode()))


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX: the new directory entry is on disk)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_leftovers(folder: Path) -> list[Path]:
    """Delete the temporary files a killed writer left in ``folder`` (call it while no writer runs:
    under the run's lock). Returns what was removed."""
    if not folder.is_dir():
        return []
    leftovers = sorted(p for p in folder.iterdir() if TEMP_MARK in p.name and p.is_file())
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers


def write_all_atomically(contents: dict[Path, bytes]) -> None:
    """Write several files as one: every content to its temporary file first (flushed, fsynced),
    and only when all are written are they put in place. A failure while writing (a full disk)
    removes the temporary files and leaves every old file as it was."""
    temps: dict[Path, Path] = {}
    try:
        for path, data in contents.items():
            path = Path(path)
            temps[path] = temp_path(path)
            try:
                with open(temps[path], "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except OSError as err:
                raise OSError(err.errno, err.strerror or str(err), str(path)) from err
    except BaseException:
        for temp in temps.values():
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)
        raise
    for path, temp in temps.items():
        os.replace(temp, path)
    for folder in {path.parent for path in temps}:
        _fsync_folder(folder)
