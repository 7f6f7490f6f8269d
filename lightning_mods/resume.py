"""Runs that survive interruption: the out-dir guard, resuming from ``last.ckpt``, a resumable
checkpoint on SIGTERM/SIGINT, and the RNG states carried in every checkpoint."""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lightning_mods.config import TrainConfig, load_config_values
from lightning_mods.errors import UsageError

RUN_FILES = ("config.yaml", "epochs.csv", "summary.json", "checkpoints", "lightning_logs")
# May change on --resume (steps_per_execution groups the same steps differently: same weights).
RESUMABLE = {"epochs", "progress", "accelerator", "devices", "data_dir", "out", "steps_per_execution"}


def last_checkpoint(out_dir: Path) -> Path:
    return out_dir / "checkpoints" / "last.ckpt"


def resume_checkpoint(out_dir: Path) -> Path:
    """What ``--resume`` continues from: ``last.ckpt``; or, when a failed write (a full disk) left
    none, ``best.ckpt``, a full training checkpoint too, saved at the same epoch end just before."""
    last = last_checkpoint(out_dir)
    best = out_dir / "checkpoints" / "best.ckpt"
    return best if not last.is_file() and best.is_file() else last


def resume_command(out_dir: Path) -> str:
    return f"python scripts/train.py --resume --out {out_dir}"


def last_good(checkpoint: Path) -> str | None:
    """``the last good checkpoint <path> (epoch E, step S)``, or None when there is none yet."""
    if not checkpoint.is_file():
        return None
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return f"the last good checkpoint {checkpoint} (epoch {state['epoch'] + 1}, step {state['global_step']})"


NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
NOT_WRITABLE = {errno.EROFS, errno.EACCES, errno.EPERM}


def write_failed(err: OSError, out_dir: Path) -> UsageError:
    """The one line for a run file that could not be written (full disk, quota, read-only, I/O error):
    what failed, the checkpoint the run can go on from (every file is written atomically, so it is
    whole), and what to do."""
    if err.errno in NO_SPACE:
        fix = "free space on that disk (or raise the quota or file-size limit)"
    elif err.errno in NOT_WRITABLE:
        fix = f"make {out_dir} writable"
    else:
        fix = "check the disk"
    what = f"writing {err.filename}" if err.filename else f"writing to {out_dir}"
    kept = last_good(resume_checkpoint(out_dir))
    if kept is None:
        return UsageError(f"{what} failed ({err.strerror or err}); no checkpoint had been saved yet; {fix}, "
                          "then start the run again with --overwrite")
    return UsageError(f"{what} failed ({err.strerror or err}); {kept} is intact; {fix}, then continue with: "
                      f"{resume_command(out_dir)}")


def saved_values(out_dir: Path) -> dict:
    """The settings of the run in ``out_dir`` (its config.yaml), for ``--resume``."""
    if not (out_dir / "config.yaml").is_file():
        raise UsageError(f"--resume: {out_dir} holds no run (no config.yaml); check --out, or drop --resume to start one")
    return load_config_values(out_dir / "config.yaml")


def check_same_run(config: TrainConfig, saved: dict, out_dir: Path) -> None:
    """Refuse a resume whose settings differ from the run's, except those that may change."""
    changed = [f"--{key.replace('_', '-')} {getattr(config, key)!r} (the run has {value!r})"
               for key, value in saved.items() if key not in RESUMABLE and getattr(config, key) != value]
    if changed:
        raise UsageError(f"--resume: {'; '.join(changed)} differ(s) from {out_dir / 'config.yaml'}; drop the flag(s) "
                         "to continue the run, or start a new one with another --out")


def guard_out_dir(out_dir: Path, resume: bool, overwrite: bool) -> Path | None:
    """Refuse to mix two runs in one folder; the checkpoint to resume from, if any. Writes nothing."""
    if resume and overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it; pass only one")
    if resume:
        checkpoint = resume_checkpoint(out_dir)
        if not checkpoint.is_file():
            raise UsageError(f"--resume: {checkpoint} does not exist (the run stopped before its first checkpoint); "
                             "start it afresh with --overwrite")
        check_checkpoint(checkpoint)
        return checkpoint
    held = [name for name in RUN_FILES if (out_dir / name).exists()]
    if held and not overwrite:
        raise UsageError(f"--out {out_dir} already holds a run ({', '.join(held)}); pass --resume to continue it, "
                         "--overwrite to replace it, or choose another --out")
    return None


def check_checkpoint(path: Path) -> None:
    """Refuse a checkpoint that is unreadable or holds more than tensors and plain data: it is
    read with ``weights_only=True``, which never runs the code a pickle may carry."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        why = next((line for line in str(err).splitlines() if "GLOBAL" in line), None)
        if why is None:  # not a refused object: the bytes themselves are bad
            raise UsageError(f"{path} cannot be read ({str(err)[:160]}): it is truncated or not a checkpoint; "
                             "start the run afresh with --overwrite") from None
        raise UsageError(f"{path} holds objects other than tensors and plain data ({why.strip()}); it was not loaded, "
                         "as loading it could run code; resume only from checkpoints this project wrote") from None
    except (RuntimeError, EOFError, OSError) as err:
        raise UsageError(f"{path} cannot be read ({type(err).__name__}: {str(err)[:160]}): it is truncated or not "
                         "a checkpoint; start the run afresh with --overwrite") from None
    if not isinstance(state, dict) or not {"state_dict", "loops", "optimizer_states"} <= set(state):
        raise UsageError(f"{path} is not a full Lightning training checkpoint; start the run afresh with --overwrite")


def check_net_matches(path: Path, model: torch.nn.Module) -> None:
    """Refuse to resume from a checkpoint of another net (other layers or widths than the run's
    config.yaml builds), in one line, before Lightning's state_dict error."""
    saved = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
    found = {k: tuple(v.shape) for k, v in saved.items() if isinstance(v, torch.Tensor)}
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    differ = sorted(set(found) ^ set(expected)) + sorted(k for k in set(found) & set(expected) if found[k] != expected[k])
    if differ:
        first = differ[0]
        raise UsageError(f"--resume: {path} holds another net than {path.parent.parent / 'config.yaml'} builds "
                         f"({len(differ)} tensor(s) differ, e.g. {first}: {found.get(first, 'absent')} in the checkpoint, "
                         f"{expected.get(first, 'absent')} in the net); resume with the config.yaml that run wrote; if that is "
                         "the config, this code's net changed since the run (lightning_mods.nets.NET_REVISIONS): "
                         "start afresh with --overwrite")


def clear_run(out_dir: Path) -> None:
    """Delete a previous run's files (only those a run writes) for ``--overwrite``."""
    for name in RUN_FILES:
        path = out_dir / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


class Interrupted(Exception):
    """The run was stopped by a signal; the message says what was saved and how to go on."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum  # the shell's convention: 130 for SIGINT, 143 for SIGTERM


class StopNow(BaseException):
    """A second Ctrl+C: stop at once. Not a KeyboardInterrupt, which Lightning turns into exit(1)
    with no message; the run turns it into ``Interrupted`` (exit 130, the "stopped:" line)."""


class InterruptCheckpoint(L.Callback):
    """Saves a resumable ``last.ckpt`` when Lightning stops on SIGTERM (after the current batch),
    unless the net has diverged. Also carries the torch RNG states in every checkpoint, which
    Lightning does not save, so a resumed run draws the same random numbers."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved_at: tuple[int, int] | None = None  # (epoch, step) of the interrupt checkpoint

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if not isinstance(exception, SIGTERMException):
            return
        if not all(torch.isfinite(p).all() for p in pl_module.parameters()):
            return  # keep the last good checkpoint
        # Everything, optimizer and loops too; atomic (AtomicCheckpointIO): a kill during the save leaves the old one.
        trainer.save_checkpoint(self.path, weights_only=False)
        self.saved_at = (trainer.current_epoch, trainer.global_step)

    def state_dict(self) -> dict:
        cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() and torch.cuda.is_initialized() else []
        return {"torch_rng": torch.get_rng_state(), "cuda_rng": cuda}

    def load_state_dict(self, state_dict: dict) -> None:
        torch.set_rng_state(state_dict["torch_rng"])
        if state_dict.get("cuda_rng") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda_rng"])


@contextmanager
def sigint_as_sigterm():
    """A first Ctrl+C stops like SIGTERM (Lightning finishes the batch, we save); a second one
    stops at once. Yields a dict whose ``"sigint"`` is True once Ctrl+C was pressed."""
    state = {"sigint": False}
    if threading.current_thread() is not threading.main_thread():
        yield state
        return

    def on_sigint(signum, frame):
        if state["sigint"] or signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
            raise StopNow  # second Ctrl+C, or Lightning is not listening for SIGTERM
        state["sigint"] = True
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield state
    finally:
        signal.signal(signal.SIGINT, previous)
