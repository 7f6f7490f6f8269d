"""The notebook's own figures, in Spanish: ex4's per-step training loss, the learning-rate sweep
from its report's numbers, and a net's summary (which layers and which BN variables train)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from torch import nn

COLORS = {"bn": "tab:blue", "ln": "tab:orange", "gn": "tab:green", "none": "tab:gray"}
NAMES = {"none": "sin norma", "bn": "BN", "ln": "LN", "gn": "GN"}


def smooth(values, window: int) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if window <= 1 or values.size < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def step_losses(curves: dict[str, list[float]], batch: int) -> plt.Figure:
    """One line per norm: the training loss at every optimizer step (thin) and its moving mean (thick)."""
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=90)
    for norm, losses in curves.items():
        window = max(1, len(losses) // 20)
        ax.plot(np.arange(1, len(losses) + 1), losses, color=COLORS.get(norm), alpha=0.3, linewidth=0.7)
        ax.plot(np.arange(window, len(losses) + 1), smooth(losses, window), color=COLORS.get(norm), linewidth=2,
                label=f"{NAMES.get(norm, norm)} (media móvil de {window} pasos)")
    ax.set(xlabel="paso del optimizador", ylabel="pérdida de entrenamiento del batch",
           title=f"Pérdida en cada paso con batch {batch} (semilla 0)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def lr_sweep(measured: dict) -> plt.Figure:
    """Mean final val accuracy per learning rate and norm, from ``reports/lr_sweep/results.json``'s ``measured``."""
    by_norm: dict[str, dict[float, list[float]]] = {}
    for key, runs in measured.items():
        norm, lr = key.split(", lr ")
        by_norm.setdefault(norm, {})[float(lr)] = [r["val_acc"] if not r["diverged"] else 0.1 for r in runs]
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=90)
    for norm, values in by_norm.items():
        lrs = sorted(values)
        ax.plot(lrs, [np.mean(values[lr]) for lr in lrs], marker="o", color=COLORS.get(norm), label=NAMES.get(norm, norm))
    ax.set_xscale("log")
    ax.set(xlabel="tasa de aprendizaje de SGD", ylabel="exactitud de validación final (divergió: 0.1, el azar)",
           title="Barrido de la tasa de aprendizaje (informe del proyecto, media sobre semillas)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def summary_rows(net: nn.Module) -> list[list[str]]:
    """One row per layer of an MLP's ``layers``: its type, trainable parameters, and the
    non-trainable state (BN's moving mean and variance)."""
    rows = []
    for k, layer in enumerate(getattr(net, "layers", net.children())):
        params = ", ".join(f"{n} {tuple(p.shape)}" for n, p in layer.named_parameters()) or "-"
        buffers = ", ".join(f"{n} {tuple(b.shape)}" for n, b in layer.named_buffers() if b.dim() > 0) or "-"
        count = sum(p.numel() for p in layer.parameters() if p.requires_grad)
        rows.append([str(k), type(layer).__name__, params, str(count), buffers])
    return rows


SUMMARY_COLUMNS = ["#", "capa", "parámetros entrenables", "cuántos", "estado no entrenable (medias móviles)"]
