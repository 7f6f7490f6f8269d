"""The orchestrator's end of the protocol (``bench.protocol``): worker subprocesses, and their
turns round-robin, one worker computing at a time."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from bench.protocol import EPOCH_TAG, GO, READY, RESULT_TAG

ROOT = Path(__file__).resolve().parents[1]


class WorkerProcess:
    """One worker subprocess: commands on its stdin, protocol lines from its stdout (read by a
    thread, so that waiting for a line can time out), stderr into a temporary file (so that no
    pipe fills up, and its tail can go into an error message)."""

    def __init__(self, name: str, argv: list[str], timeout_s: float) -> None:
        self.name, self.timeout_s = name, timeout_s
        self.stderr = tempfile.TemporaryFile("w+", prefix="bench-stderr-")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of file: the worker exited

    def send(self, command: str) -> None:
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self.failure(f"exited (code {self.exit_code()}) before its {command}") from None

    def next_line(self, due: str) -> str:
        """The worker's next stdout line; a failure if it exits or stays silent past the timeout."""
        try:
            line = self.lines.get(timeout=self.timeout_s)
        except queue.Empty:
            raise self.failure(f"sent no {due} line within {self.timeout_s:g} s") from None
        if line is None:
            raise self.failure(f"exited (code {self.exit_code()}) before its {due} line")
        return line

    def expect(self, tag: str) -> str:
        """The rest of the next line that starts with ``tag``; other protocol lines are an error,
        other text is skipped."""
        while True:
            line = self.next_line(tag.strip())
            if line.startswith(tag):
                return line[len(tag):]
            if line.startswith((READY, EPOCH_TAG.strip(), RESULT_TAG.strip())):
                raise self.failure(f"sent {line[:80]!r} where {tag.strip()} was due")

    def take_turn(self) -> dict | None:
        """GO, then wait until the worker is idle again: None at its next READY, or its result
        (after it exited cleanly) at the end. EPOCH lines on the way are informative only."""
        self.send(GO)
        while True:
            line = self.next_line(f"{READY} or {RESULT_TAG.strip()}")
            if line == READY:
                return None
            if line.startswith(RESULT_TAG):
                result = json.loads(line[len(RESULT_TAG):])
                self.finish()
                return result

    def exit_code(self, wait_s: float = 10.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:  # its stdout closed, yet it runs on
            return None

    def finish(self) -> None:
        """Wait for the worker's exit (after its result line); a failure unless it exits with 0."""
        try:
            code = self.proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise self.failure(f"did not exit within {self.timeout_s:g} s of its result") from None
        if code != 0:
            raise self.failure(f"exited with code {code}")

    def failure(self, what: str) -> RuntimeError:
        self.stderr.flush()
        self.stderr.seek(0)
        tail = self.stderr.read()[-3000:]
        return RuntimeError(f"bench worker {self.name} {what}; its stderr ends:\n{tail}")

    def close(self) -> None:
        """Kill the worker if it still runs, reap it and close its files."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                stream.close()
            except OSError:  # stdin of a killed worker: the flush of its buffer fails
                pass


def rotated(items: list, turn: int) -> list:
    turn %= len(items)
    return items[turn:] + items[:turn]


def interleave(workers: list[WorkerProcess], on_result: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Give the workers turns round-robin, one worker computing at a time, until each has sent its
    result; the results, in the workers' order. Turn t starts with worker t mod len(workers)."""
    for worker in workers:  # their setups ran at the same time: all must be done before any turn
        worker.expect(READY)
    results: list[dict | None] = [None] * len(workers)
    turn = 0
    while any(result is None for result in results):
        for index in rotated(list(range(len(workers))), turn):
            if results[index] is not None:
                continue
            results[index] = workers[index].take_turn()
            if results[index] is not None and on_result:
                on_result(index, results[index])
        turn += 1
    return results


def run_group(argvs: list[list[str]], names: list[str], timeout_s: float,
              on_result: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Start one worker per argv at once and interleave their turns; whatever happens, no worker
    outlives this call."""
    workers: list[WorkerProcess] = []
    try:
        for name, argv in zip(names, argvs):
            workers.append(WorkerProcess(name, argv, timeout_s))
        return interleave(workers, on_result)
    finally:
        for worker in workers:
            worker.close()
