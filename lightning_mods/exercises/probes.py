"""Prediction probes: training-mode vs inference-mode outputs, and batch-size-1 inference.

Training-mode probes run on a deep copy, so BatchNorm's running statistics of the trained
model are never touched.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

TIE_TOLERANCE = 1e-5  # logits closer than this count as a float tie between two classes


def as_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 ``(N, 28, 28)`` images -> float32 in [0, 1], as the DataModule feeds them."""
    return images.float().div(255) if images.dtype == torch.uint8 else images


@torch.no_grad()
def logits_of(net: nn.Module, images: torch.Tensor, batch_size: int, train_mode: bool = False) -> torch.Tensor:
    """Logits ``(N, 10)`` computed in batches of ``batch_size``, in eval or training mode."""
    net = copy.deepcopy(net).train() if train_mode else net.eval()
    x = as_float(images)
    return torch.cat([net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])


def mode_change(net: nn.Module, images: torch.Tensor) -> dict:
    """One batch predicted in training mode and in inference mode: what changes."""
    eval_logits = logits_of(net, images, len(images))
    train_logits = logits_of(net, images, len(images), train_mode=True)
    return {
        "batch": len(images),
        "changed_fraction": (eval_logits.argmax(1) != train_logits.argmax(1)).float().mean().item(),
        "mean_abs_logit_change": (eval_logits - train_logits).abs().mean().item(),
        "max_abs_logit_change": (eval_logits - train_logits).abs().max().item(),
    }


def mode_accuracies(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> dict:
    """Accuracy over a whole split in inference mode and in training mode (batches of ``batch_size``)."""
    eval_acc = (logits_of(net, images, batch_size).argmax(1) == labels).float().mean().item()
    train_acc = (logits_of(net, images, batch_size, train_mode=True).argmax(1) == labels).float().mean().item()
    return {"eval_acc": eval_acc, "train_mode_acc": train_acc, "gap": train_acc - eval_acc}


def batch1_inference(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 1_000) -> dict:
    """Every sample alone (batch size 1, eval mode) vs batched: accuracies and differing predictions.

    A differing prediction is a float tie when the batched logits of the two classes involved
    are within TIE_TOLERANCE of each other.
    """
    batched = logits_of(net, images, batch_size)
    single = logits_of(net, images, 1)
    differ = (batched.argmax(1) != single.argmax(1)).nonzero().flatten()
    ties = sum(
        abs(batched[i, batched[i].argmax()] - batched[i, single[i].argmax()]).item() <= TIE_TOLERANCE for i in differ
    )
    return {
        "samples": len(labels),
        "batched_acc": (batched.argmax(1) == labels).float().mean().item(),
        "batch1_acc": (single.argmax(1) == labels).float().mean().item(),
        "differing_predictions": len(differ),
        "differing_not_ties": len(differ) - ties,
        "max_abs_logit_diff": (batched - single).abs().max().item(),
    }
