"""CUDA checks (run by scripts/gpu_check.sh); skipped where there is no NVIDIA GPU."""

from __future__ import annotations

import copy
import json
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
