"""Worker (b): the floor, a minimal hand-written torch training loop over tensors in memory."""

from __future__ import annotations

from bench.protocol import Gate
from bench.workers.torch_device import sync, torch_device

GROUPS = 8  # GroupNorm groups of the conv nets: divide the CNN's 16, 32, 64 channels (LeNet has 6: bench bn, ln there)


def groups_for(arch: str) -> int:
    """The MLP keeps Keras's 32 groups; the conv nets get GROUPS."""
    return 32 if arch == "mlp" else GROUPS


def _train_split(data: str):
    """The 55,000 training images (uint8) and labels as torch tensors, or the synthetic ones."""
    from lightning_mods.data import load_real, load_synthetic

    return (load_real(download=False) if data == "real" else load_synthetic())["train"]


def run(job: dict, gate: Gate) -> dict:
    """(b): the floor. Float images in memory on the device, a fresh permutation per epoch,
    slices of it as batches; the same net (build_net) and optimizer (make_optimizer)."""
    import torch
    from torch.nn import functional as F

    from lightning_mods.config import TrainConfig
    from lightning_mods.module import make_optimizer
    from lightning_mods.nets import build_net

    device = torch_device(job["device"])
    gate.sync = lambda: sync(device)
    torch.manual_seed(0)
    images, labels = _train_split(job["data"])
    x, y = images.to(device).float().div_(255), labels.to(device)
    net = build_net(TrainConfig(arch=job.get("arch", "mlp"), norm=job["norm"], hidden=job["hidden"],
                                groups=groups_for(job.get("arch", "mlp"))).net_config()).to(device).train()
    optimizer = make_optimizer("sgd", net.parameters(), None)
    batch_size, seconds = job["batch_size"], []
    cuts = gate.cuts(-(-len(y) // batch_size))
    for _ in range(job["warmup"] + job["epochs"]):
        gate.start_epoch()
        for step, idx in enumerate(torch.randperm(len(y), device=device).split(batch_size)):
            if step in cuts:
                gate.pause()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(gate.end_epoch())
    return {"seconds": seconds[job["warmup"]:], "images": len(y), "device": device}
