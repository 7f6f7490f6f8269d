"""Ctrl+C and SIGTERM during an experiment: stop the runs cleanly, keep the finished ones.

While ``stop_on_signals()`` is active, SIGINT and SIGTERM raise ``Stopped`` in the main thread (a
BaseException, not KeyboardInterrupt: Lightning turns a KeyboardInterrupt into ``exit(1)``). The
pool's ``finally`` then terminates the workers (they ignore SIGINT themselves), and the script
prints one line and exits 128 + the signal's number (130, 143).

An exception raised by a signal handler can land in library code that does not expect it: torch's
zip writer, interrupted inside ``torch.save``, replaces it with its own ``RuntimeError``. Two
guards keep the stop one line: a finished run is saved inside ``uninterrupted()``, which holds the
signal until the file is whole (then stops), and any exception that escapes after a signal came is
reported as that ``Stopped`` (the original chained as its cause).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


class Stopped(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class _Stopper:
    """The signal received (if any), and how many ``uninterrupted()`` blocks hold it back."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.held = 0

    def handler(self, signum, frame) -> None:
        if self.signum is not None:  # a second signal while stopping changes nothing
            return
        self.signum = signum
        if not self.held:
            raise Stopped(signum)


_active: _Stopper | None = None  # the stop_on_signals() in force, if any


@contextmanager
def stop_on_signals() -> Iterator[None]:
    global _active
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopper = _Stopper()
    previous = {sig: signal.signal(sig, stopper.handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    _active = stopper
    try:
        yield
    except Stopped:
        raise
    except BaseException as err:
        if stopper.signum is None:
            raise
        raise Stopped(stopper.signum) from err  # what the interruption broke on its way out
    finally:
        _active = None
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Run the block to its end even if Ctrl+C or SIGTERM comes meanwhile, then stop (``Stopped``).
    Outside ``stop_on_signals()`` or off the main thread it changes nothing."""
    stopper = _active
    if stopper is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    stopper.held += 1
    try:
        yield
    finally:
        stopper.held -= 1
    if not stopper.held and stopper.signum is not None:
        raise Stopped(stopper.signum)
