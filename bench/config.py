"""What one benchmark run measures: the variants, norms, batch sizes, epochs and machine settings."""

from __future__ import annotations

from dataclasses import dataclass, field

VARIANTS = ("lightning", "torch", "keras")  # (a), (b), (c) of issue 6


@dataclass
class BenchConfig:
    arch: str = "mlp"  # mlp, cnn, lenet or vit: the same net in every variant (Keras: its keras_ref twin)
    norms: list[str] = field(default_factory=lambda: ["bn", "none", "ln"])
    batch_sizes: list[int] = field(default_factory=lambda: [32, 128])
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    epochs: int = 3  # timed epochs per measurement (the median is reported)
    warmup: int = 1  # untimed epochs first
    hidden: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    data: str = "real"  # or "synthetic" (2,000 images: a smoke test)
    device: str = "auto"  # auto, cpu or cuda (Keras runs wherever TensorFlow runs)
    threads: int | None = None  # CPU threads of torch and TensorFlow; None: each library's default
    slices: int = 8  # turns per epoch (see bench.protocol)
    timeout_s: float = 600.0  # per line awaited from a worker: its setup, each slice with an epoch's after-work
