"""The parity check of a converted model: the torch module against the Keras model it came from.

Checks, each as ``parity.compare`` measures them (``rel = max|a - b| / max|b|`` per array, the
Keras-on-TensorFlow array as the reference, the worst array reported):

- training-mode and inference-mode outputs of one batch, fresh float32 weights: <= 1e-5;
- then ``steps`` plain-SGD steps in float64 from the same weights on the same batches: every
  weight, every moving statistic and the inference outputs after them: <= 1e-4.

The SGD loss is the mean squared error against fixed random targets of the output's shape: a
loss every model has (the inputs given by the user carry no labels), whose gradient reaches
every trained weight. Dropout draws differ between frameworks, so every Dropout's rate is 0
in this check (inference, where Dropout does nothing, is checked as it is).

Scales in the float64 columns (``parity.compare.diff`` adds a floor to an array's scale):

- every array gets ``FLOOR`` (1e-6): an array whose exact gradient is 0 (a Dense bias or a BN
  beta feeding a BatchNormalization, whose mean subtraction cancels it) moves only by rounding,
  and two correct frameworks disagree on that noise by 100% of itself. ``rel <= 1e-4`` then
  allows 1e-10 absolute on such an array: far above float64 rounding after the steps, far
  below what a wrong convention moves (a momentum or variance-rule error moves statistics
  ~1e-3 relative in one step).
- a moving MEAN is judged on the spread of the values it averages, ``sqrt(moving variance)``,
  not on its own size: the mean of centred activations is near 0, so its own size says nothing
  about how precisely it was computed. Keras on its torch backend needs this: it computes
  float64 matmuls in float32 (Keras forces 64-bit result types to 32-bit outside TensorFlow,
  ``keras.src.backend.common.dtypes``), and a mean of ~1 values near 0 then carries ~1e-7
  absolute error, 1e-2 of itself.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import keras
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from keras_ref.cast import cast_model
from keras_ref.training import logits as keras_outputs
from keras_ref.training import sgd_steps as keras_sgd_steps
from lightning_mods.errors import UsageError
from lightning_mods.spec_net import SpecNet
from parity.compare import (
    BATCH_SIZE,
    LEARNING_RATE,
    STEPS,
    Diff,
    PairReport,
    control_diff,
    diff,
    torch_logits,
    torch_sgd_steps,
    worst,
)
from parity.convert.keras_state import keras_state, no_dropout
from parity.convert.keras_to_torch import copy_to_torch, pairs
from parity.convert.torch_backend import run_keras_on_torch
from parity.transfer import MOVING, keras_arrays, torch_arrays

FLOOR = 1e-6  # added to an array's scale in the float64 columns (see the module docstring)


@dataclass
class Settings:
    steps: int = STEPS
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    floor: float = FLOOR


@dataclass
class Reference:
    """What Keras on TensorFlow computes: the arrays every column is compared with."""

    eval: np.ndarray
    train: np.ndarray
    arrays: dict[str, np.ndarray]  # "<layer>/<array>" after the SGD steps
    eval_after: np.ndarray


@dataclass
class Inputs:
    x: np.ndarray  # float32 (batch_size, *input_shape): the forward batch
    batches: list[tuple[np.ndarray, np.ndarray]]  # float64 (inputs, targets), one per SGD step


@dataclass
class Report:
    settings: Settings
    inputs_from: str
    columns: dict[str, PairReport] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(column.passed for column in self.columns.values())


def make_inputs(model: keras.Model, settings: Settings, given: np.ndarray | None = None) -> Inputs:
    """The forward batch and the SGD batches: rows of ``given`` (drawn with a seeded generator)
    or standard-normal inputs of the model's input shape; targets standard normal."""
    rng = np.random.default_rng(settings.seed)
    shape = tuple(model.inputs[0].shape[1:])
    n = settings.batch_size * (settings.steps + 1)
    if given is None:
        rows = rng.standard_normal((n, *shape))
    else:
        if given.ndim < 1 or tuple(given.shape[1:]) != shape or not len(given):
            raise UsageError(f"--inputs holds an array of shape {given.shape}, but the model takes (N, {', '.join(map(str, shape))}); "
                             "save N inputs of the model's input shape with numpy.save")
        rows = given[rng.integers(0, len(given), n)].astype(np.float64)
    out_shape = tuple(model.outputs[0].shape[1:])
    targets = rng.standard_normal((n, *out_shape))
    b = settings.batch_size
    x = rows[:b].astype(np.float32)
    batches = [(rows[i : i + b], targets[i : i + b]) for i in range(b, n, b)]
    return Inputs(x, batches)


def mse(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(output, target)


def array_floor(key: str, reference: dict[str, np.ndarray], floor: float) -> float:
    """The floor added to the scale of ``reference[key]`` (see the module docstring)."""
    if key.endswith("/moving_mean"):
        spread = reference.get(key[: -len("moving_mean")] + "moving_variance")
        if spread is not None:
            return floor + float(np.sqrt(np.max(np.abs(spread))))
    return floor


def state_diffs(arrays: dict[str, np.ndarray], reference: dict[str, np.ndarray], floor: float):
    diffs = {key: diff(arrays[key], ref, key, array_floor(key, reference, floor)) for key, ref in reference.items()}
    return (worst([d for k, d in diffs.items() if not k.endswith(MOVING)]),
            worst([d for k, d in diffs.items() if k.endswith(MOVING)]))


def column(outputs: dict, reference: Reference, settings: Settings, control=None) -> PairReport:
    """One column: ``outputs`` (eval, train, arrays, eval_after) against the reference."""
    weights, moving = state_diffs(outputs["arrays"], reference.arrays, settings.floor)
    return PairReport(diff(outputs["train"], reference.train, "outputs"), diff(outputs["eval"], reference.eval, "outputs"),
                      weights, moving, diff(outputs["eval_after"], reference.eval_after, "outputs", settings.floor), control)


def keras_reference(model: keras.Model, names: list[str], inputs: Inputs, settings: Settings) -> Reference:
    model64 = no_dropout(cast_model(model, "float64"))  # from the fresh weights, before any forward
    no_dropout(model)
    evaluated = keras_outputs(model, inputs.x, training=False)
    trained = keras_outputs(model, inputs.x, training=True)  # moves BN's statistics: the steps start from model64
    loss = keras.losses.MeanSquaredError(dtype="float64")
    keras_sgd_steps(model64, inputs.batches, settings.learning_rate, loss)
    after = keras_outputs(model64, inputs.x.astype(np.float64), training=False)
    return Reference(evaluated, trained, keras_state(model64, names), after)


def torch_outputs(model: keras.Model, spec: list[dict], inputs: Inputs, settings: Settings) -> tuple[dict, Diff]:
    """The torch module's outputs and arrays (Keras layout), and the torch-vs-itself control."""
    net = no_dropout(copy_to_torch(model, SpecNet(spec)))
    net64 = copy.deepcopy(net).double()  # float32 -> float64 is exact: the same start as Keras's cast
    start = copy.deepcopy(net64)
    out = {"eval": torch_logits(net, inputs.x, training=False), "train": torch_logits(net, inputs.x, training=True)}
    torch_batches = [(x, y) for x, y in inputs.batches]
    torch_sgd_steps(net64, torch_batches, settings.learning_rate, mse)
    out["arrays"] = {f"{name}/{key}": value for name, module, _ in pairs(net64, model)
                     for key, value in torch_arrays(module).items()}
    out["eval_after"] = torch_logits(net64, inputs.x.astype(np.float64), training=False)
    return out, control_diff(start, torch_batches, settings.learning_rate, mse, settings.floor)


def check(model: keras.Model, spec: list[dict], settings: Settings | None = None, given: np.ndarray | None = None,
          model_path=None, keras_torch: bool = True) -> Report:
    """Every column for ``model`` (loaded from ``model_path``, which the Keras-on-torch column
    loads again in its own process; ``keras_torch=False`` leaves that column out)."""
    settings = settings or Settings()
    inputs = make_inputs(model, settings, given)
    names = [e["name"] for e in spec if "name" in e]
    torch_side, control = torch_outputs(model, spec, inputs, settings)  # before the reference moves model's stats
    reference = keras_reference(model, names, inputs, settings)
    report = Report(settings, "the given --inputs" if given is not None else "standard-normal random inputs")
    report.columns["torch module"] = column(torch_side, reference, settings, control)
    if keras_torch and model_path is not None:
        report.columns["Keras, torch backend"] = column(run_keras_on_torch(model_path, names, inputs, settings),
                                                        reference, settings)
    return report
