"""The check of a torch -> Keras conversion: the ``.keras`` file as written, loaded back, against the
run's torch net on the same inputs.

Rows (``parity.compare.diff``: ``rel = max|torch - Keras| / max|Keras|`` over the whole array):

- inference-mode outputs on the run's whole test set;
- training-mode outputs (batch statistics) on its first ``TRAIN_BATCH`` images, every Dropout at
  rate 0 (their random draws cannot match), computed on copies so that no statistic moves.

Each row is judged as the keras-to-torch check judges its forward rows (``parity.convert.check``):
tolerance ``max(1e-5, 10 x control)``, capped at 1e-3, where the control is the loaded Keras model in
float32 against the same model cast to float64 on the same inputs: how far float32 rounding alone
moves these outputs. A wrong mapping (a Flatten order, a (C, H, W) gamma read as (H, W, C), a kernel
not transposed) moves them by orders of magnitude more. Then both accuracies, and the number of
predicted classes that differ (a near-tie may flip within the tolerance; it is reported, not judged).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
import torch

from keras_ref.cast import cast_model
from keras_ref.training import logits as keras_outputs
from lightning_mods.config import load_config_values
from lightning_mods.data import load_real, load_synthetic
from parity.compare import FORWARD_RTOL, Diff, diff, torch_logits
from parity.convert.check import MAX_FORWARD_TOLERANCE, allowed
from parity.convert.keras_state import no_dropout

TRAIN_BATCH = 256  # images of the training-mode row (one batch: its statistics are the batch's)
CHUNK = 1000  # images per forward call in inference mode


def test_split(checkpoint: Path) -> tuple[np.ndarray, np.ndarray]:
    """The test images (float32 in [0, 1]) and labels of the run the checkpoint belongs to."""
    values = load_config_values(checkpoint.parent.parent / "config.yaml")
    split = load_real(values.get("data_dir"), download=False) if values.get("data", "real") == "real" else load_synthetic()
    images, labels = split["test"]
    return images.float().div(255).numpy(), labels.numpy()


@dataclass(frozen=True)
class Row:
    """One compared output: torch vs the Keras file, and Keras float32 vs float64 (the control)."""

    name: str
    diff: Diff
    control: Diff

    @property
    def tolerance(self) -> float:
        return allowed(FORWARD_RTOL, self.control, MAX_FORWARD_TOLERANCE)

    @property
    def passed(self) -> bool:
        return self.diff.within(self.tolerance)

    def line(self) -> str:
        return (f"{self.name}: max relative difference {self.diff.rel:.1e} (abs {self.diff.abs:.1e}) <= "
                f"{self.tolerance:.1e} {'pass' if self.passed else 'FAIL'} (control, Keras float32 vs float64: "
                f"{self.control.rel:.1e})")


@dataclass(frozen=True)
class Conversion:
    rows: list[Row]
    images: int
    torch_accuracy: float
    keras_accuracy: float
    differ: int

    @property
    def passed(self) -> bool:
        return all(row.passed for row in self.rows)

    def lines(self) -> list[str]:
        verdict = ("PASS: the Keras model computes what the torch net computes" if self.passed else
                   "FAIL: the Keras model's outputs differ beyond float32 rounding: a conversion error")
        return [row.line() for row in self.rows] + [verdict, (
            f"test set ({self.images} images): torch accuracy {self.torch_accuracy:.4f}, Keras accuracy "
            f"{self.keras_accuracy:.4f}, predictions that differ: {self.differ}")]


def _torch_eval(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return np.concatenate([torch_logits(net, x[i : i + CHUNK], training=False) for i in range(0, len(x), CHUNK)])


def _keras_eval(model: keras.Model, x: np.ndarray) -> np.ndarray:
    return np.concatenate([keras_outputs(model, x[i : i + CHUNK], training=False) for i in range(0, len(x), CHUNK)])


def compare(net: torch.nn.Module, model: keras.Model, x: np.ndarray, y: np.ndarray) -> Conversion:
    """``net`` (torch, float32) against ``model`` (Keras) on images ``x`` with labels ``y``; neither is changed."""
    keras_x = x.reshape(len(x), *model.inputs[0].shape[1:])  # e.g. (N, 784) for a keras.Input((784,)) model
    model32, model64 = (no_dropout(cast_model(model, dtype)) for dtype in ("float32", "float64"))
    torch_eval, keras_eval = _torch_eval(net, x), _keras_eval(model, keras_x)
    rows = [Row(f"inference outputs, test set ({len(x)} images)", diff(torch_eval, keras_eval, "outputs"),
                diff(keras_eval, _keras_eval(model64, keras_x.astype(np.float64)), "outputs"))]
    batch, keras_batch = x[:TRAIN_BATCH], keras_x[:TRAIN_BATCH]
    torch_train = torch_logits(no_dropout(copy.deepcopy(net)), batch, training=True)
    keras_train = keras_outputs(model32, keras_batch, training=True)  # the copies' statistics move, not the file's
    rows.append(Row(f"training-mode outputs, first {len(batch)} images (batch statistics, Dropout at rate 0)",
                    diff(torch_train, keras_train, "outputs"),
                    diff(keras_train, keras_outputs(model64, keras_batch.astype(np.float64), training=True), "outputs")))
    torch_pred, keras_pred = torch_eval.argmax(axis=1), keras_eval.argmax(axis=1)
    return Conversion(rows, len(x), float((torch_pred == y).mean()), float((keras_pred == y).mean()),
                      int((torch_pred != keras_pred).sum()))


def load_saved(path: Path) -> keras.Model:
    """The ``.keras`` file as a user loads it (``safe_mode``: no code from the file runs)."""
    return keras.saving.load_model(path, compile=False, safe_mode=True)


def check_saved(checkpoint: Path, net: torch.nn.Module, saved: Path) -> Conversion:
    """The Keras file ``saved``, loaded back, against the checkpoint's torch net on the run's test set."""
    x, y = test_split(checkpoint)
    return compare(net, load_saved(saved), x, y)
