"""The torch side: nets, the norm factory, the LightningModule, the Fashion-MNIST DataModule.

Import-order guard: importing triton (which torchvision, lightning and torchmetrics import)
after TensorFlow segfaults the process. So triton is imported here, before anything loads
TensorFlow: a process that imports ``lightning_mods`` first may then import keras or
tensorflow directly and the rest of the torch side later. When TensorFlow is already loaded
and triton is not, we mark triton as absent so that torch runs without it (its GPU kernels
generator for ``torch.compile``), instead of crashing. ``keras_ref`` imports triton before
TensorFlow too.
"""

import sys
import warnings

if "tensorflow" not in sys.modules:
    try:  # must precede any import of tensorflow or keras
        import triton  # noqa: F401
    except ImportError:  # no triton (macOS, some CPU wheels), or disabled before
        pass
elif sys.modules["tensorflow"] is not None and "triton" not in sys.modules:  # None: blocked, not loaded
    sys.modules["triton"] = None  # makes `import triton` raise ImportError, which torch handles
    warnings.warn(
        "TensorFlow was imported before the torch side, so triton is disabled in this process "
        "(importing it after TensorFlow crashes); import lightning_mods first to keep it.",
        stacklevel=2,
    )
