"""--precision on the CPU: bf16-mixed trains through Lightning's autocast with the norms' parameters
and statistics in float32; 16-mixed is refused there with one line."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import lightning as L
import pytest
import torch
from torch import nn

from lightning_mods.config import TrainConfig
from lightning_mods.history import EpochHistory
from lightning_mods.training import make_trainer, prepare


def test_batchnorm_under_bf16_autocast_computes_its_statistics_in_float32():
    """torch's batch_norm on a bfloat16 input (what a Linear gives under autocast): its output is the
    float32 computation on that same input, rounded once to bfloat16, and its running statistics
    are float32 and equal to the float32 layer's (bit-equal outputs: statistics taken in bfloat16
    would not round to the same values)."""
    torch.manual_seed(0)
    bn = nn.BatchNorm1d(64, eps=1e-3, momentum=0.01)
    reference = copy.deepcopy(bn)
    h = (torch.randn(32, 64) * 3 + 5).to(torch.bfloat16)  # an offset that bfloat16 sums would blur
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bn(h)
    expected = reference(h.float())
    assert out.dtype == torch.bfloat16  # torch returns the input's dtype, as Keras's mixed_float16 BN does
    torch.testing.assert_close(out, expected.to(torch.bfloat16), atol=0, rtol=0)
    for name in ("weight", "bias", "running_mean", "running_var"):
        assert getattr(bn, name).dtype == torch.float32, name
    torch.testing.assert_close(bn.running_mean, reference.running_mean, atol=1e-6, rtol=0)
    torch.testing.assert_close(bn.running_var, reference.running_var, atol=1e-6, rtol=1e-6)


class DtypeProbe(L.Callback):
    """Records, during training, the dtype the first Linear and the first BatchNorm hand on."""

    def __init__(self) -> None:
        self.seen: dict[str, torch.dtype] = {}

    def on_train_start(self, trainer, pl_module) -> None:
        layers = {"linear": nn.Linear, "bn": nn.BatchNorm1d}
        for key, kind in layers.items():
            layer = next(m for m in pl_module.net.modules() if isinstance(m, kind))
            layer.register_forward_hook(functools.partial(self.record, key))

    def record(self, key: str, module, inputs, output) -> None:  # a hook that returns None keeps the output
        self.seen.setdefault(key, output.dtype)


@pytest.mark.parametrize("steps_per_execution", [1, 4])  # automatic and manual optimization
def test_bf16_mixed_trains_on_the_cpu_with_norms_in_float32(tmp_path: Path, steps_per_execution):
    config = TrainConfig(norm="bn", hidden=[64, 32], data="synthetic", epochs=3, batch_size=32, lr=0.05,
                         accelerator="cpu", devices="1", precision="bf16-mixed", progress=False,
                         steps_per_execution=steps_per_execution, out=str(tmp_path / "run"))
    model, datamodule = prepare(config)
    history = EpochHistory(tmp_path / "run")
    trainer = make_trainer(config, tmp_path / "run", history)
    probe = DtypeProbe()
    trainer.callbacks.append(probe)
    assert trainer.precision == "bf16-mixed"
    trainer.fit(model, datamodule=datamodule)
    assert probe.seen["linear"] == torch.bfloat16  # autocast was on in the training step
    for name, tensor in [*model.net.named_parameters(), *model.net.named_buffers()]:
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float32, name
    losses = [row["train/loss"] for row in history.rows]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.8 * losses[0], losses
    assert history.rows[-1]["val/acc"] > 0.5  # synthetic data: 10 classes, chance is 0.1


def test_precision_reaches_the_config_and_16_mixed_is_refused_on_the_cpu(train_script, tiny_args, capsys):
    assert train_script.main(tiny_args + ["--precision", "16-mixed"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --precision 16-mixed needs a CUDA GPU"), err
    assert not Path(tiny_args[tiny_args.index("--out") + 1]).exists()  # refused before anything was written
    config, _ = train_script.parse_config(tiny_args + ["--precision", "bf16-mixed"])
    assert config.precision == "bf16-mixed" and TrainConfig().precision == "32-true"
    with pytest.raises(SystemExit):
        train_script.parse_config(tiny_args + ["--precision", "64-true"])
