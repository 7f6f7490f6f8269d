"""Ctrl+C and SIGTERM during an experiment: stop the runs cleanly, keep the finished ones.

While ``stop_on_signals()`` is active, SIGINT and SIGTERM raise ``Stopped`` in the main thread (a
BaseException, not KeyboardInterrupt: Lightning turns a KeyboardInterrupt into ``exit(1)``). The
pool's ``finally`` then terminates the workers (they ignore SIGINT themselves), and the script
prints one line and exits 128 + the signal's number (130, 143).
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


@contextmanager
def stop_on_signals() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stopping = {"done": False}

    def handler(signum, frame):
        if not stopping["done"]:  # a second signal while stopping changes nothing
            stopping["done"] = True
            raise Stopped(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
