"""Runs an experiment's training runs (variants x seeds) with the project's own training code.

Every run goes through ``lightning_mods.training.prepare`` and ``make_trainer`` (the same
NormClassifier, data and Trainer as ``scripts/train.py``), without checkpoints, logger or
per-run progress bar, in this process or in worker processes (``pool``); one tqdm bar counts
the epochs of all runs of an experiment. Runs are cached by their full configuration, so
``all`` trains a run shared by two exercises once.

Paired seeds: seed s gives every variant of an experiment the same initial Linear weights
(``prepare`` re-seeds before the init) and the same order of training images (the loader
shuffles by seed and epoch), so variants are compared seed by seed.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping
from tqdm.auto import tqdm

from experiments.executors import PoolSettings, imap_unordered
from experiments.run_store import RunStore
from experiments.stopping import uninterrupted
from lightning_mods.config import TrainConfig
from lightning_mods.data import AUTO_STEPS_PER_EXECUTION, TRAIN_SIZE, FashionMNISTDataModule, load_real, load_synthetic
from lightning_mods.errors import UsageError
from lightning_mods.guards import FiniteLossCheck, NonFiniteLoss
from lightning_mods.history import EpochHistory, ValCurve
from lightning_mods.landscape import LandscapeProbe
from lightning_mods.module import NormClassifier
from lightning_mods.nets import net_revision
from lightning_mods.training import make_trainer, prepare

# The lesson's settings (Keras defaults): SGD lr 0.01, batch 32, He init, the homework's MLP.
LESSON = dict(optimizer="sgd", lr=0.01, batch_size=32, init="he_normal", hidden=[512, 256, 128, 64])
MAX_SEEDS = 100  # a bound, so that a typo cannot start a month of runs
MLP_EPOCHS = 6  # ex1, ex2 and the homework share these runs (same configs), so one default


@dataclass(frozen=True)
class Settings:
    """What the command line controls: seeds, an epoch override, the data, the ex4 bound."""

    seeds: int = 5
    epochs: int | None = None  # None: each experiment's default
    seed_offset: int = 0  # the seeds are seed_offset .. seed_offset + seeds - 1 (fresh seeds for a follow-up)
    data: str = "real"
    data_dir: str | None = None
    progress: bool = True
    images_per_epoch: int = 4_096  # ex4: training images per epoch, the same for every run
    pool: PoolSettings = field(default_factory=PoolSettings)

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.seeds > MAX_SEEDS:
            raise UsageError(f"--seeds {self.seeds} is out of range; use a whole number from 1 to {MAX_SEEDS}")
        if self.seed_offset < 0:
            raise UsageError(f"--seed-offset {self.seed_offset} must be 0 or more; use 0 or a positive number")
        if self.epochs is not None and self.epochs < 1:
            raise UsageError(f"--epochs {self.epochs} must be at least 1; use 1 or more (or leave it out)")
        if self.seeds < 2:
            warnings.warn(f"--seeds {self.seeds}: with one seed no confidence interval exists and every verdict is "
                          "inconclusive", stacklevel=2)
        if self.images_per_epoch < 128:
            raise UsageError(f"--images-per-epoch {self.images_per_epoch} must be at least 128 (one batch of 128); "
                             "use 128 or more")

    def seed_list(self) -> range:
        """The seeds every variant runs with, in order (seed s pairs the variants)."""
        return range(self.seed_offset, self.seed_offset + self.seeds)

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
    train_steps: int | None = None  # optimizer steps per epoch, a random subset of the epoch (None: the whole epoch)
    stop_below: float | None = None  # stop once val/loss is below this (the tests' bound on work)
    checks_per_epoch: int = 1  # validations per epoch (10: time to a target at 0.1-epoch resolution)
    probe_every: int | None = None  # the loss-landscape probe every this many optimizer steps (None: no probe)
    stop_at_nan: bool = False  # stop at the first non-finite training loss and return the run as diverged

    def __post_init__(self) -> None:
        if self.train_steps is not None and self.checks_per_epoch > 1:
            raise ValueError("a run bounded by train_steps validates once per epoch (checks_per_epoch 1)")
        if self.train_steps is not None:
            # Lightning bounds an epoch in training batches of steps_per_execution optimizer steps each:
            # group by a divisor of the bound so that it cuts after exactly train_steps steps.
            group = math.gcd(self.config.steps_per_execution or AUTO_STEPS_PER_EXECUTION, self.train_steps)
            self.config = replace(self.config, steps_per_execution=group)
        if self.checks_per_epoch > 1:
            # Validate after every training batch, and make a batch a tenth of the epoch's optimizer steps
            # (the same minibatches, order and weights for any grouping: see the DataModule).
            group = math.ceil(steps_per_epoch(self.config) / self.checks_per_epoch)
            self.config = replace(self.config, steps_per_execution=group)

    def lightning_batches(self) -> int | None:
        """The bound as Lightning counts it: training batches of steps_per_execution steps."""
        return None if self.train_steps is None else self.train_steps // self.config.steps_per_execution

    def key(self) -> str:
        revision = net_revision(self.config.arch)
        return json.dumps({**self.config.to_dict(), "progress": None, "train_steps": self.train_steps,
                           "stop_below": self.stop_below, "checks_per_epoch": self.checks_per_epoch,
                           "probe_every": self.probe_every, "stop_at_nan": self.stop_at_nan,
                           **({"net_revision": revision} if revision > 1 else {})}, sort_keys=True)

    def cost(self) -> float:
        """A rough relative training cost (the pool starts the longest runs first)."""
        steps = self.train_steps or steps_per_epoch(self.config)
        return self.config.epochs * steps * (32 + self.config.batch_size) * (4 if self.config.arch == "lstm" else 1)


def steps_per_epoch(config: TrainConfig) -> int:
    """Optimizer steps in one full training epoch of ``config`` in one process."""
    images = TRAIN_SIZE if config.data == "real" else FashionMNISTDataModule().synthetic_sizes[0]
    if config.norm == "bn" and images % config.batch_size == 1:
        images -= 1  # the DataModule drops a last minibatch of one sample for BatchNorm
    return math.ceil(images / config.batch_size)


@dataclass
class Fit:
    """A finished run: the trained model (CPU, eval mode), its epoch rows and step losses."""

    spec: RunSpec
    model: NormClassifier
    history: list[dict]
    step_losses: list[float] = field(default_factory=list)
    seconds: float = 0.0  # wall time of the whole fit, validation included
    checks: list[dict] = field(default_factory=list)  # every validation (ValCurve rows), also within epochs
    landscape: list[dict] = field(default_factory=list)  # LandscapeProbe rows (RunSpec.probe_every)
    diverged: str | None = None  # why a stop_at_nan run stopped early (None: it trained to the end)

    @property
    def variant(self) -> str:
        return self.spec.variant

    @property
    def seed(self) -> int:
        return self.spec.config.seed


class _Steps(L.Callback):
    """Keeps every training step's loss (ex4's stability measure)."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.extend(outputs["loss"].reshape(-1).tolist())  # one loss per optimizer step of the batch


def _quiet_lightning() -> None:
    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)


def train(spec: RunSpec) -> dict:
    """Train one run; plain, picklable results (the net's weights as a CPU state dict). The same
    function runs in this process and in pool workers, so where a run trains changes nothing."""
    _quiet_lightning()
    config = spec.config
    notes = io.StringIO()  # the guards' warnings go back to the parent, which shows each one once
    with contextlib.redirect_stderr(notes):
        model, datamodule = prepare(config)
    history = EpochHistory()
    curve = ValCurve(history, spec.train_steps or steps_per_epoch(config))
    steps = _Steps()
    callbacks = [history, curve, steps]
    probe = LandscapeProbe(spec.probe_every) if spec.probe_every else None
    if probe is not None:
        callbacks.append(probe)
    if spec.stop_below is not None:
        callbacks.append(EarlyStopping("val/loss", mode="min", stopping_threshold=spec.stop_below,
                                       patience=config.epochs * spec.checks_per_epoch, check_on_train_epoch_end=False))
    start = time.perf_counter()
    diverged = None
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
        if spec.stop_at_nan:  # after _Steps, which keeps the bad batch's losses
            callbacks.append(FiniteLossCheck(Path(tmp) / "none.ckpt", every_step=True))
        warnings.filterwarnings("ignore", message=".*(num_workers|logging interval|does not have many workers|LeafSpec).*")
        checks = dict(val_check_interval=1) if spec.checks_per_epoch > 1 else {}
        trainer = make_trainer(config, Path(tmp), history, callbacks=callbacks, logger=False,
                               enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                               limit_train_batches=spec.lightning_batches() or 1.0, **checks)
        try:
            trainer.fit(model, datamodule=datamodule)
        except NonFiniteLoss as err:  # only stop_at_nan runs have the check
            diverged = str(err).split(";")[0]  # where it happened; the rest is advice for scripts/train.py
    state = {name: tensor.detach().cpu().clone() for name, tensor in model.state_dict().items()}
    return {"history": history.rows, "checks": curve.rows, "step_losses": steps.losses,
            "seconds": time.perf_counter() - start, "state": state, "landscape": probe.rows if probe else [],
            "diverged": diverged, "warnings": notes.getvalue().splitlines()}


def _fit_of(spec: RunSpec, result: dict) -> Fit:
    config = spec.config
    model = NormClassifier(config.net_config(), optimizer=config.optimizer, lr=config.lr)
    model.load_state_dict(result["state"])
    return Fit(spec, model.eval(), result["history"], result["step_losses"], result["seconds"], result["checks"],
               result["landscape"], result["diverged"])


class Runner:
    """Trains RunSpecs (cached by configuration) under one progress bar per experiment; with a
    ``store``, every finished run is saved at once and a run found there is not trained again."""

    def __init__(self, settings: Settings, store: RunStore | None = None) -> None:
        self.settings = settings
        self.store = store
        self.cache: dict[str, Fit] = {}
        self.warned: set[str] = set()  # the runs' warnings already shown (each is shown once)
        self.trained = 0  # runs trained by this Runner (not found in the store)
        _quiet_lightning()

    def run_all(self, specs: list[RunSpec], title: str) -> list[Fit]:
        """Every spec's Fit, in the specs' order; the runs not in the cache train through the pool,
        the longest first."""
        todo: dict[str, RunSpec] = {}
        for spec in specs:
            key = spec.key()
            if key in self.cache or key in todo:
                continue
            saved = self.store.load(key) if self.store is not None else None
            if saved is not None:
                self.cache[key] = _fit_of(spec, saved)
            else:
                todo[key] = spec
        order = sorted(todo.values(), key=RunSpec.cost, reverse=True)
        total = sum(spec.config.epochs for spec in specs)
        with tqdm(total=total, desc=title, unit="epoch", disable=not self.settings.progress, dynamic_ncols=True) as bar:
            bar.update(total - sum(spec.config.epochs for spec in todo.values()))  # cached: already trained
            for index, result in imap_unordered(train, order, self.settings.pool):
                spec = order[index]
                if self.store is not None:
                    with uninterrupted():  # kept at once, whole: a stopped experiment goes on from here
                        self.store.save(spec.key(), result)
                self.trained += 1
                self.cache[spec.key()] = _fit_of(spec, result)
                for line in result["warnings"]:
                    if line not in self.warned:
                        self.warned.add(line)
                        print(line, file=sys.stderr, flush=True)
                rows = result["history"]
                bar.set_postfix_str(f"{spec.variant} seed {spec.config.seed} val_acc {rows[-1]['val/acc']:.3f}"
                                    if rows else spec.variant)
                bar.update(spec.config.epochs)
        return [replace(self.cache[spec.key()], spec=spec) for spec in specs]


def by_variant(fits: list[Fit]) -> dict[str, list[Fit]]:
    """Fits grouped by variant label, in first-seen order."""
    groups: dict[str, list[Fit]] = {}
    for fit in fits:
        groups.setdefault(fit.variant, []).append(fit)
    return groups


_SPLITS: dict[tuple, dict] = {}


def split(settings: Settings, name: str = "val"):
    """The ``(images uint8, labels)`` of one split of the settings' data, loaded once."""
    key = (settings.data, settings.data_dir)
    if key not in _SPLITS:
        _SPLITS[key] = load_real(settings.data_dir) if settings.data == "real" else load_synthetic()
    return _SPLITS[key][name]
