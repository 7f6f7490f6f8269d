"""The run configuration: every setting of a training run, saved beside it as YAML."""

from __future__ import annotations

import difflib
import re
import types
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.strategies import StrategyRegistry

from lightning_mods.errors import UsageError
from lightning_mods.files import write_text_atomically
from lightning_mods.nets import NetConfig
from lightning_mods.precision import check_precision

MAX_SEED = 2**32 - 1  # numpy's seeds are unsigned 32-bit (Lightning seeds numpy too)


@dataclass
class TrainConfig(NetConfig):
    """A NetConfig plus how to train it; field names are the CLI flags with ``_`` for ``-``."""

    optimizer: str = "sgd"
    lr: float | None = None  # None: the optimizer's Keras default (sgd 0.01)
    batch_size: int = 32
    steps_per_execution: int | None = None  # optimizer steps per Lightning step; None: 16, or 1 under DDP
    epochs: int = 10
    seed: int = 42
    data: str = "real"
    data_dir: str | None = None
    out: str | None = None  # None: runs/<name>
    accelerator: str = "auto"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"  # Lightning's names: auto, ddp, ddp_spawn, ...
    sync_batchnorm: bool = False  # BatchNorm statistics over the global batch (GPUs only)
    precision: str = "32-true"  # Lightning's: 32-true, bf16-mixed, 16-mixed (lightning_mods/precision.py)
    progress: bool = True

    @property
    def name(self) -> str:
        if self.net_dir is not None:
            return f"net-{Path(self.net_dir).name}-seed{self.seed}"
        return f"{self.arch}-{self.norm}-{self.placement}-{self.activation}-seed{self.seed}"

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    def check(self) -> None:
        """Refuse, before any work, the values nothing later checks (or checks only by a traceback);
        the net's, the optimizer's and the data's own values are checked where they are used."""
        if not 0 <= self.seed <= MAX_SEED:
            raise UsageError(f"--seed {self.seed} is outside numpy's seed range [0, {MAX_SEED}]; pick a seed in it")
        self.check_net_dir_flags()
        if self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs} must be at least 1")
        if self.lstm_units < 1:
            raise UsageError(f"--lstm-units {self.lstm_units} must be at least 1")
        if self.num_nodes < 1:
            raise UsageError(f"--num-nodes {self.num_nodes} must be at least 1 (this machine alone: 1)")
        accelerators = ["auto", "gpu", *sorted(AcceleratorRegistry.available_accelerators())]
        if self.accelerator not in accelerators:
            raise UsageError(f"unknown --accelerator {self.accelerator!r}; choose one of {', '.join(accelerators)}")
        strategies = ["auto", *StrategyRegistry.available_strategies()]
        if self.strategy not in strategies:
            close = difflib.get_close_matches(self.strategy, strategies, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"unknown --strategy {self.strategy!r}{hint}; Lightning's include auto, ddp, ddp_spawn, "
                             "fsdp, deepspeed")
        if not re.fullmatch(r"auto|-1|[1-9]\d*|(\d+,)+\d*", str(self.devices)):
            raise UsageError(f"--devices {self.devices!r} must be auto, a number of devices (1 or more), -1 (all GPUs) "
                             "or a list of GPU indices such as 0,1")
        check_precision(self.precision, self.accelerator)

    def check_net_dir_flags(self) -> None:
        """With ``--net DIR`` the net is the converted one: a flag that shapes the project's own nets
        would be ignored (and saved in config.yaml as if it counted), so it is refused."""
        if self.net_dir is None:
            return
        default = NetConfig()
        given = [f"--{f.name.replace('_', '-')}" for f in fields(NetConfig)
                 if f.name != "net_dir" and getattr(self, f.name) != getattr(default, f.name)]
        if given:
            raise UsageError(f"--net {self.net_dir} trains the converted net as it is, so {', '.join(given)} would be "
                             "ignored; drop them (change the Keras model and convert it again instead)")

    def net_config(self) -> NetConfig:
        return NetConfig(**{f.name: getattr(self, f.name) for f in fields(NetConfig)})

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        write_text_atomically(path, yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)} in the config; known: {', '.join(sorted(known))}")
        return cls(**values)


def _fits(value, hint) -> bool:
    """Whether a YAML value has the type a TrainConfig field declares (ints pass as floats)."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return True
        if typing.get_origin(option) is list:
            return isinstance(value, list) and all(_fits(v, typing.get_args(option)[0]) for v in value)
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True
        if option in (int, str) and isinstance(value, option) and not isinstance(value, bool):
            return True
        if option is bool and isinstance(value, bool):
            return True
    return False


def load_config_values(path: str | Path) -> dict:
    """The settings in a YAML run config (``safe_load`` only: no code runs), checked against
    TrainConfig's fields and types; any problem is a UsageError naming the file and the fix."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"config file {path} cannot be read ({err.strerror}); check the path") from err
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not a text (UTF-8 YAML) file; use the config.yaml a run wrote") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" at line {where.line + 1}" if where is not None else ""
        raise UsageError(f"config file {path} is not valid YAML{line} ({getattr(err, 'problem', None) or err}); "
                         "fix it, or use the config.yaml a run wrote") from None
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise UsageError(f"config file {path} must be a mapping of option: value, got {type(values).__name__}; "
                         "use the config.yaml a run wrote as a template")
    hints = typing.get_type_hints(TrainConfig)
    for key, value in values.items():
        if key not in hints:
            close = difflib.get_close_matches(str(key), hints, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"config file {path} names an unknown option {key!r}{hint}; remove or rename it "
                             f"(known: {', '.join(hints)})")
        if hints[key] is str and isinstance(value, int) and not isinstance(value, bool):
            values[key] = value = str(value)  # `devices: 2` means "2"
        if not _fits(value, hints[key]):
            raise UsageError(f"config file {path}: {key}: {value!r} is not a valid value (expected "
                             f"{getattr(hints[key], '__name__', hints[key])}); fix it")
    return values
