"""The command line's shared parts: argparse errors as the project's one line, exit 2.

argparse prints its usage and the message on two or more lines; every entry point refuses bad input
in one line ``error: <what>; <what to do>`` with exit code 2 (``EXIT_USAGE``), its own checks and
argparse's alike.
"""

from __future__ import annotations

import argparse
import sys

from lightning_mods.errors import EXIT_USAGE


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr, exit 2."""

    def error(self, message: str):  # noqa: D401  (argparse's hook)
        self.exit(EXIT_USAGE, f"error: {message}; see {self.prog} --help\n")

    def exit(self, status: int = 0, message: str | None = None):
        if message:
            sys.stderr.write(message)
        raise SystemExit(status)


def count_problem(name: str, value: int, at_most: int, at_least: int = 1) -> str | None:
    """The refusal for a count outside ``[at_least, at_most]`` (what, and what to use), or None."""
    if at_least <= value <= at_most:
        return None
    return f"{name} {value} is out of range; use a whole number from {at_least} to {at_most}"
