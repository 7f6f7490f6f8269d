"""The test-set predictions of a run's checkpoint and of its Keras conversion, compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from keras_ref.training import logits as keras_outputs
from lightning_mods.config import load_config_values
from lightning_mods.data import load_real, load_synthetic


def test_split(checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test images (float32 in [0, 1]) and labels of the run the checkpoint belongs to."""
    values = load_config_values(checkpoint.parent.parent / "config.yaml")
    split = load_real(values.get("data_dir"), download=False) if values.get("data", "real") == "real" else load_synthetic()
    images, labels = split["test"]
    return images.float().div(255).numpy(), labels.numpy()


def compare_on_test(checkpoint: Path, net: torch.nn.Module, model) -> str:
    """One line: both accuracies and how many predictions differ."""
    x, y = test_split(checkpoint)
    net.eval()
    with torch.no_grad():
        torch_pred = net(torch.from_numpy(x)).argmax(dim=1).numpy()
    keras_x = x.reshape(len(x), *model.inputs[0].shape[1:])  # e.g. (N, 784) for a keras.Input((784,)) model
    keras_pred = np.concatenate([keras_outputs(model, keras_x[i : i + 1000], training=False).argmax(axis=1)
                                 for i in range(0, len(x), 1000)])
    differ = int((torch_pred != keras_pred).sum())
    return (f"test set ({len(y)} images): torch accuracy {(torch_pred == y).mean():.4f}, Keras accuracy "
            f"{(keras_pred == y).mean():.4f}, predictions that differ: {differ}")
