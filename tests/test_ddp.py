"""Multi-process training on the CPU: 2-process DDP (gloo) through the real script.

One DDP run (``tests/ddp_probe.py`` = ``scripts/train.py`` plus a recording callback) is shared
by the tests of this module; Lightning relaunches the script for rank 1, so it runs in a
subprocess, never inside pytest.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from torch import nn
from torch.utils.data import DistributedSampler

from lightning_mods.config import TrainConfig
from lightning_mods.data import FashionMNISTDataModule, ImageBatches, load_synthetic
from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.module import NormClassifier
from lightning_mods.training import check_sync_batchnorm

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "tests" / "ddp_probe.py"
SIZES = (2_000, 499, 499)  # = ddp_probe.SYNTHETIC_SIZES: odd val/test counts that 2 ranks cannot split evenly
BATCH, DEVICES, EPOCHS, MOMENTUM = 50, 2, 2, 0.1
STEPS_PER_EPOCH = SIZES[0] // (BATCH * DEVICES)  # 20 steps of 50 per process; global batch 100
ARGS = ["--accelerator", "cpu", "--devices", str(DEVICES), "--data", "synthetic", "--epochs", str(EPOCHS),
        "--hidden", "32", "16", "--batch-size", str(BATCH), "--bn-momentum", str(MOMENTUM), "--no-progress"]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "run"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, str(PROBE), *ARGS, "--out", str(out)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [torch.load(out / "probe" / f"rank{r}.pt", weights_only=True) for r in range(DEVICES)]
    return SimpleNamespace(out=out, stdout=proc.stdout, ranks=ranks)


def epoch_indices(fetches: list[list[int]], epoch: int) -> list[int]:
    """The training indices one rank fetched in ``epoch`` (0-based)."""
    return [i for batch in fetches[epoch * STEPS_PER_EPOCH:(epoch + 1) * STEPS_PER_EPOCH] for i in batch]


@pytest.mark.ddp
def test_two_processes_write_one_checkpoint_set_and_one_summary(ddp_run):
    assert [r["world_size"] for r in ddp_run.ranks] == [DEVICES, DEVICES]
    assert sorted(p.name for p in (ddp_run.out / "checkpoints").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (ddp_run.out / "summary.json").is_file()
    assert ddp_run.stdout.count("test accuracy") == 1, ddp_run.stdout


@pytest.mark.ddp
def test_each_process_trains_on_a_disjoint_half_in_whole_batches(ddp_run):
    fetches = [r["fetches"]["train"] for r in ddp_run.ranks]
    # Lightning's DistributedSampler went into the BatchSampler: __getitems__ still gets whole batches.
    assert all(len(batch) == BATCH for f in fetches for batch in f)
    assert [len(f) for f in fetches] == [EPOCHS * STEPS_PER_EPOCH] * DEVICES
    for epoch in range(EPOCHS):
        rank0, rank1 = (set(epoch_indices(f, epoch)) for f in fetches)
        assert not rank0 & rank1
        assert rank0 | rank1 == set(range(SIZES[0]))
        assert len(rank0) == len(rank1) == SIZES[0] // DEVICES


@pytest.mark.ddp
def test_validation_and_test_see_every_sample_exactly_once(ddp_run):
    for split, epochs in (("val", EPOCHS), ("test", 1)):
        seen = [i for r in ddp_run.ranks for batch in r["fetches"][split] for i in batch]
        assert len(seen) == epochs * SIZES[1]  # no padded repeat: 250 + 249 per pass
        assert set(seen) == set(range(SIZES[1]))


@pytest.mark.ddp
def test_gradient_all_reduce_leaves_identical_replicas(ddp_run):
    rank0, rank1 = (r["final_state"] for r in ddp_run.ranks)
    initial = ddp_run.ranks[0]["initial_state"]
    params = [name for name in rank0 if name.endswith(("weight", "bias"))]
    assert all(torch.equal(rank0[name], rank1[name]) for name in params)  # bit-identical, not just close
    assert any(not torch.equal(rank0[name], initial[name]) for name in params)  # and they did train


def first_bn_input(model: NormClassifier, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """The first BatchNorm layer of the MLP and what it receives for images ``x``."""
    layers = model.net.layers
    k = next(i for i, layer in enumerate(layers) if isinstance(layer, nn.modules.batchnorm._BatchNorm))
    with torch.no_grad():
        return layers[k], layers[:k](x)


@pytest.mark.ddp
def test_bn_moving_statistics_are_per_replica_without_sync(ddp_run):
    """Without --sync-batchnorm each process normalizes, and updates its running statistics, with
    its own half of the global batch. After the first step (running mean starts at 0):
      rank r:             running_mean = m * mean(h_r)
      one process, 2B:    running_mean = m * (mean(h_0) + mean(h_1)) / 2
    so rank 0's value (the one Lightning checkpoints) differs from the single-process one by
    m/2 * (mean(h_0) - mean(h_1)), and its running variance misses the spread between the halves."""
    rank0, rank1 = ddp_run.ranks
    model = NormClassifier(TrainConfig(hidden=[32, 16], bn_momentum=MOMENTUM).net_config())
    model.load_state_dict(rank0["initial_state"])
    train = ImageBatches(*load_synthetic(*SIZES)["train"])
    bn, h0 = first_bn_input(model, train.__getitems__(rank0["fetches"]["train"][0])[0])
    _, h1 = first_bn_input(model, train.__getitems__(rank1["fetches"]["train"][0])[0])
    prefix = next(name for name, m in model.named_modules() if m is bn)
    got = {stat: rank0["bn_after_first_step"][f"{prefix}.running_{stat}"] for stat in ("mean", "var")}

    half, whole = copy.deepcopy(bn).train(), copy.deepcopy(bn).train()
    half(h0)  # a single process that saw only rank 0's 50 samples
    whole(torch.cat([h0, h1]))  # a single process with the same global batch of 100
    torch.testing.assert_close(got["mean"], half.running_mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(got["var"], half.running_var, rtol=0, atol=1e-6)
    torch.testing.assert_close(got["mean"] - whole.running_mean, MOMENTUM / 2 * (h0.mean(0) - h1.mean(0)), rtol=0, atol=1e-6)
    assert (got["mean"] - whole.running_mean).abs().max() > 1e-3
    assert (got["var"] - whole.running_var).abs().max() > 1e-3

    # At the end the replicas' statistics differ (each from its own last half-batch); the checkpoint keeps rank 0's.
    last0, last1 = rank0["bn_after_last_step"], rank1["bn_after_last_step"]
    assert max((last0[k] - last1[k]).abs().max() for k in last0) > 1e-4
    saved = torch.load(ddp_run.out / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(saved[k], last0[k]) for k in last0)


@pytest.mark.ddp
def test_ddp_checkpoint_evaluates_and_resumes_in_one_process(ddp_run, tmp_path):
    summary = json.loads((ddp_run.out / "summary.json").read_text())
    last = str(ddp_run.out / "checkpoints" / "last.ckpt")
    model = NormClassifier.load_from_checkpoint(last)
    datamodule = FashionMNISTDataModule("synthetic", batch_size=BATCH, synthetic_sizes=SIZES)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=EPOCHS + 1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path)
    (metrics,) = trainer.validate(model, datamodule=datamodule, verbose=False)
    assert metrics["val/acc"] == pytest.approx(summary["val_acc"], abs=1e-6)  # the same 499 samples, once each
    assert metrics["val/loss"] == pytest.approx(summary["val_loss"], rel=1e-5)
    assert summary["val_acc"] > 0.2  # a trained net, not chance: the comparison means something

    # Several optimizer steps per training batch (one process's default) would count steps anew: refused.
    with pytest.raises(UsageError, match="resume it with the run's --steps-per-execution"):
        trainer.fit(model, datamodule=datamodule, ckpt_path=last)
    datamodule = FashionMNISTDataModule("synthetic", batch_size=BATCH, synthetic_sizes=SIZES, steps_per_execution=1)
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=EPOCHS + 1, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, default_root_dir=tmp_path)
    trainer.fit(model, datamodule=datamodule, ckpt_path=last)  # one more epoch, one process, batch 50
    assert trainer.current_epoch == EPOCHS + 1
    assert trainer.global_step == EPOCHS * STEPS_PER_EPOCH + SIZES[0] // BATCH


@pytest.mark.ddp
def test_sync_batchnorm_with_cpu_processes_is_a_usage_error(train_script, tiny_args, capsys):
    code = train_script.main([*tiny_args, "--devices", "2", "--sync-batchnorm"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_USAGE
    assert len(err) == 1 and err[0].startswith("error: --sync-batchnorm needs CUDA GPUs"), err
    assert not (Path(tiny_args[-1]) / "checkpoints").exists()  # refused before any work


def test_sync_batchnorm_check_counts_processes():
    check_sync_batchnorm(TrainConfig(accelerator="cpu", devices="1", sync_batchnorm=True))  # no process group: plain BN
    check_sync_batchnorm(TrainConfig(accelerator="cpu", devices="2"))  # no sync asked
    with pytest.raises(UsageError, match="has 2 CPU process"):
        check_sync_batchnorm(TrainConfig(accelerator="cpu", devices="1", num_nodes=2, sync_batchnorm=True))
    with pytest.raises(UsageError, match="has 1 CPU process"):  # DDP's process group makes SyncBatchNorm refuse CPU
        check_sync_batchnorm(TrainConfig(accelerator="cpu", devices="1", strategy="ddp", sync_batchnorm=True))
    with pytest.raises(UsageError, match="unbiased"):  # the conversion would drop the Keras running variance
        check_sync_batchnorm(TrainConfig(accelerator="gpu", bn_variance="biased", sync_batchnorm=True))


@pytest.mark.ddp
def test_sync_batchnorm_really_refuses_cpu_tensors():
    """The premise of the check above, seen in 2 real processes: torch raises for CPU tensors."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "sync_bn_check.py"), "--device", "cpu"],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip(), f"no result line (exit {proc.returncode}); stderr: {proc.stderr[-2000:]}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 1 and not result["ok"]
    assert result["error"].startswith("SyncBatchNorm expected input tensor to be on GPU")


def test_eval_loaders_never_repeat_a_sample():
    """torch's DistributedSampler pads 499 samples to 500 for 2 ranks (one sample twice); ours does not."""
    datamodule = FashionMNISTDataModule("synthetic", batch_size=BATCH, synthetic_sizes=(100, 499, 499))
    datamodule.load()
    seen = []
    for rank in range(2):
        datamodule.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        for loader in (datamodule.val_dataloader(), datamodule.test_dataloader()):
            seen += list(loader.sampler)
    assert sorted(seen) == sorted(list(range(499)) * 2)
    padded = [i for rank in range(2) for i in DistributedSampler(datamodule.splits["val"], 2, rank, shuffle=False)]
    assert len(padded) == 500 and len(set(padded)) == 499


def test_ddp_drops_a_last_training_batch_of_one_per_process():
    """2,000 samples, 2 processes, batch 37: each process's 1,000 end in a batch of 1 (1000 = 27 x 37 + 1),
    which BatchNorm cannot train on, although 2,000 = 54 x 37 + 2 does not show it."""
    datamodule = FashionMNISTDataModule("synthetic", batch_size=37, synthetic_sizes=(2_000, 10, 10))
    datamodule.load()
    assert not datamodule.train_dataloader().drop_last
    datamodule.trainer = SimpleNamespace(world_size=2, global_rank=0)
    assert datamodule.train_dataloader().drop_last
