"""``--precision``: Lightning's precision flags this project offers, and the one it refuses on the CPU.

Under ``bf16-mixed`` and ``16-mixed`` Lightning runs the forward pass in ``torch.autocast``; the
weights, the optimizer and every norm's parameters and running statistics stay float32. torch's
batch_norm computes the batch statistics in float32 whatever its input dtype and returns the
input's dtype; on CUDA, autocast runs layer_norm and group_norm in float32 outright.
"""

from __future__ import annotations

from lightning.fabric.accelerators import CUDAAccelerator

from lightning_mods.errors import UsageError

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


def check_precision(precision: str, accelerator: str) -> None:
    """Refuse an unknown precision, and ``16-mixed`` where the run would be on the CPU: Lightning
    does not run float16 autocast there and would silently train in bf16-mixed instead."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown --precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    on_cpu = accelerator == "cpu" or (accelerator == "auto" and not CUDAAccelerator.is_available())
    if precision == "16-mixed" and on_cpu:
        raise UsageError("--precision 16-mixed needs a CUDA GPU (on the CPU Lightning would silently train in "
                         "bf16-mixed instead); use --precision bf16-mixed on the CPU, or --accelerator gpu")
