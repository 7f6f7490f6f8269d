"""Facts the ledger measures itself, without training: Keras's BatchNormalization on a batch of
one and its ``fused`` argument, InstanceNorm on this project's inputs, and BN's cost per epoch
from the benchmark's JSON (``reports/bench/*.json``, written by ``scripts/bench.py --json``).

Every fact with a number is a ``Claim`` (its verdict made by the rule); ``keras_fused`` is a
premise check (does the argument still exist?).
"""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import torch
from torch import nn

from experiments.probes import as_float
from experiments.cost import bench_rows, bn_cost
from experiments.stats import Claim, mean_ci

TOLERANCE = 1e-4  # float32 rounding
IN_BATCH = 64
GPU_FREE = 1.10  # "almost free": BN's epoch at most 10% longer than no norm's
BENCH_COMMAND = ("python scripts/bench.py --variants lightning --norms none bn --batch-sizes 32 128 --epochs 5 "
                 "--json reports/bench/cpu.json")


def keras_batch_one(seeds: int) -> list[Claim]:
    """Keras's BatchNormalization in training mode on one sample: |output - beta| (per seed, random
    gamma, beta and input)."""
    import keras_ref  # noqa: F401  (the project's Keras set-up)
    import keras
    import numpy as np

    deviations = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        layer = keras.layers.BatchNormalization()
        layer.build((None, 16))
        gamma, beta = rng.normal(1, 0.5, 16).astype("float32"), rng.normal(0, 1, 16).astype("float32")
        layer.set_weights([gamma, beta, np.zeros(16, "float32"), np.ones(16, "float32")])
        out = np.asarray(layer(rng.normal(0, 3, (1, 16)).astype("float32"), training=True))
        deviations.append(float(np.abs(out - beta).max()))
    return [Claim("Keras's BatchNormalization, training mode, batch of one: silently outputs beta (no error)",
                  "largest |output - beta|", mean_ci(deviations), "<=", TOLERANCE, key="keras_outputs_beta")]


def keras_fused() -> dict:
    """Does Keras's BatchNormalization still take ``fused``? And torch's?"""
    import keras_ref  # noqa: F401
    import keras

    try:
        keras.layers.BatchNormalization(fused=True)
        error = None
    except Exception as err:  # Keras 3 refuses unknown keyword arguments
        error = f"{type(err).__name__}: {err}"
    keras_has = "fused" in inspect.signature(keras.layers.BatchNormalization.__init__).parameters
    torch_has = "fused" in inspect.signature(nn.BatchNorm1d.__init__).parameters
    text = (f"Keras {keras.__version__}: `fused` is {'an' if keras_has else 'no'} argument of BatchNormalization"
            + (f"; BatchNormalization(fused=True) raises {error}" if error else "")
            + f". torch {torch.__version__.split('+')[0]}: nn.BatchNorm1d has {'a' if torch_has else 'no'} `fused` "
            "argument; its forward is one call of torch.batch_norm, which picks the backend's kernel itself "
            "(cuDNN on CUDA).")
    return {"gone": not keras_has, "text": text, "keras_error": error, "torch_has_fused": torch_has}


@torch.no_grad()
def instance_norm(images: torch.Tensor, seeds: int) -> tuple[list[Claim], str]:
    """InstanceNorm on the LSTM's (B, T=28 rows, C=28 pixels) input, over the steps of each channel
    of each sample: does a sample's output depend on its batch, and is each (sample, channel)
    standardized? And what it does with the MLP's (B, features) activations."""
    layer = nn.InstanceNorm1d(images.shape[-1])
    alone_vs_batch, channel_means = [], []
    for seed in range(seeds):
        pick = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:IN_BATCH]
        x = as_float(images[pick]).transpose(1, 2)  # (B, C, T): channels second, as torch wants
        batched = layer(x)
        alone = torch.cat([layer(x[i : i + 1]) for i in range(len(x))])
        alone_vs_batch.append((batched - alone).abs().max().item())
        channel_means.append(batched.mean(-1).abs().max().item())
    flat = as_float(images[:IN_BATCH]).flatten(1)  # (B, 784): one value per channel and sample
    try:
        nn.InstanceNorm1d(flat.shape[1]).train()(flat.unsqueeze(-1))
        refused = "no error"
    except ValueError as err:
        refused = f"torch refuses it in training (\"{err}\")"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_unbatched = (nn.InstanceNorm1d(flat.shape[1])(flat) - nn.functional.layer_norm(flat, flat.shape[1:])).abs().max()
    note = (f"On the MLP's (B, features) activations each sample has one value per channel, so there is nothing to "
            f"normalize over: as (B, C, 1), {refused}; a 2-D input is read as one unbatched (C, L) sample, which "
            f"normalizes each sample over its features: LayerNorm without gamma and beta (largest difference from "
            f"layer_norm {as_unbatched:.2g}).")
    return [
        Claim("InstanceNorm normalizes each sample by itself (LSTM input, over the 28 steps)",
              f"largest |output in a batch of {IN_BATCH} - output alone|", mean_ci(alone_vs_batch), "<=", TOLERANCE,
              key="in_per_sample"),
        Claim("InstanceNorm standardizes every channel of every sample, like BN does over a batch",
              "largest |mean over steps| of a (sample, channel)", mean_ci(channel_means), "<=", TOLERANCE,
              key="in_per_channel"),
    ], note


def bench_cost(folder: Path) -> tuple[list[Claim], str]:
    """BN's seconds per epoch over no norm's, the Lightning path, from every ``*.json`` the benchmark
    wrote in ``folder``: ``experiments.cost.bn_cost``, the one number the README, the ledger and the
    notebook use too (epochs paired by their index: the benchmark times them side by side)."""
    rows = bench_rows(folder)
    out = []
    for kind in ("cpu", "gpu"):
        for batch in (32, 128):
            estimate = bn_cost(folder, batch, kind)
            if estimate is None:
                continue
            bn = rows[(kind, batch, "bn")]
            claim = ("BN costs noticeable time per epoch on a CPU" if kind == "cpu" else
                     f"BN is almost free on a GPU (at most {GPU_FREE:g}x no norm's epoch)")
            out.append(Claim(f"{claim}, batch {batch} ({bn['device']}, {bn['file']})",
                             "seconds per epoch, BN / none (n: timed epochs)",
                             estimate, ">" if kind == "cpu" else "<", 1.0 if kind == "cpu" else GPU_FREE,
                             key=f"{kind}_cost_{batch}"))
    missing = [f"{k.upper()} batch {b}" for k in ("cpu", "gpu") for b in (32, 128) if f"{k}_cost_{b}" not in {c.key for c in out}]
    note = ""
    if missing:
        note = (f"Not measured: {', '.join(missing)}: no benchmark JSON in {folder} has both norms there (CPU: "
                f"`{BENCH_COMMAND}`; GPU: the same with `--device cuda` and `gpu.json`, which scripts/gpu_check.sh runs).")
    return out, note
