"""Transformer: the small ViT with LayerNorm vs BatchNorm at batches 4, 32 and 128, and evaluated on
fewer tokens than it was trained on (the lesson's "LN, not BN, in Transformers: small batches,
variable lengths").

Bounded as ex4 (the same images per run for every batch size); Adam lr 1e-3 for every batch.
Token change: every validation batch of ``EVAL_BATCH`` images keeps ``KEPT_TOKENS`` of the 16
patch tokens, drawn at random (seeded by the run's seed), with their own position embeddings.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from experiments.probes import as_float
from experiments.report import (
    PAIRING,
    Report,
    ci_text,
    claims_json,
    claims_markdown,
    histories,
    last,
    mean,
    mean_band,
    standard_figures,
)
from experiments.runner import RunSpec, Settings, by_variant, split
from experiments.stats import Claim, mean_ci, paired_ci
from lightning_mods.vit import TOKENS

NORMS = ("ln", "bn")
BATCH_SIZES = (4, 32, 128)
FOCUS = 32  # the token-count claim, at Keras's default batch
EPOCHS = 2
KEPT_TOKENS = 8
EVAL_BATCH = 500


def label(norm: str, batch: int) -> str:
    return f"{norm} batch {batch}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(label(norm, b), settings.config(seed, epochs, arch="vit", norm=norm, batch_size=b,
                                                    optimizer="adam", lr=1e-3),
                    train_steps=settings.images_per_epoch // b)
            for b in BATCH_SIZES for norm in NORMS for seed in settings.seed_list()]


@torch.no_grad()
def accuracy_on_fewer_tokens(vit, images, labels, kept: int, seed: int) -> float:
    """Inference-mode accuracy when each batch of EVAL_BATCH images keeps ``kept`` random tokens."""
    generator = torch.Generator().manual_seed(seed)
    vit.eval()
    x, right = as_float(images), 0
    for i in range(0, len(x), EVAL_BATCH):
        keep = torch.randperm(TOKENS, generator=generator)[:kept].sort().values
        right += (vit(x[i:i + EVAL_BATCH], keep).argmax(1) == labels[i:i + EVAL_BATCH]).sum().item()
    return right / len(x)


def measure(fit, images, labels) -> dict:
    full = last(fit, "val/acc")
    fewer = accuracy_on_fewer_tokens(fit.model.net, images, labels, KEPT_TOKENS, fit.seed)
    return {"val_acc": full, "val_acc_fewer_tokens": fewer, "drop": full - fewer, "steps": len(fit.step_losses),
            "seconds": fit.seconds}


def claims(measured: dict) -> list[Claim]:
    def values(norm, b, key):
        return [m[key] for m in measured[label(norm, b)]]

    small = BATCH_SIZES[0]
    return [
        Claim(f"LN beats BN in a Transformer at small batch ({small})", f"ViT val acc, LN - BN at batch {small}",
              paired_ci(values("ln", small, "val_acc"), values("bn", small, "val_acc")), ">", 0.0,
              key=f"vit_ln_beats_bn_{small}"),
        Claim(f"BN's accuracy drops more than LN's when the token count changes ({TOKENS} -> {KEPT_TOKENS})",
              f"ViT accuracy drop with {KEPT_TOKENS} of {TOKENS} tokens, BN - LN at batch {FOCUS}",
              paired_ci(values("bn", FOCUS, "drop"), values("ln", FOCUS, "drop")), ">", 0.0,
              key="vit_bn_drops_more_tokens"),
    ]


def analyse(fits, settings: Settings) -> Report:
    images, labels = split(settings, "val")
    measured = {name: [measure(f, images, labels) for f in group] for name, group in by_variant(fits).items()}
    rows = []
    for b in BATCH_SIZES:
        for n in NORMS:
            ms = measured[label(n, b)]
            rows.append([str(b), n, str(ms[0]["steps"]), ci_text([m["val_acc"] for m in ms]),
                         ci_text([m["val_acc_fewer_tokens"] for m in ms]), ci_text([m["drop"] for m in ms]),
                         f"{mean(m['seconds'] for m in ms):.1f}"])
    checked = claims(measured)
    return Report(
        name="transformer", title="Transformer: LayerNorm vs BatchNorm in a small ViT (batch size, token count)",
        setup=(f"ViT on 16 patches of 7x7 (width 64, 2 pre-norm blocks of 4 heads, mean pooling), Adam lr 1e-3, "
               f"{settings.seeds} seeds, {settings.data} data. {PAIRING} BOUNDED: each run trains {len(fits[0].history)} "
               f"epochs of {settings.images_per_epoch} images. Fewer tokens: each validation batch of {EVAL_BATCH} keeps "
               f"{KEPT_TOKENS} random tokens of {TOKENS}; BN in inference mode uses its moving averages."),
        columns=["batch", "norm", "steps", "val acc", f"val acc, {KEPT_TOKENS} tokens", "drop", "seconds per run"],
        rows=rows, paragraph=" ".join(c.sentence() for c in checked),
        figures={"val_acc_vs_batch.png": _figure(measured, settings.seeds),
                 **standard_figures([f for f in fits if f.spec.config.batch_size == 32], "batch 32")},
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _figure(measured: dict, seeds: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for norm in NORMS:
        for key, style in (("val_acc", "-"), ("val_acc_fewer_tokens", "--")):
            mid, low, high = mean_band([mean_ci([m[key] for m in measured[label(norm, b)]]) for b in BATCH_SIZES])
            tokens = TOKENS if key == "val_acc" else KEPT_TOKENS
            (line,) = ax.plot(BATCH_SIZES, mid, style, marker="o", label=f"{norm}, {tokens} tokens")
            ax.fill_between(BATCH_SIZES, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.set(xlabel="batch size", ylabel="validation accuracy (inference mode)",
           title=f"ViT: val accuracy vs batch size (band: 95% CI, {seeds} seed{'s' * (seeds > 1)})")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
