"""One training run: config -> checked inputs -> Trainer.fit -> test -> summary."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import signal
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
import torch
from lightning.fabric.accelerators import CPUAccelerator, CUDAAccelerator
from lightning.pytorch.accelerators import AcceleratorRegistry
from lightning.pytorch.callbacks import TQDMProgressBar
from lightning.pytorch.profilers import PassThroughProfiler
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import MisconfigurationException, SIGTERMException
from torch.multiprocessing import ProcessRaisedException

from lightning_mods.checkpoint_io import AtomicCheckpointIO
from lightning_mods.config import TrainConfig
from lightning_mods.data import FashionMNISTDataModule
from lightning_mods.errors import UsageError
from lightning_mods.files import remove_leftovers, write_text_atomically
from lightning_mods.guards import FiniteLossCheck, warn_doubtful
from lightning_mods.history import EpochHistory, epochs_to
from lightning_mods.init import init_weights
from lightning_mods.metrics_log import csv_logger, keep_metrics_csv
from lightning_mods.module import NormClassifier
from lightning_mods.resume import (InterruptCheckpoint, Interrupted, StopNow, check_net_matches, clear_run,
                                   guard_out_dir, last_checkpoint, resume_checkpoint, resume_command,
                                   sigint_as_sigterm, write_failed)
from lightning_mods.run_folder import RunFolderCheckpoint
from lightning_mods.run_lock import run_lock

VAL_LOSS_TARGET = 0.4  # the homework's "epochs until val_loss < 0.4"


@dataclass
class RunResult:
    config: TrainConfig
    history: list[dict]
    test: dict = field(default_factory=dict)
    best_epoch: int | None = None
    out_dir: Path | None = None
    global_rank: int = 0  # under DDP every process returns a result; rank 0 reports it

    def summary(self) -> dict:
        last = self.history[-1] if self.history else {}
        seconds = [row["seconds"] for row in self.history]
        return {
            "name": self.config.name,
            "out": str(self.out_dir),
            "epochs": len(self.history),
            "val_acc": last.get("val/acc", math.nan),
            "val_loss": last.get("val/loss", math.nan),
            "best_epoch": self.best_epoch,
            "test_acc": self.test.get("test/acc", math.nan),
            "test_loss": self.test.get("test/loss", math.nan),
            "epochs_to_val_loss_0.4": epochs_to(self.history, "val/loss", VAL_LOSS_TARGET),
            "seconds_per_epoch": sorted(seconds)[len(seconds) // 2] if seconds else math.nan,
        }


def check_out_dir(out_dir: Path) -> None:
    """Create ``out_dir`` and prove it is writable, before any work is done."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".write-test-{os.getpid()}"  # per process: DDP ranks probe at once
        probe.write_text("")
        probe.unlink()
    except OSError as err:
        raise UsageError(f"--out {out_dir} is not writable ({err.strerror}); pick a folder you can write to") from err


def prepare(config: TrainConfig) -> tuple[NormClassifier, FashionMNISTDataModule]:
    """Build and check everything a run needs; any bad input raises UsageError here."""
    config.check()
    L.seed_everything(config.seed, workers=True, verbose=False)
    try:
        model = NormClassifier(config.net_config(), optimizer=config.optimizer, lr=config.lr)
    except (RuntimeError, MemoryError) as err:
        if "allocate" not in str(err):
            raise
        size = re.search(r"allocate (\d+) bytes", str(err))
        tried = f" (its weights need {int(size[1]) / 2**30:,.1f} GiB at once)" if size else ""
        raise UsageError(f"the net does not fit in memory{tried}; use smaller --hidden / --lstm-units") from None
    # Building the net drew torch's default init first, and how many numbers that draws depends on
    # the norm (a Linear before a norm has no bias): re-seed, so the same seed gives every norm and
    # placement the same initial Linear weights.
    torch.manual_seed(config.seed)
    if config.net_dir is None:  # a converted net (--net) keeps the weights it was converted with
        init_weights(model.net, config.init)
    check_sync_batchnorm(config)
    datamodule = FashionMNISTDataModule(config.data, config.data_dir, config.batch_size, config.norm, seed=config.seed,
                                        steps_per_execution=config.steps_per_execution)
    datamodule.load()
    warn_doubtful(config, datamodule)
    return model, datamodule


def check_sync_batchnorm(config: TrainConfig) -> None:
    """Refuse --sync-batchnorm where it would crash at the first step or silently change the net."""
    if not config.sync_batchnorm:
        return
    if config.norm == "bn" and config.bn_variance == "biased":
        raise UsageError("--sync-batchnorm turns every BatchNorm into torch's SyncBatchNorm, which updates the running "
                         "variance with the unbiased batch variance; drop --bn-variance biased or --sync-batchnorm")
    on_cpu = config.accelerator == "cpu" or (config.accelerator == "auto" and not CUDAAccelerator.is_available())
    if not on_cpu:
        return
    try:  # the Trainer reports malformed --devices itself; "auto" is one process on a CPU
        processes = config.num_nodes * (1 if config.devices == "auto" else CPUAccelerator.parse_devices(config.devices))
    except TypeError:
        return
    # torch's SyncBatchNorm raises for CPU tensors once a process group exists: any DDP run, even of 1 process.
    if processes > 1 or "ddp" in config.strategy:
        raise UsageError(
            f"--sync-batchnorm needs CUDA GPUs (torch's SyncBatchNorm rejects CPU tensors) but this run has "
            f"{processes} CPU process(es) under DDP; drop --sync-batchnorm, or train on GPUs with --accelerator gpu"
        )


class NoProfiler(PassThroughProfiler):
    """Lightning's default no-op profiler, minus its cost: the Trainer wraps every hook call in
    ``profiler.profile(name)`` (~90 a training step), and PassThroughProfiler's is a generator
    context manager of ~6 Python calls. This one hands back one shared ``nullcontext``."""

    _nothing = contextlib.nullcontext()

    def profile(self, action_name: str) -> contextlib.AbstractContextManager:
        return self._nothing


class SaveConfig(L.Callback):
    """Writes the run's config.yaml (rank 0) when training starts: after a resumed run's checkpoint
    and data position were accepted, so that a refused ``--resume`` leaves the run's settings as they were."""

    def __init__(self, config: TrainConfig, path: Path) -> None:
        self.config, self.path = config, path

    def on_train_start(self, trainer, pl_module) -> None:
        if trainer.is_global_zero:
            self.config.save(self.path)


def make_trainer(config: TrainConfig, out_dir: Path, history: EpochHistory, **overrides) -> L.Trainer:
    checkpoints = RunFolderCheckpoint(dirpath=out_dir / "checkpoints", filename="best", monitor="val/loss",
                                      mode="min", save_top_k=1, save_last=True, auto_insert_metric_name=False,
                                      save_on_train_epoch_end=True)  # after EpochHistory's row: resumes carry it
    last = last_checkpoint(out_dir)
    callbacks = [checkpoints, history, FiniteLossCheck(last), InterruptCheckpoint(last)]
    if config.progress:
        callbacks.append(TQDMProgressBar(refresh_rate=50))
    kwargs = dict(
        max_epochs=config.epochs, accelerator=config.accelerator, devices=config.devices,
        num_nodes=config.num_nodes, strategy=config.strategy, sync_batchnorm=config.sync_batchnorm,
        precision=config.precision,
        logger=csv_logger(out_dir), callbacks=callbacks,
        enable_progress_bar=config.progress, enable_model_summary=config.progress,
        # Metrics are logged per epoch only; 1 keeps Lightning from warning that an epoch holds fewer
        # training batches (each of steps_per_execution steps) than its logging interval.
        log_every_n_steps=1, num_sanity_val_steps=0, default_root_dir=str(out_dir),
        profiler=NoProfiler(),  # per-step overhead matters for this small MLP: see bench/
        plugins=[AtomicCheckpointIO()],  # checkpoints written whole, in the run folder itself
    )
    kwargs.update(overrides)
    try:
        return L.Trainer(**kwargs)
    except (MisconfigurationException, ValueError, TypeError, ImportError, RuntimeError) as err:
        # Lightning checks the hardware flags here: unavailable accelerators, malformed --devices, ...
        why = str(err).strip().splitlines()[0].rstrip(".") if str(err).strip() else type(err).__name__
        usable = ", ".join(name for name in sorted(AcceleratorRegistry.available_accelerators()) if _usable(name))
        raise UsageError(f"--accelerator {config.accelerator} --devices {config.devices} --strategy {config.strategy} "
                         f"--num-nodes {config.num_nodes} cannot run here ({why}); this machine offers "
                         f"--accelerator {usable} (or auto)") from None


def _usable(accelerator: str) -> bool:
    try:
        return bool(AcceleratorRegistry.get(accelerator).is_available())
    except Exception:  # e.g. tpu: torch_xla is not installed
        return False


def run(config: TrainConfig, resume: bool = False, overwrite: bool = False, **trainer_overrides) -> RunResult:
    """Train, validate every epoch, test the best checkpoint; write everything under the out dir.

    ``resume`` continues the run in the out dir from its ``last.ckpt``; ``overwrite`` replaces
    the run there. Without either, an out dir holding a run is refused before anything is written.
    One run at a time per out dir (``run_lock``); a file that cannot be written (full disk, ...)
    stops the run with one line naming the last good checkpoint.
    """
    out_dir = config.out_dir
    model, datamodule = prepare(config)
    history = EpochHistory(out_dir)
    trainer = make_trainer(config, out_dir, history, **trainer_overrides)  # refuses unusable hardware flags
    lead = rank_zero_only.rank == 0  # under DDP, rank 0 checks the out dir and holds its lock for the run
    if lead:
        guard_out_dir(out_dir, resume, overwrite)  # a refusal here leaves the folder untouched
    check_out_dir(out_dir)
    with run_lock(out_dir) if lead else contextlib.nullcontext():
        if lead:
            ckpt_path = guard_out_dir(out_dir, resume, overwrite)  # again: another run may have started since
            if ckpt_path is not None:
                check_net_matches(ckpt_path, model)
            if overwrite:
                clear_run(out_dir)
            for folder in (out_dir, out_dir / "checkpoints"):
                remove_leftovers(folder)  # a killed writer's temporary files; none is being written now
        else:  # a DDP process that rank 0 started after checking (and writing to) the out dir
            ckpt_path = resume_checkpoint(out_dir) if resume else None
        try:
            return _fit_and_test(config, model, datamodule, trainer, history, out_dir, ckpt_path)
        except OSError as err:
            raise write_failed(err, out_dir) from None
        except ProcessRaisedException as err:  # --strategy ddp_spawn: a worker's exception, as text
            raise _from_worker(err, out_dir) from None


def _fit_and_test(config, model, datamodule, trainer, history, out_dir, ckpt_path) -> RunResult:
    trainer.callbacks.append(SaveConfig(config, out_dir / "config.yaml"))
    keep_metrics_csv(trainer, ckpt_path)
    try:
        with sigint_as_sigterm() as interrupt, warnings.catch_warnings():
            if ckpt_path is not None:  # a resumed run's checkpoint folder is meant to hold checkpoints
                warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")
            # weights_only=True: a checkpoint is read without running any pickled code
            trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    except SIGTERMException:
        raise _interrupted(trainer, out_dir, signal.SIGINT if interrupt["sigint"] else signal.SIGTERM) from None
    except StopNow:
        raise _interrupted(trainer, out_dir, signal.SIGINT) from None
    checkpoint = trainer.checkpoint_callback
    best_path = checkpoint.best_model_path if checkpoint is not None else ""
    rows = list(history.rows)  # testing the best checkpoint restores EpochHistory's state as of that epoch
    test = trainer.test(model, datamodule=datamodule, ckpt_path=best_path or None, verbose=False, weights_only=True)
    result = RunResult(config, rows, test[0] if test else {}, _epoch_of(best_path), out_dir, trainer.global_rank)
    if trainer.is_global_zero:
        write_text_atomically(out_dir / "summary.json", json.dumps(result.summary(), indent=2) + "\n")
    return result


def _from_worker(err: ProcessRaisedException, out_dir: Path) -> Exception:
    """A spawned DDP worker's error, back as the one line it would have been in one process: torch
    hands it over as the text of its traceback, whose last line is ``<type>: <message>``."""
    last = str(err).strip().splitlines()[-1]
    kind, _, message = last.partition(": ")
    if kind.rpartition(".")[2] in USAGE_ERRORS:
        return UsageError(message)
    written = re.fullmatch(r"\[Errno (\d+)\] (.*?)(?:: '(.*)')?", message)
    if kind.endswith("Error") and written:  # OSError and its subclasses
        return write_failed(OSError(int(written[1]), written[2], written[3]), out_dir)
    return err


USAGE_ERRORS = {"UsageError", "NonFiniteLoss"}


def _interrupted(trainer: L.Trainer, out_dir: Path, signum: int) -> Interrupted:
    saver = next(c for c in trainer.callbacks if isinstance(c, InterruptCheckpoint))
    name = signal.Signals(signum).name
    if saver.saved_at is None:
        return Interrupted(f"{name}: stopped; no checkpoint was saved; the last one, if any, is in {out_dir / 'checkpoints'}", signum)
    epoch, step = saver.saved_at
    return Interrupted(f"{name}: stopped at epoch {epoch + 1}, step {step} and saved {last_checkpoint(out_dir)}; "
                       f"continue with: {resume_command(out_dir)}", signum)


def _epoch_of(checkpoint_path: str) -> int | None:
    if not checkpoint_path or not os.path.exists(checkpoint_path):
        return None
    state = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
    return int(state["epoch"]) + 1
