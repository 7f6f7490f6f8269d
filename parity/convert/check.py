"""The parity check of a converted model: the torch module against the Keras model it came from.

Checks, each as ``parity.compare`` measures them (``rel = max|a - b| / max|b|`` per array, the
Keras-on-TensorFlow array as the reference, the worst array reported):

- training-mode and inference-mode outputs of one batch, fresh float32 weights: <= 1e-5;
- then ``steps`` plain-SGD steps in float64 from the same weights on the same batches: every
  weight, every moving statistic and the inference outputs after them: <= 1e-4.

The SGD loss is the mean squared error against fixed random targets of the output's shape: a
loss every model has (the inputs given by the user carry no labels), whose gradient reaches
every trained weight. Dropout draws differ between frameworks, so every Dropout's rate (and an
RNN's dropout and recurrent_dropout, attention dropout) is 0
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

Every row carries the control that justifies its tolerance, so that a FAIL means a conversion
error, never rounding: a float32 computation is judged against Keras-on-TensorFlow itself in
float32 vs float64 (the forward rows: the same batch, the same weights; the Keras-on-torch
column's step rows, whose matmuls run in float32: the same steps in float32), array by array.
The tolerance of a row is ``max(base tolerance, ROUNDING_FACTOR x control)``: two float32
computations each off the exact result by ``c`` differ by up to ``2c``; a conversion error
(a layout, an epsilon, a momentum) moves results by orders of magnitude more.
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
from lightning_mods.spec_net import WEIGHTED, SpecNet
from parity.compare import (
    BATCH_SIZE,
    FORWARD_RTOL,
    SGD_RTOL,
    LEARNING_RATE,
    STEPS,
    Diff,
    control_diff,
    diff,
    torch_logits,
    torch_sgd_steps,
)
from parity.convert.keras_state import keras_state, no_dropout
from parity.convert.layer_extra import integer_inputs
from parity.convert.keras_to_torch import copy_to_torch, pairs
from parity.convert.torch_backend import run_keras_on_torch
from parity.convert.arrays import torch_arrays
from parity.transfer import MOVING

FLOOR = 1e-6  # added to an array's scale in the float64 columns (see the module docstring)
ROUNDING_FACTOR = 10  # a float32 row's tolerance is at least this many times its float32-vs-float64 control
MAX_FORWARD_TOLERANCE = 1e-3  # an outputs row's never more: a forward control beyond it means a broken reference
# (a step row's control may legitimately be large: an array whose exact gradient is 0 moves by rounding alone)


@dataclass
class Settings:
    steps: int = STEPS
    batch_size: int = BATCH_SIZE
    learning_rate: float = LEARNING_RATE
    seed: int = 0
    floor: float = FLOOR


@dataclass
class Reference:
    """What Keras on TensorFlow computes: the arrays every column is compared with, and the
    float32 rounding controls (Keras f32 vs Keras f64)."""

    eval: np.ndarray
    train: np.ndarray
    arrays: dict[str, np.ndarray]  # "<layer>/<array>" after the SGD steps
    eval_after: np.ndarray
    forward_control: dict[str, Diff]  # "train"/"eval": the float32 outputs vs the float64 ones
    steps_control: dict[str, Diff]  # "<layer>/<array>" (and "eval_after"): the steps in float32 vs float64


@dataclass
class Column:
    """One column's rows, each ``(difference, tolerance)``; the tolerance is the base one or, for
    a float32 computation, ROUNDING_FACTOR times its control (see the module docstring)."""

    train: Diff
    eval: Diff
    weights: Diff | None
    moving: Diff | None
    eval_after: Diff
    tolerances: dict[str, float]
    control: Diff | None = None  # torch vs itself started 1 ulp apart (the chaos control; not a check)

    def checks(self) -> list[tuple[str, Diff | None, float]]:
        return [(key, getattr(self, key), self.tolerances[key]) for key in ("train", "eval", "weights", "moving",
                                                                           "eval_after")]

    @property
    def passed(self) -> bool:
        return all(d is None or d.within(tol) for _, d, tol in self.checks())

    @property
    def chaotic(self) -> bool:
        return self.control is not None and not self.control.within(SGD_RTOL)


@dataclass
class Inputs:
    x: np.ndarray  # float32 (batch_size, *input_shape): the forward batch
    batches: list[tuple[np.ndarray, np.ndarray]]  # float64 (inputs, targets), one per SGD step


@dataclass
class Report:
    settings: Settings
    inputs_from: str
    reference: Reference | None = None
    columns: dict[str, Column] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(column.passed for column in self.columns.values())


def make_inputs(model: keras.Model, settings: Settings, given: np.ndarray | None = None) -> Inputs:
    """The forward batch and the SGD batches: rows of ``given`` (drawn with a seeded generator)
    or standard-normal inputs of the model's input shape (integers below the smallest Embedding's
    ``input_dim`` for integer inputs, held as floats); targets standard normal."""
    rng = np.random.default_rng(settings.seed)
    shape = tuple(model.inputs[0].shape[1:])
    n = settings.batch_size * (settings.steps + 1)
    vocabulary = integer_inputs(model)  # an Embedding's inputs: integers it can look up
    if given is None and vocabulary is not None:
        rows = rng.integers(0, vocabulary, (n, *shape)).astype(np.float64)
    elif given is None:
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


def allowed(base: float, control: Diff | None, cap: float = float("inf")) -> float:
    return base if control is None else min(max(base, ROUNDING_FACTOR * control.rel), max(base, cap))


def judged(diffs: dict[str, Diff], tolerances: dict[str, float]) -> tuple[Diff | None, float]:
    """The array that comes nearest its own tolerance (or passes it furthest), and that tolerance."""
    if not diffs:
        return None, SGD_RTOL
    key = max(diffs, key=lambda k: diffs[k].rel / tolerances[k])
    return Diff(max(d.abs for d in diffs.values()), diffs[key].rel, diffs[key].where), tolerances[key]


def column(outputs: dict, reference: Reference, settings: Settings, float32_steps: bool = False,
           control: Diff | None = None) -> Column:
    """One column: ``outputs`` (eval, train, arrays, eval_after) against the reference; the step
    rows of a column that computes them in float32 (``float32_steps``) are judged on the control."""
    steps = reference.steps_control if float32_steps else {}
    tol = {key: allowed(SGD_RTOL, steps.get(key)) for key in reference.arrays}
    diffs = {key: diff(outputs["arrays"][key], ref, key, array_floor(key, reference.arrays, settings.floor))
             for key, ref in reference.arrays.items()}
    weights, weights_tol = judged({k: d for k, d in diffs.items() if not k.endswith(MOVING)}, tol)
    moving, moving_tol = judged({k: d for k, d in diffs.items() if k.endswith(MOVING)}, tol)
    tolerances = {"train": allowed(FORWARD_RTOL, reference.forward_control["train"], MAX_FORWARD_TOLERANCE),
                  "eval": allowed(FORWARD_RTOL, reference.forward_control["eval"], MAX_FORWARD_TOLERANCE),
                  "weights": weights_tol, "moving": moving_tol,
                  "eval_after": allowed(SGD_RTOL, steps.get("eval_after"))}
    return Column(diff(outputs["train"], reference.train, "outputs"), diff(outputs["eval"], reference.eval, "outputs"),
                  weights, moving, diff(outputs["eval_after"], reference.eval_after, "outputs", settings.floor),
                  tolerances, control)


def keras_reference(model: keras.Model, names: list[str], inputs: Inputs, settings: Settings) -> Reference:
    model64 = no_dropout(cast_model(model, "float64"))  # from the fresh weights, before any forward
    forward64 = no_dropout(cast_model(model, "float64"))
    model32 = no_dropout(cast_model(model, "float32"))  # the float32 control of the steps
    no_dropout(model)
    evaluated = keras_outputs(model, inputs.x, training=False)
    trained = keras_outputs(model, inputs.x, training=True)  # moves BN's statistics: the steps start from model64
    x64 = inputs.x.astype(np.float64)
    forward_control = {"eval": diff(evaluated, keras_outputs(forward64, x64, training=False), "outputs"),
                       "train": diff(trained, keras_outputs(forward64, x64, training=True), "outputs")}
    keras_sgd_steps(model64, inputs.batches, settings.learning_rate, keras.losses.MeanSquaredError(dtype="float64"))
    batches32 = [(x.astype(np.float32), y.astype(np.float32)) for x, y in inputs.batches]
    keras_sgd_steps(model32, batches32, settings.learning_rate, keras.losses.MeanSquaredError(dtype="float32"))
    arrays, arrays32 = keras_state(model64, names), keras_state(model32, names)
    after = keras_outputs(model64, x64, training=False)
    steps_control = {key: diff(arrays32[key], ref, key, array_floor(key, arrays, settings.floor))
                     for key, ref in arrays.items()}
    steps_control["eval_after"] = diff(keras_outputs(model32, inputs.x, training=False), after, "outputs",
                                       settings.floor)
    return Reference(evaluated, trained, arrays, after, forward_control, steps_control)


def torch_outputs(model: keras.Model, spec: list[dict], inputs: Inputs, settings: Settings) -> tuple[dict, Diff]:
    """The torch module's outputs and arrays (Keras layout), and the torch-vs-itself control."""
    net = no_dropout(copy_to_torch(model, SpecNet(spec)))
    net64 = copy.deepcopy(net).double()  # float32 -> float64 is exact: the same start as Keras's cast
    start = copy.deepcopy(net64)
    out = {"eval": torch_logits(net, inputs.x, training=False), "train": torch_logits(net, inputs.x, training=True)}
    torch_batches = [(x, y) for x, y in inputs.batches]
    torch_sgd_steps(net64, torch_batches, settings.learning_rate, mse)
    out["arrays"] = {f"{name}/{key}": value for name, module, layer in pairs(net64, model)
                     for key, value in torch_arrays(module, layer).items()}
    out["eval_after"] = torch_logits(net64, inputs.x.astype(np.float64), training=False)
    return out, control_diff(start, torch_batches, settings.learning_rate, mse, settings.floor)


def check(model: keras.Model, spec: list[dict], settings: Settings | None = None, given: np.ndarray | None = None,
          model_path=None, keras_torch: bool = True) -> Report:
    """Every column for ``model`` (loaded from ``model_path``, which the Keras-on-torch column
    loads again in its own process; ``keras_torch=False`` leaves that column out)."""
    settings = settings or Settings()
    inputs = make_inputs(model, settings, given)
    names = [e["name"] for e in spec if e["layer"] in WEIGHTED]  # the layers with weights to compare
    torch_side, control = torch_outputs(model, spec, inputs, settings)  # before the reference moves model's stats
    reference = keras_reference(model, names, inputs, settings)
    vocabulary = integer_inputs(model)
    report = Report(settings, "the given --inputs" if given is not None else "standard-normal random inputs"
                    if vocabulary is None else f"random integers in [0, {vocabulary})")
    report.columns["torch module"] = column(torch_side, reference, settings, control=control)
    if keras_torch and model_path is not None:  # its float64 matmuls run in float32 (see the module docstring)
        report.columns["Keras, torch backend"] = column(run_keras_on_torch(model_path, names, inputs, settings),
                                                        reference, settings, float32_steps=True)
    report.reference = reference
    return report
