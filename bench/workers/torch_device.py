"""The torch workers' device: ``auto`` resolved, and the wait for it before each clock reading."""

from __future__ import annotations


def torch_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()
