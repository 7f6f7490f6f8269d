"""Vision: the small CNN with none, BN, LN and GN over batch sizes 2 to 128 (Wu & He, Figure 1,
on Fashion-MNIST).

Bounded as ex4: every run sees the same number of training images per epoch
(``Settings.images_per_epoch``, a random subset each epoch) for ``EPOCHS`` epochs, whatever its
batch size, so small batches take more steps. SGD (no momentum) with the learning rate scaled
linearly with the batch (Goyal et al., as Wu & He): ``LR_AT_32 * batch / 32``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

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
from experiments.runner import RunSpec, Settings, by_variant
from experiments.stats import Claim, mean_ci, paired_ci
from lightning_mods.conv_nets import CNN_CHANNELS, CNN_DENSE

NORMS = ("none", "bn", "ln", "gn")
BATCH_SIZES = (2, 4, 8, 32, 128)
EPOCHS = 2
LR_AT_32 = 0.05
GROUPS = 4  # 4 to 16 channels per group in the 16-, 32- and 64-channel layers, 32 features in the Dense 128
LN_AXES = "chw"  # LayerNorm over C,H,W per sample, as Wu & He's LN


def label(norm: str, batch: int) -> str:
    return f"{norm} batch {batch}"


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(EPOCHS)
    return [RunSpec(label(norm, b), settings.config(seed, epochs, arch="cnn", norm=norm, batch_size=b, groups=GROUPS,
                                                    ln_axes=LN_AXES, lr=LR_AT_32 * b / 32),
                    train_steps=settings.images_per_epoch // b)
            for b in BATCH_SIZES for norm in NORMS for seed in settings.seed_list()]


def claims(measured: dict) -> list[Claim]:
    def acc(norm, b):
        return [m["val_acc"] for m in measured[label(norm, b)]]

    small = BATCH_SIZES[0]
    out = [Claim(f"BN beats LN in vision (CNN) at batch {b}", f"CNN val acc, BN - LN at batch {b}",
                 paired_ci(acc("bn", b), acc("ln", b)), ">", 0.0, key=f"cnn_bn_beats_ln_{b}")
           for b in BATCH_SIZES if b >= 32]
    out.append(Claim(f"GN beats BN at batch {small} (CNN)", f"CNN val acc, GN - BN at batch {small}",
                     paired_ci(acc("gn", small), acc("bn", small)), ">", 0.0, key=f"cnn_gn_beats_bn_{small}"))
    ranges = {n: [max(vs) - min(vs) for vs in zip(*(acc(n, b) for b in BATCH_SIZES))] for n in ("gn", "bn")}
    out.append(Claim("GN's accuracy varies less across batch sizes than BN's (CNN)",
                     "CNN range of val acc over batch sizes, GN - BN", paired_ci(ranges["gn"], ranges["bn"]), "<", 0.0,
                     key="cnn_gn_less_sensitive"))
    out += [Claim(f"{n.upper()} does better than BN at batch 4 (CNN)", f"CNN val acc, {n.upper()} - BN at batch 4",
                  paired_ci(acc(n, 4), acc("bn", 4)), ">", 0.0, key=f"cnn_{n}_beats_bn_4") for n in ("ln", "gn")]
    return out


def analyse(fits, settings: Settings) -> Report:
    measured = {name: [{"val_acc": last(f, "val/acc"), "val_loss": last(f, "val/loss"), "steps": len(f.step_losses),
                        "seconds": f.seconds} for f in group] for name, group in by_variant(fits).items()}
    rows = [[str(b), n, str(measured[label(n, b)][0]["steps"]), ci_text([m["val_acc"] for m in measured[label(n, b)]]),
             f"{mean(m['seconds'] for m in measured[label(n, b)]):.1f}"] for b in BATCH_SIZES for n in NORMS]
    checked = claims(measured)
    config = fits[0].spec.config
    return Report(
        name="vision", title="Vision: BN, LN and GN in a CNN over batch sizes (Wu & He, Figure 1)",
        setup=(f"Small CNN (3 conv layers of {', '.join(map(str, CNN_CHANNELS))} channels and a Dense {', '.join(map(str, CNN_DENSE))}, "
               f"norm before {config.activation}, GN with {GROUPS} groups, LN over C,H,W), SGD with lr {LR_AT_32} x batch / 32, {settings.seeds} seeds, {settings.data} "
               f"data. {PAIRING} BOUNDED: each run trains {len(fits[0].history)} epochs of {settings.images_per_epoch} "
               "images (a random subset each epoch), the same for every batch size and norm."),
        columns=["batch", "norm", "steps", "val acc", "seconds per run"], rows=rows,
        paragraph=" ".join(c.sentence() for c in checked), figures={"val_acc_vs_batch.png": _figure(measured, settings.seeds),
                 **standard_figures([f for f in fits if f.spec.config.batch_size == 32], "batch 32")},
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        results={"settings": settings, "measured": measured, "claims": claims_json(checked), "runs": histories(fits)},
    )


def _figure(measured: dict, seeds: int) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    for norm in NORMS:
        mid, low, high = mean_band([mean_ci([m["val_acc"] for m in measured[label(norm, b)]]) for b in BATCH_SIZES])
        (line,) = ax.plot(BATCH_SIZES, mid, marker="o", label=norm)
        ax.fill_between(BATCH_SIZES, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log", base=2)
    ax.set_xticks(BATCH_SIZES, [str(b) for b in BATCH_SIZES])
    ax.set(xlabel="batch size", ylabel="validation accuracy (inference mode)",
           title=f"CNN: val accuracy vs batch size (same images per run; band: 95% CI, {seeds} seed{'s' * (seeds > 1)})")
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig
