"""CUDA checks (run by scripts/gpu_check.sh); skipped where there is no NVIDIA GPU."""

from __future__ import annotations

import copy
import functools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_mods.nets import NetConfig, build_net
from lightning_mods.norms import NORMS

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA)")]

# float32 on both sides with TF32 off; what is left is summation order (cuBLAS/cuDNN vs CPU kernels).
ATOL, RTOL = 1e-4, 1e-4


@pytest.fixture
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("arch", ["mlp", "lstm"])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("bn_variance", ["unbiased", "biased"])
def test_every_norm_on_cuda_matches_cpu(arch, norm, bn_variance, no_tf32):
    if bn_variance == "biased" and norm != "bn":
        pytest.skip("bn_variance only changes BatchNorm")
    torch.manual_seed(0)
    config = NetConfig(arch=arch, norm=norm, hidden=[64, 32], groups=4, lstm_units=32, bn_variance=bn_variance,
                       bn_momentum=0.1)
    cpu = build_net(config)
    cuda = copy.deepcopy(cpu).cuda()
    x = torch.rand(16, 28, 28, generator=torch.Generator().manual_seed(1))
    for mode in ("train", "eval"):  # train: batch statistics (and a running-stat update); eval: running ones
        cpu.train(mode == "train"), cuda.train(mode == "train")
        with torch.no_grad():
            torch.testing.assert_close(cuda(x.cuda()).cpu(), cpu(x), atol=ATOL, rtol=RTOL, msg=f"{mode} output")
    for (name, b_cpu), (_, b_cuda) in zip(cpu.named_buffers(), cuda.named_buffers()):
        torch.testing.assert_close(b_cuda.cpu(), b_cpu, atol=ATOL, rtol=RTOL, msg=name)


def test_sync_batchnorm_on_one_gpu_matches_plain_bn_on_the_whole_batch():
    """2 processes (gloo, CUDA tensors, one GPU), uneven shares 24 + 40: outputs and running
    statistics equal those of nn.BatchNorm1d on the 64 samples in one process (1e-5)."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "sync_bn_check.py"), "--device", "cuda"],
                          capture_output=True, text=True, timeout=180)
    assert proc.stdout.strip(), proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ok"], result
    assert proc.returncode == 0


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
def test_mixed_precision_on_cuda_keeps_the_norms_in_float32(tmp_path, precision):
    """Lightning's autocast on CUDA: the Linear layers compute in half precision, LayerNorm in
    float32 (autocast's float32 list), BatchNorm's parameters and running statistics stay float32;
    the loss is finite and falls. 16-mixed goes through Lightning's GradScaler."""
    import lightning as L
    from torch import nn

    from lightning_mods.config import TrainConfig
    from lightning_mods.history import EpochHistory
    from lightning_mods.training import make_trainer, prepare

    half = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    for norm, layer, out_dtype in (("bn", nn.BatchNorm1d, half), ("ln", nn.LayerNorm, torch.float32)):
        out = tmp_path / norm
        config = TrainConfig(norm=norm, hidden=[64, 32], data="synthetic", epochs=3, lr=0.05, accelerator="gpu",
                             devices="1", precision=precision, progress=False, out=str(out))
        model, datamodule = prepare(config)
        history = EpochHistory(out)
        trainer = make_trainer(config, out, history)
        seen = {}

        class Probe(L.Callback):
            def on_train_start(self, trainer, pl_module):
                for key, kind in (("linear", nn.Linear), ("norm", layer)):
                    module = next(m for m in pl_module.net.modules() if isinstance(m, kind))
                    module.register_forward_hook(functools.partial(record, key))

        def record(key, module, inputs, output) -> None:  # returns None: the output is kept
            seen.setdefault(key, output.dtype)

        trainer.callbacks.append(Probe())
        trainer.fit(model, datamodule=datamodule)
        assert seen == {"linear": half, "norm": out_dtype}, (norm, seen)
        for name, tensor in [*model.net.named_parameters(), *model.net.named_buffers()]:
            if tensor.is_floating_point():
                assert tensor.dtype == torch.float32, (norm, name)
        losses = [row["train/loss"] for row in history.rows]
        assert all(map(math.isfinite, losses)) and losses[-1] < 0.8 * losses[0], (norm, losses)


def test_the_data_sits_on_the_gpu_as_uint8(tmp_path):
    """The DataModule's tensors move to the GPU as uint8 (55 MB for the real data) and batches are
    cut there, as float32 in [0, 1]."""
    from lightning_mods.config import TrainConfig
    from lightning_mods.history import EpochHistory
    from lightning_mods.training import make_trainer, prepare

    config = TrainConfig(hidden=[32], data="synthetic", epochs=1, accelerator="gpu", devices="1", progress=False,
                         out=str(tmp_path))
    model, datamodule = prepare(config)
    trainer = make_trainer(config, tmp_path, EpochHistory(tmp_path))
    trainer.fit(model, datamodule=datamodule)
    for split in datamodule.splits.values():
        assert split.images.dtype == torch.uint8 and split.images.is_cuda and split.labels.is_cuda
    x, y = next(iter(datamodule.val_dataloader()))
    assert x.is_cuda and x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
