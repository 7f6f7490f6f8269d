"""The Keras 3 side: reference models of the project's nets, on the TensorFlow backend.

Import-order guard: importing triton AFTER TensorFlow segfaults the process (torch 2.14 /
TF 2.21, see shared/REFERENCE.md), and the torch side (lightning, torchvision, torchmetrics)
imports triton. So triton is imported here first, before anything loads TensorFlow; then a
process that imports ``keras_ref`` first and the torch side later works. If TensorFlow is
already loaded, importing triton now would itself crash, so it is skipped (``lightning_mods``
then disables triton). This package never imports torch itself.
"""

import os
import sys

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if "tensorflow" not in sys.modules:
    try:  # must precede any import of tensorflow or keras
        import triton  # noqa: F401
    except ImportError:  # no triton (macOS, some CPU wheels), or disabled by lightning_mods
        pass

from keras_ref.models import build_lstm, build_mlp  # noqa: E402

__all__ = ["build_mlp", "build_lstm"]
