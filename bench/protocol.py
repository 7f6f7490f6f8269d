"""The text lines between the orchestrator and a worker, and the worker's end of them (``Gate``).

Epochs are interleaved in slices: each epoch (warm-up ones too) runs in ``slices`` turns of
about 1/slices of its training batches, one worker computing at a time; the clock stops between
turns, so an epoch's time is the sum of its slices. Over the worker's stdin and stdout:

    worker: READY             at an epoch's start or a slice boundary; then it blocks on stdin
    orchestrator: GO          run one slice
    worker: EPOCH <seconds>   after an epoch's last slice: the epoch's timed training part
    worker: READY             ... (after an epoch's untimed after-work: validation, checkpoint)
            or BENCH_RESULT {json}, then exits, after its last epoch

The next worker gets its GO only after the previous one's next READY (or its exit).
"""

from __future__ import annotations

import json
import time

READY, GO, EPOCH_TAG, RESULT_TAG = "READY", "GO", "EPOCH ", "BENCH_RESULT "


class Gate:
    """The worker's end of the protocol. An epoch: ``start_epoch`` (wait for GO, clock on),
    ``pause`` at each of ``cuts(batches)`` (clock off, wait for GO, clock on), ``end_epoch``
    (clock off, send the epoch's seconds). ``sync`` waits for the device before each reading."""

    def __init__(self, channel, commands, slices: int = 1, sync=lambda: None) -> None:
        self.channel, self.commands, self.slices, self.sync = channel, commands, slices, sync
        self.elapsed, self.started = 0.0, 0.0

    def cuts(self, batches: int) -> set[int]:
        """The batch indices that start a new slice of an epoch of ``batches`` batches."""
        return {round(k * batches / self.slices) for k in range(1, self.slices)} - {0, batches}

    def start_epoch(self) -> None:
        self.sync()
        self.wait_for_go()
        self.elapsed, self.started = 0.0, time.perf_counter()

    def pause(self) -> None:
        self.sync()
        self.elapsed += time.perf_counter() - self.started
        self.wait_for_go()
        self.started = time.perf_counter()

    def end_epoch(self) -> float:
        self.sync()
        self.elapsed += time.perf_counter() - self.started
        self.send(f"{EPOCH_TAG}{self.elapsed!r}")
        return self.elapsed

    def wait_for_go(self) -> None:
        self.send(READY)
        line = self.commands.readline()
        if line.strip() != GO:  # "" is the orchestrator gone: stop, do not train unwatched
            raise SystemExit(f"bench worker: expected {GO} on stdin, got {line!r}")

    def send_result(self, result: dict) -> None:
        self.send(RESULT_TAG + json.dumps(result))

    def send(self, line: str) -> None:
        self.channel.write(line + "\n")
        self.channel.flush()
