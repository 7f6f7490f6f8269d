"""The JSON config of a Keras model file, read as plain data: no Keras, no torch is imported here,
so that ``scripts/convert.py`` refuses a file that is not a convertible model in milliseconds.
(Keras-facing, but free of Keras: the converter's spec reader, ``parity.convert.spec``, builds on it.)
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from lightning_mods.errors import UsageError

SUPPORTED = ("InputLayer", "Flatten", "Reshape", "Dense", "Activation", "ReLU", "Dropout", "BatchNormalization",
             "LayerNormalization", "GroupNormalization", "LSTM", "Conv1D", "Conv2D", "DepthwiseConv1D",
             "DepthwiseConv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
             "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
             "Add", "Subtract", "Multiply", "Average", "Concatenate", "Rescaling", "Normalization", "LeakyReLU", "ELU",
             "Embedding", "GRU", "MultiHeadAttention", "Sequential", "Functional")
ACTIVATIONS = ("relu", "gelu", "silu", "swish", "tanh", "sigmoid", "softmax", "linear", "elu", "selu", "leaky_relu",
               "relu6", "hard_sigmoid", "softplus")
SUPPORTED_LINE = (f"supported: {', '.join(SUPPORTED)} (activations {', '.join(ACTIVATIONS)}; L1/L2/L1L2 weight "
                  "regularizers; norms on the last axis; channels-last tensors) in a Sequential or Functional model "
                  "with one input and one output")
NESTED = ("Sequential", "Functional")  # models inside a model: their layers are converted in its graph
# What to do instead, for layers that cannot be converted.
ADVICE = {"Lambda": ": rebuild it from Keras's built-in layers (a Functional model), or move it into your data pipeline",
          "TFSMLayer": ": a SavedModel runs for inference only; build the model in Keras and save it as .keras"}


def file_config(path: Path) -> dict:
    """The model's JSON config from a ``.keras`` zip or a legacy ``.h5`` file, read as data and
    checked to have the shape Keras writes (a dict whose ``config.layers`` is a list of dicts)."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            raise UsageError(f"{path} is a TensorFlow SavedModel folder, which Keras 3 loads for inference only; "
                             "build the model in Keras and save it with model.save('MODEL.keras')")
        raise UsageError(f"{path} is a folder; give the path of a Keras model file (.keras or .h5)")
    if not path.is_file():
        raise UsageError(f"{path} does not exist; give the path of a Keras model file (.keras or .h5)")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                return _checked(json.loads(archive.read("config.json")), path)
        except UsageError:
            raise
        except (KeyError, ValueError, zipfile.BadZipFile, OSError):
            raise UsageError(f"{path} is a zip file without a Keras config.json; give a model saved by "
                             "model.save('MODEL.keras')") from None
    try:
        import h5py

        with h5py.File(path, "r") as h5:
            text = h5.attrs.get("model_config")
    except (ImportError, OSError):
        text = None
    if text is None:
        raise UsageError(f"{path} is not a Keras model file (neither a .keras zip nor an .h5 holding a model); "
                         "save the model with model.save('MODEL.keras')")
    try:
        return _checked(json.loads(text if isinstance(text, str) else text.decode()), path)
    except UsageError:
        raise
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path} holds no readable Keras model config; save the model with "
                         "model.save('MODEL.keras')") from None


def _checked(config, path: Path) -> dict:
    """``config`` if it is shaped as Keras writes one; a ValueError otherwise."""
    inner = config.get("config") if isinstance(config, dict) else None
    layers = inner.get("layers", []) if isinstance(inner, dict) else None
    if not isinstance(layers, list) or not all(isinstance(layer, dict) for layer in layers):
        raise UsageError(f"{path} holds a config.json that is not a Keras model config (a dict whose config.layers "
                         "is a list of layers); save the model with model.save('MODEL.keras')")
    return config


def prescan(config: dict) -> list[str]:
    """Refusals readable from the file alone, for what Keras should not even load: a model class
    other than Sequential/Functional, a custom (registered) layer, a Lambda. Keras's own other
    layers are loaded, so that every unsupported layer AND option is reported at once."""
    kind = config.get("class_name")
    if kind not in ("Sequential", "Functional", "Model"):
        return [f"the model is a {kind!r} (a subclassed model), not a Sequential or Functional model: rebuild it as "
                "a Functional model of Keras's built-in layers"]
    problems, custom = _scan(config["config"].get("layers", []))
    return problems if custom else []


def _scan(layers: list) -> tuple[list[str], bool]:
    """The refusals among ``layers`` (and inside nested Sequential/Functional models), and whether
    any of them is code Keras should not load (a custom layer, a Lambda)."""
    problems, custom = [], False
    for layer in layers:
        inner = layer.get("config") if isinstance(layer.get("config"), dict) else {}
        name, cls = inner.get("name", layer.get("name", "?")), layer.get("class_name")
        builtin = str(layer.get("module", "keras.layers")).startswith("keras") and layer.get("registered_name") in (None, cls)
        custom |= not builtin or cls in ("Lambda", "Model")
        if builtin and cls in NESTED and isinstance(inner.get("layers"), list):
            more, more_custom = _scan([item for item in inner["layers"] if isinstance(item, dict)])
            problems, custom = problems + more, custom or more_custom
        elif cls not in SUPPORTED or not builtin:
            advice = ADVICE.get(cls, "") if builtin else ": rebuild it from Keras's built-in layers"
            problems.append(f"layer {name!r} ({layer.get('registered_name') or cls}) is not supported{advice}")
    return problems, custom




def refusal(path, problems: list[str]) -> UsageError:
    return UsageError(f"{path} cannot be converted: {'; '.join(problems)}. {SUPPORTED_LINE}")


def check_file(path: str | Path) -> dict:
    """The file's config, after refusing what Keras should not even load (see ``prescan``)."""
    config = file_config(Path(path))
    problems = prescan(config)
    if problems:
        raise refusal(path, problems)
    return config
