"""scripts/train.py with one fault injected, for tests/test_faults.py (run in a child process).

``python tests/fault_child.py MODE MARKER PARAM -- <train.py arguments>``; MARKER is touched when
the fault is reached (the parent waits for it). Modes:

- ``fill``: after the first ``last.ckpt`` is saved, the file-size limit drops to PARAM bytes
  (``RLIMIT_FSIZE``): every later write past it fails with EFBIG, as on a disk that has filled.
- ``fill-at-test``: the same, limit 0, once training is over (the test results, ``summary.json``).
- ``hang-at-replace``: the PARAM-th ``last.ckpt`` is written to its temporary file, then the
  writer stops just before ``os.replace`` (the parent kills it there).
- ``slow``: every optimizer step sleeps PARAM seconds (the parent kills it at a random moment).
- ``hold-lock``: once the run holds the lock on ``--out``, it waits until the file PARAM exists.
"""

from __future__ import annotations

import os
import resource
import runpy
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import lightning_mods  # noqa: F401  (torch first)
import lightning as L

from lightning_mods import checkpoint_io, files, training
from lightning_mods.module import NormClassifier

ROOT = Path(__file__).resolve().parents[1]


def limit_file_size(size: int) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (size, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def main() -> None:
    mode, marker, param = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    assert sys.argv[4] == "--"
    if mode == "fill":
        save = checkpoint_io.AtomicCheckpointIO.save_checkpoint

        def then_fill(self, checkpoint, path, storage_options=None):
            save(self, checkpoint, path, storage_options)
            if Path(path).name == "last.ckpt" and not marker.exists():
                marker.touch()
                limit_file_size(int(param))

        checkpoint_io.AtomicCheckpointIO.save_checkpoint = then_fill
    elif mode == "fill-at-test":
        test = L.Trainer.test

        def filled_test(self, *args, **kwargs):
            marker.touch()
            limit_file_size(0)
            return test(self, *args, **kwargs)

        L.Trainer.test = filled_test
    elif mode == "hang-at-replace":
        replace, seen = os.replace, []

        def hanging_replace(src, dst):
            if Path(dst).name == "last.ckpt":
                seen.append(dst)
                if len(seen) == int(param):
                    marker.touch()
                    time.sleep(600)  # killed here: the temporary file is whole, last.ckpt is the old one
            return replace(src, dst)

        files.os.replace = hanging_replace  # the module's os is the os module: patched for all, filtered above
    elif mode == "slow":
        loss_of = NormClassifier.minibatch_loss  # every optimizer step computes its loss here

        def slow_step(self, minibatch):
            marker.touch()
            time.sleep(float(param))
            return loss_of(self, minibatch)

        NormClassifier.minibatch_loss = slow_step
    elif mode == "hold-lock":
        lock = training.run_lock

        @contextmanager
        def held(out_dir):
            with lock(out_dir):
                marker.touch()
                while not Path(param).exists():
                    time.sleep(0.02)
                yield

        training.run_lock = held
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.argv = [str(ROOT / "scripts" / "train.py"), *sys.argv[5:]]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
