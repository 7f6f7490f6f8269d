"""Worker (a): the project's Lightning training path, exactly as scripts/train.py runs it."""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.protocol import Gate
from bench.workers.torch_device import sync, torch_device
from bench.workers.torch_loop import groups_for


def run(job: dict, gate: Gate) -> dict:
    """(a): prepare -> make_trainer -> fit, as scripts/train.py runs it (CSV logging, metrics,
    checkpoints, progress bar, validation every epoch); timed from each epoch's first training
    step to the start of its validation, in slices that start in on_train_epoch_start and
    on_train_batch_start."""
    import lightning as L

    from lightning_mods.config import TrainConfig
    from lightning_mods.history import EpochHistory
    from lightning_mods.training import make_trainer, prepare

    device = torch_device(job["device"])
    gate.sync = lambda: sync(device)
    seconds: list[float] = []

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.cuts, self.open = gate.cuts(trainer.num_training_batches), True
            gate.start_epoch()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
            if batch_idx in self.cuts:
                gate.pause()

        def on_validation_start(self, trainer, pl_module) -> None:
            self.stop()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.stop()  # no validation this epoch

        def stop(self) -> None:
            if self.open:
                seconds.append(gate.end_epoch())
                self.open = False

    with tempfile.TemporaryDirectory(prefix="bench-") as out:
        arch = job.get("arch", "mlp")
        config = TrainConfig(arch=arch, norm=job["norm"], hidden=job["hidden"], groups=groups_for(arch),
                             batch_size=job["batch_size"], data=job["data"],
                             epochs=job["warmup"] + job["epochs"], out=out,
                             accelerator="gpu" if device == "cuda" else "cpu", devices="1")
        model, datamodule = prepare(config)
        images = len(datamodule.splits["train"])
        trainer = make_trainer(config, Path(out), EpochHistory(Path(out)))
        trainer.callbacks.append(EpochTimer())
        trainer.fit(model, datamodule=datamodule)
    return {"seconds": seconds[job["warmup"]:], "images": images, "device": device}
