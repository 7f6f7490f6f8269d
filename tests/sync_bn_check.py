"""SyncBatchNorm across 2 processes vs plain BatchNorm on the concatenated batch in one process.

``python tests/sync_bn_check.py --device cuda`` spawns 2 processes (torch.multiprocessing,
gloo, which carries CUDA tensors too; both may share one GPU). Each normalizes its own share of
one batch (uneven shares: 24 and 40 samples) with ``nn.SyncBatchNorm``; the parent compares
their outputs and running statistics with ``nn.BatchNorm1d`` on all 64 samples. Prints one JSON
line and exits 0 when they match within ``TOLERANCE``. With ``--device cpu`` the workers
report torch's refusal (SyncBatchNorm needs GPU tensors), which is why ``--sync-batchnorm``
is refused on CPU. Used by tests/test_gpu.py, tests/test_ddp.py and scripts/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

SHARES = (24, 40)  # samples per process
FEATURES = 16
MOMENTUM = 0.1
TOLERANCE = 1e-5  # float32, |sync - plain| on outputs and running statistics


def batch() -> torch.Tensor:
    """One global batch (64, 16), shifted and scaled so that the statistics are not 0 and 1."""
    g = torch.Generator().manual_seed(0)
    return torch.randn(sum(SHARES), FEATURES, generator=g) * 3.0 + torch.linspace(-2, 2, FEATURES)


def worker(rank: int, device: str, folder: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{folder}/store", rank=rank, world_size=len(SHARES))
    try:
        x = batch().split(SHARES)[rank].to(device)
        bn = nn.SyncBatchNorm(FEATURES, momentum=MOMENTUM).to(device).train()
        try:
            out = bn(x)
            record = {"out": out.detach().cpu(), "running_mean": bn.running_mean.cpu(), "running_var": bn.running_var.cpu()}
        except ValueError as err:
            record = {"error": str(err)}
        torch.save(record, Path(folder) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def check(device: str) -> dict:
    """Run both workers, compare with plain BatchNorm; returns the result as a dict."""
    with tempfile.TemporaryDirectory() as folder:
        mp.spawn(worker, args=(device, folder), nprocs=len(SHARES), join=True)
        ranks = [torch.load(Path(folder) / f"rank{r}.pt") for r in range(len(SHARES))]
    errors = sorted({r["error"] for r in ranks if "error" in r})
    if errors:
        return {"device": device, "ok": False, "error": errors[0]}
    plain = nn.BatchNorm1d(FEATURES, momentum=MOMENTUM).train()
    expected = plain(batch()).detach().split(SHARES)
    diffs = {
        "out": max((r["out"] - e).abs().max().item() for r, e in zip(ranks, expected)),
        "running_mean": max((r["running_mean"] - plain.running_mean).abs().max().item() for r in ranks),
        "running_var": max((r["running_var"] - plain.running_var).abs().max().item() for r in ranks),
    }
    return {"device": device, "ok": max(diffs.values()) <= TOLERANCE, "max_abs_diff": diffs, "tolerance": TOLERANCE}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda or cpu (default %(default)s)")
    result = check(parser.parse_args(argv).device)
    print(json.dumps(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
