"""Keras for the notebook, loaded after the torch side and without TensorFlow's C++ start-up
lines: TensorFlow writes them straight to file descriptor 2 while it loads (before its log
level applies), so that descriptor points at /dev/null during the import only."""

from __future__ import annotations

import contextlib
import os
import sys

import lightning_mods  # noqa: F401  (the torch side first: TensorFlow loaded before triton crashes the process)


@contextlib.contextmanager
def silent_fd2():
    """File descriptor 2 to /dev/null inside the block (Python's own ``sys.stderr`` is flushed first)."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with silent_fd2():  # importing this module loads Keras: import it before parity or keras_ref
    import keras_ref  # noqa: F401  (sets the backend and the log level, then loads TensorFlow)
    import keras
    import tensorflow as tf

    tf.constant(0.0) + 1.0  # the first op writes its own start-up line


def load_keras():
    """The ``keras`` module, on the project's TensorFlow backend (through ``keras_ref``), loaded quietly."""
    return keras
