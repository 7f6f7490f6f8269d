"""The run configuration: every setting of a training run, saved beside it as YAML."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from lightning_mods.errors import UsageError
from lightning_mods.nets import NetConfig


@dataclass
class TrainConfig(NetConfig):
    """A NetConfig plus how to train it; field names are the CLI flags with ``_`` for ``-``."""

    optimizer: str = "sgd"
    lr: float | None = None  # None: the optimizer's Keras default (sgd 0.01)
    batch_size: int = 32
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
    progress: bool = True

    @property
    def name(self) -> str:
        return f"{self.arch}-{self.norm}-{self.placement}-{self.activation}-seed{self.seed}"

    @property
    def out_dir(self) -> Path:
        return Path(self.out) if self.out else Path("runs") / self.name

    def net_config(self) -> NetConfig:
        return NetConfig(**{f.name: getattr(self, f.name) for f in fields(NetConfig)})

    def to_dict(self) -> dict:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"unknown option(s) {', '.join(unknown)} in the config; known: {', '.join(sorted(known))}")
        return cls(**values)
