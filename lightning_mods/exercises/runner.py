"""Runs an experiment's training runs (variants x seeds) with the project's own training code.

Every run goes through ``lightning_mods.training.prepare`` and ``make_trainer`` (the same
NormClassifier, data and Trainer as ``scripts/train.py``), without checkpoints, logger or
per-run progress bar; one tqdm bar counts the epochs of all runs of an experiment. Runs are
cached by their full configuration, so ``all`` trains a run shared by two exercises once.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping
from tqdm.auto import tqdm

from lightning_mods.config import TrainConfig
from lightning_mods.errors import UsageError
from lightning_mods.history import EpochHistory
from lightning_mods.module import NormClassifier
from lightning_mods.training import prepare, make_trainer

# The lesson's settings (Keras defaults): SGD lr 0.01, batch 32, He init, the homework's MLP.
LESSON = dict(optimizer="sgd", lr=0.01, batch_size=32, init="he_normal", hidden=[512, 256, 128, 64])
MLP_EPOCHS = 6  # ex1, ex2 and the homework share these runs (same configs), so one default


@dataclass(frozen=True)
class Settings:
    """What the command line controls: seeds, an epoch override, the data, the ex4 bound."""

    seeds: int = 3
    epochs: int | None = None  # None: each experiment's default
    data: str = "real"
    data_dir: str | None = None
    progress: bool = True
    images_per_epoch: int = 4_096  # ex4: training images per epoch, the same for every run

    def __post_init__(self) -> None:
        if self.seeds < 1:
            raise UsageError(f"--seeds {self.seeds} must be at least 1")
        if self.epochs is not None and self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs} must be at least 1")
        if self.images_per_epoch < 128:
            raise UsageError(f"--images-per-epoch {self.images_per_epoch} must be at least 128 (one batch of 128)")

    def epochs_or(self, default: int) -> int:
        return self.epochs or default

    def config(self, seed: int, epochs: int, **overrides) -> TrainConfig:
        """A TrainConfig with the lesson's settings, this data and seed, then ``overrides``."""
        values = dict(LESSON, data=self.data, data_dir=self.data_dir, seed=seed, epochs=epochs,
                      progress=False, devices=1)
        values.update(overrides)
        return TrainConfig(**values)


@dataclass
class RunSpec:
    """One training run of one variant: its label, its config, an optional bound on batches."""

    variant: str
    config: TrainConfig
    train_batches: int | None = None  # Trainer limit_train_batches (None: the whole epoch)
    stop_below: float | None = None  # stop once val/loss is below this (the tests' bound on work)

    def key(self) -> str:
        return json.dumps({**self.config.to_dict(), "progress": None, "train_batches": self.train_batches,
                           "stop_below": self.stop_below}, sort_keys=True)


@dataclass
class Fit:
    """A finished run: the trained model (CPU, eval mode), its epoch rows and step losses."""

    spec: RunSpec
    model: NormClassifier
    history: list[dict]
    step_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole fit, validation included

    @property
    def variant(self) -> str:
        return self.spec.variant

    @property
    def seed(self) -> int:
        return self.spec.config.seed


class _Steps(L.Callback):
    """Keeps every training step's loss (ex4's stability measure) and advances the shared bar."""

    def __init__(self, bar, label: str) -> None:
        self.losses: list[float] = []
        self.bar, self.label = bar, label

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.extend(outputs["loss"].reshape(-1).tolist())  # one loss per optimizer step of the batch

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        acc = trainer.callback_metrics.get("val/acc")
        self.bar.set_postfix_str(f"{self.label} val_acc {float(acc):.3f}" if acc is not None else self.label)
        self.bar.update(1)


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


class Runner:
    """Trains RunSpecs (cached by configuration) under one progress bar per experiment."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache: dict[str, Fit] = {}
        _quiet_lightning()

    def run_all(self, specs: list[RunSpec], title: str) -> list[Fit]:
        total = sum(spec.config.epochs for spec in specs)
        with tqdm(total=total, desc=title, unit="epoch", disable=not self.settings.progress, dynamic_ncols=True) as bar:
            return [self._run(spec, bar) for spec in specs]

    def _run(self, spec: RunSpec, bar) -> Fit:
        key = spec.key()
        if key in self.cache:
            bar.update(spec.config.epochs)
            return replace(self.cache[key], spec=spec)
        fit = self.fit(spec, bar)
        self.cache[key] = fit
        return fit

    @staticmethod
    def fit(spec: RunSpec, bar) -> Fit:
        config = spec.config
        model, datamodule = prepare(config)
        history = EpochHistory()
        steps = _Steps(bar, f"{spec.variant} seed {config.seed}")
        callbacks = [history, steps]
        if spec.stop_below is not None:
            callbacks.append(EarlyStopping("val/loss", mode="min", stopping_threshold=spec.stop_below,
                                           patience=config.epochs, check_on_train_epoch_end=False))
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*(num_workers|logging interval|does not have many workers|LeafSpec).*")
            trainer = make_trainer(config, Path(tmp), history, callbacks=callbacks, logger=False,
                                   enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                                   limit_train_batches=spec.train_batches or 1.0)
            trainer.fit(model, datamodule=datamodule)
        bar.update(config.epochs - len(history.rows))  # epochs skipped by an early stop
        model = model.cpu().eval()
        return Fit(spec, model, history.rows, steps.losses, time.perf_counter() - start)


def by_variant(fits: list[Fit]) -> dict[str, list[Fit]]:
    """Fits grouped by variant label, in first-seen order."""
    groups: dict[str, list[Fit]] = {}
    for fit in fits:
        groups.setdefault(fit.variant, []).append(fit)
    return groups


_SPLITS: dict[tuple, dict] = {}


def split(settings: Settings, name: str = "val"):
    """The ``(images uint8, labels)`` of one split of the settings' data, loaded once."""
    from lightning_mods.data import load_real, load_synthetic

    key = (settings.data, settings.data_dir)
    if key not in _SPLITS:
        _SPLITS[key] = load_real(settings.data_dir) if settings.data == "real" else load_synthetic()
    return _SPLITS[key][name]
