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


FORMULA_TOLERANCE = 1e-4  # float32 rounding between BN's kernel and the formula written out here


@torch.no_grad()
def bn_statistics_used(net: nn.Module, images: torch.Tensor) -> dict:
    """Which statistics every BatchNorm layer normalizes with, read from its own input and output.

    One batch goes through the net in training mode (on a copy) and in inference mode; hooks keep
    each BatchNorm's input x and output y. ``batch_formula_error`` is the largest
    |y - (gamma (x - mean_batch) / sqrt(var_batch + eps) + beta)| in training mode (the batch's own
    mean and biased variance), ``running_formula_error`` the same with the running averages in
    inference mode; ``train_vs_running`` how far the training-mode output is from the running-average
    formula (what would be 0 if training mode used the moving averages).
    """
    def formula(layer, x, mean, var):
        return (x - mean) / torch.sqrt(var + layer.eps) * layer.weight + layer.bias

    out = {"batch_formula_error": 0.0, "running_formula_error": 0.0, "train_vs_running": 0.0, "layers": 0}
    for train_mode in (True, False):
        model = copy.deepcopy(net).train() if train_mode else net.eval()
        seen = []
        hooks = [m.register_forward_hook(lambda m, inp, y: seen.append((m, inp[0], y)))
                 for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
        model(as_float(images))
        for hook in hooks:
            hook.remove()
        for layer, x, y in seen:
            flat_x, flat_y = _rows(x), _rows(y)
            running = formula(layer, flat_x, layer.running_mean, layer.running_var)
            if train_mode:
                batch = formula(layer, flat_x, flat_x.mean(0), flat_x.var(0, unbiased=False))
                out["batch_formula_error"] = max(out["batch_formula_error"], (flat_y - batch).abs().max().item())
                out["train_vs_running"] = max(out["train_vs_running"], (flat_y - running).abs().max().item())
            else:
                out["running_formula_error"] = max(out["running_formula_error"], (flat_y - running).abs().max().item())
        out["layers"] = len(seen)
    return out


def _rows(t: torch.Tensor) -> torch.Tensor:
    """BatchNorm's ``(B, C)`` or ``(B, C, T)`` tensor as rows of C features."""
    return t if t.dim() == 2 else t.transpose(1, -1).reshape(-1, t.shape[1])


@torch.no_grad()
def forgot_eval(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int) -> dict:
    """A hand-written validation loop that forgets ``model.eval()``, run on a copy of the net.

    The loop predicts the validation set in training mode, batch by batch, as such a loop would
    (under ``no_grad``, which does not stop BatchNorm from updating its running averages). Measured:
    the fraction of predictions that differ from inference mode, how far every running mean and
    variance moved (largest relative change over the BN layers), and the inference-mode accuracy of
    the copy afterwards minus that of the untouched net: the damage the loop leaves behind.
    """
    before = logits_of(net, images, batch_size).argmax(1)
    model = copy.deepcopy(net).train()
    layers = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    old = [(m.running_mean.clone(), m.running_var.clone()) for m in layers]
    x = as_float(images)
    during = torch.cat([model(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]).argmax(1)
    moved = [max(((m.running_mean - mean).norm() / mean.norm()).item(), ((m.running_var - var).norm() / var.norm()).item())
             for m, (mean, var) in zip(layers, old)]
    after = logits_of(model, images, batch_size).argmax(1)
    accuracy = lambda predicted: (predicted == labels).float().mean().item()  # noqa: E731
    return {"changed_fraction": (during != before).float().mean().item(), "running_stats_change": max(moved, default=0.0),
            "eval_acc_before": accuracy(before), "eval_acc_after": accuracy(after),
            "eval_acc_change": accuracy(after) - accuracy(before)}
