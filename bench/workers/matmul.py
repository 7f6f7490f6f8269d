"""The matmul worker: the machine's throughput on the MLP's own layer shapes, the yardstick of
the achieved GFLOP/s."""

from __future__ import annotations

import time

from bench.protocol import Gate
from bench.workers.torch_device import sync, torch_device


def run(job: dict, gate: Gate) -> dict:
    """The machine's matmul throughput on this MLP's own shapes: per batch size, the forward,
    grad-input and grad-weight products of every layer, best of several timed rounds. One shot,
    no epochs: it never uses the gate."""
    import torch

    device = torch_device(job["device"])
    widths = [784, *job["hidden"], 10]
    peaks = {}
    for batch in job["batch_sizes"]:
        mats = [(torch.randn(batch, a, device=device), torch.randn(b, a, device=device), torch.randn(batch, b, device=device))
                for a, b in zip(widths, widths[1:])]
        flops = 6 * batch * sum(a * b for a, b in zip(widths, widths[1:]))
        reps, best = 1, float("inf")
        for round_ in range(6):  # the first round only calibrates: later ones last about 0.2 s each
            if round_ == 1:
                reps = max(3, int(0.2 / best))
            sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                for x, w, g in mats:
                    x @ w.T, g @ w, g.T @ x  # forward, grad input, grad weight
            sync(device)
            best = min(best, (time.perf_counter() - start) / reps)
        peaks[str(batch)] = flops / best / 1e9
    return {"gflops": peaks, "device": device, "threads": torch.get_num_threads()}
