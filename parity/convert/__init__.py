"""Bring your own Keras model: convert it to a torch module (and back) and check training parity.

``load(DIR)`` gives the torch module ``scripts/convert.py keras-to-torch`` saved in DIR. The
package is cheap to import: it loads the torch side only; Keras is loaded by the modules that need it.
"""

from __future__ import annotations

from pathlib import Path

from lightning_mods.spec_net import load_net


def load(net_dir: str | Path, logits: bool = False):
    """The converted ``nn.Module`` in ``net_dir`` (``spec.yaml`` + ``weights.pt``), its weights
    loaded with ``weights_only=True``. ``logits=True`` leaves out a final softmax."""
    return load_net(net_dir, logits=logits)
