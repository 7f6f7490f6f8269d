"""Batch size 1 in training: GroupNorm and LayerNorm train on one sample per step, in the MLP and
in the small CNN (``--arch cnn``, GN and LN as the vision experiment sets them); BatchNorm is refused
(the lesson: "GroupNorm works with batch_size=1"; "BN at batch_size=1" is a common error).

Bounded like exercise 4: every run trains ``ex4.EPOCHS`` epochs of ``Settings.images_per_epoch``
images (a random subset each epoch), here one image per optimizer step. BN is not trained: at
batch size 1 in training mode torch's BatchNorm raises, and this project refuses the flags
before any work; both refusals are recorded, once per seed.
"""

from __future__ import annotations

import torch

from experiments import ex4, vision
from experiments.report import PAIRING, Report, ci_text, claims_json, claims_markdown, histories, last, standard_figures
from experiments.runner import RunSpec, Settings, by_variant
from experiments.stats import UNIT, Claim, mean_ci
from lightning_mods.data import FashionMNISTDataModule
from lightning_mods.errors import UsageError

NORMS = ("ln", "gn")
ARCHS = ("mlp", "cnn")
TRAINS_ACC = 0.70  # "trains": seven times chance, after a few thousand single-image steps
NAMES = {"ln": "LN", "gn": "GN"}
NETS = {"mlp": "MLP", "cnn": "CNN"}
# The nets' own norm settings: the MLP's as exercise 4's, the CNN's as the vision experiment's.
NET_SETTINGS = {"mlp": dict(groups=ex4.GROUPS), "cnn": dict(arch="cnn", groups=vision.GROUPS, ln_axes=vision.LN_AXES)}


def label(norm: str, arch: str = "mlp") -> str:
    return f"{norm} batch 1" if arch == "mlp" else f"{arch} {norm} batch 1"


def variants() -> list[tuple[str, str]]:
    return [(arch, norm) for arch in ARCHS for norm in NORMS]


def plan(settings: Settings) -> list[RunSpec]:
    epochs = settings.epochs_or(ex4.EPOCHS)
    return [RunSpec(label(norm, arch), settings.config(seed, epochs, norm=norm, batch_size=1, **NET_SETTINGS[arch]),
                    train_steps=settings.images_per_epoch)
            for arch, norm in variants() for seed in settings.seed_list()]


def bn_refusals(seed: int) -> dict:
    """torch's BatchNorm1d in training mode on one sample, and this project's flags, at this seed."""
    torch.manual_seed(seed)
    out = {"seed": seed}
    try:
        torch.nn.BatchNorm1d(16).train()(torch.randn(1, 16))
        out["torch"] = None
    except ValueError as err:
        out["torch"] = str(err)
    try:
        FashionMNISTDataModule(data="synthetic", batch_size=1, norm="bn")
        out["project"] = None
    except UsageError as err:
        out["project"] = str(err)
    return out


def claims(measured: dict, refusals: list[dict]) -> list[Claim]:
    out = []
    for arch, norm in variants():
        net, prefix = ("", "") if arch == "mlp" else (f"{NETS[arch]} ", f"{arch}_")
        values = [m["val_acc"] for m in measured[label(norm, arch)]]
        out.append(Claim(f"{net}{NAMES[norm]} trains at batch size 1", f"{net}final val acc at batch 1",
                         mean_ci(values, bounds=UNIT), ">", TRAINS_ACC, key=f"{prefix}{norm}_trains"))
    out.append(Claim("BN cannot train at batch size 1: torch refuses it", "fraction of seeds refused by torch",
                     mean_ci([float(r["torch"] is not None) for r in refusals], bounds=UNIT), ">=", 1.0, key="bn_refused"))
    return out


def analyse(fits, settings: Settings) -> Report:
    measured = {name: [{"val_acc": last(f, "val/acc"), "val_loss": last(f, "val/loss"), "steps": len(f.step_losses)}
                       for f in group] for name, group in by_variant(fits).items()}
    refusals = [bn_refusals(seed) for seed in settings.seed_list()]
    rows = [[NETS[arch], NAMES[norm], str(ms[0]["steps"]), ci_text([m["val_acc"] for m in ms], bounds=UNIT),
             ci_text([m["val_loss"] for m in ms])] for arch, norm, ms in ((a, n, measured[label(n, a)]) for a, n in variants())]
    rows.append(["MLP, CNN", "BN", "0 (refused)", "-", "-"])
    checked = claims(measured, refusals)
    refusal_text = (f"BN at batch 1: torch says \"{refusals[0]['torch']}\"; this project refuses the flags before any "
                    f"work: \"{refusals[0]['project']}\"")
    return Report(
        name="batch_one", title="Batch size 1: GroupNorm and LayerNorm train, BatchNorm is refused",
        setup=(f"MLP {fits[0].spec.config.hidden}, norm before ReLU, GN with {ex4.GROUPS} groups; and the CNN of the vision "
               f"experiment (GN with {vision.GROUPS} groups, LN over C, H, W); SGD lr 0.01, batch 1, "
               f"{len(fits[0].history)} epochs of {settings.images_per_epoch} images (a random subset each epoch, as in "
               f"exercise 4), {settings.seeds} seeds, {settings.data} data. {PAIRING} \"Trains\": final val acc above "
               f"{TRAINS_ACC}."),
        columns=["net", "norm", "optimizer steps", "final val acc", "final val loss"],
        rows=rows, paragraph=refusal_text + ". " + " ".join(c.sentence() for c in checked),
        extra="## The lesson's claims, on these numbers\n\n" + claims_markdown(checked),
        figures=standard_figures(fits, "Batch size 1: LN and GN, MLP and CNN"),
        results={"settings": settings, "measured": measured, "bn_refusals": refusals, "claims": claims_json(checked),
                 "runs": histories(fits)},
    )
