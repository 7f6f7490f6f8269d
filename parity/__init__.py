"""Keras-vs-torch parity: the conventions table, weight transfer, and the comparison.

The torch side is imported before the Keras side on purpose: TensorFlow loaded before triton
crashes the process (``keras_ref`` also guards against this on its own).
"""

import lightning_mods  # noqa: F401  (torch side first)
import keras_ref  # noqa: F401,E402
