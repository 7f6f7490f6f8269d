"""Train one net on Fashion-MNIST: ``python scripts/train.py --norm bn``.

Writes under ``--out`` (default ``runs/<arch>-<norm>-<placement>-<activation>-seed<seed>``):
``config.yaml``, ``epochs.csv`` (one row per epoch), ``lightning_logs/metrics.csv`` (Lightning's CSV log),
``checkpoints/best.ckpt`` and ``checkpoints/last.ckpt``, ``summary.json``.
``--resume`` continues the run in ``--out`` with its saved settings (e.g. after Ctrl+C, or with a
larger ``--epochs``); ``--config runs/X/config.yaml --out runs/Y`` reruns a run.
"""

from __future__ import annotations

import argparse
import sys

import lightning_mods  # noqa: F401  (the torch side first: see lightning_mods/__init__.py)
from lightning_mods.config import TrainConfig, load_config_values
from lightning_mods.data import DATA_SOURCES
from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.init import INITS
from lightning_mods.cli import OneLineParser
from lightning_mods.module import OPTIMIZERS
from lightning_mods.nets import ARCHS
from lightning_mods.norms import ACTIVATIONS, BN_VARIANCES, LN_AXES, NORMS, PLACEMENTS
from lightning_mods.precision import PRECISIONS
from lightning_mods.resume import Interrupted, check_same_run, saved_values


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    net = p.add_argument_group("the net")
    net.add_argument("--arch", choices=ARCHS, default=d.arch, help="mlp: dense layers; lstm: an LSTM over the 28 image rows; cnn: 3 conv layers; lenet: d2l's BN-LeNet; vit: a small Vision Transformer on 16 7x7 patches (default %(default)s)")
    net.add_argument("--norm", choices=NORMS, default=d.norm, help="none, bn (BatchNorm), ln (LayerNorm), gn (GroupNorm) (default %(default)s)")
    net.add_argument("--placement", choices=PLACEMENTS, default=d.placement, help="pre: Linear -> norm -> activation; post: Linear -> activation -> norm (default %(default)s)")
    net.add_argument("--activation", choices=ACTIVATIONS, default=d.activation, help="default %(default)s")
    net.add_argument("--hidden", type=int, nargs="+", default=d.hidden, metavar="WIDTH", help="MLP hidden widths (default %(default)s)")
    net.add_argument("--groups", type=int, default=d.groups, help="GroupNorm groups; must divide every width it normalizes (default %(default)s)")
    net.add_argument("--lstm-units", type=int, default=d.lstm_units, help="LSTM hidden size (default %(default)s)")
    net.add_argument("--init", choices=INITS, default=d.init, help="weight init: Keras's he_normal or glorot_uniform, or torch's default (default %(default)s)")
    net.add_argument("--bn-momentum", type=float, default=d.bn_momentum, help="torch momentum = 1 - Keras momentum; default %(default)s = Keras's 0.99")
    net.add_argument("--eps", type=float, default=d.eps, help="epsilon of every norm; default %(default)s = Keras's (torch's is 1e-5)")
    net.add_argument("--net", dest="net_dir", metavar="DIR", default=d.net_dir, help="train a converted Keras model (the DIR scripts/convert.py keras-to-torch wrote; 28x28 in, 10 out) instead of the flags above")
    net.add_argument("--dropout", type=float, default=d.dropout, metavar="RATE", help="MLP: Dropout at the end of every hidden block (default %(default)s: none)")
    net.add_argument("--norm-logits", action="store_true", help="MLP: the net's norm also on the 10 logits, before the softmax (the lesson's common error)")
    net.add_argument("--ln-axes", choices=LN_AXES, default=d.ln_axes, help="cnn, lenet: LayerNorm over C,H,W per sample (chw, Wu & He) or over C per pixel (c, Keras's default axis=-1) (default %(default)s)")
    net.add_argument("--bn-variance", choices=BN_VARIANCES, default=d.bn_variance, help="running variance updated with the unbiased (torch) or biased (Keras) batch variance (default %(default)s)")
    train = p.add_argument_group("training")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer, help="default %(default)s")
    train.add_argument("--lr", type=float, default=d.lr, help="learning rate (default: Keras's, sgd 0.01, adam/nadam 0.001)")
    train.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size (default %(default)s, Keras's)")
    train.add_argument("--steps-per-execution", type=int, default=d.steps_per_execution, metavar="N",
                       help="optimizer steps per Lightning training step, as Keras's compile(steps_per_execution=): "
                            "the same steps, less overhead (default: 16, or 1 under DDP)")
    train.add_argument("--epochs", type=int, default=d.epochs, help="default %(default)s")
    train.add_argument("--seed", type=int, default=d.seed, help="seeds init, data order and every random state (default %(default)s)")
    data = p.add_argument_group("data and output")
    data.add_argument("--data", choices=DATA_SOURCES, default=d.data, help="real Fashion-MNIST or small synthetic data of the same shapes (default %(default)s)")
    data.add_argument("--data-dir", default=d.data_dir, help="folder holding the four Fashion-MNIST files (default: $FASHION_MNIST_DIR, then /usr/share/datasets/fashion-mnist)")
    data.add_argument("--out", default=d.out, help="run folder (default runs/<arch>-<norm>-<placement>-<activation>-seed<seed>)")
    data.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar nor model summary")
    hw = p.add_argument_group("hardware")
    hw.add_argument("--accelerator", default=d.accelerator, help="auto (CUDA when present, else CPU), cpu, gpu (default %(default)s)")
    hw.add_argument("--devices", default=d.devices, help="number of devices, or auto (default %(default)s)")
    hw.add_argument("--precision", choices=PRECISIONS, default=d.precision,
                    help="Lightning's: 32-true, or mixed precision (autocast) with bfloat16 or float16 (16-mixed: CUDA "
                         "only); weights and every norm's statistics stay float32 (default %(default)s)")
    scale = p.add_argument_group("scaling out (Lightning's DDP; global batch = batch size x devices x nodes)")
    scale.add_argument("--num-nodes", type=int, default=d.num_nodes, help="machines taking part, each running --devices processes (default %(default)s)")
    scale.add_argument("--strategy", default=d.strategy, help="Lightning strategy: auto (ddp when devices > 1), ddp, ddp_spawn, ... (default %(default)s)")
    scale.add_argument("--sync-batchnorm", action="store_true", help="BatchNorm statistics over the global batch instead of each device's share (CUDA only)")
    runs = p.add_argument_group("resuming and rerunning")
    runs.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint, with its saved settings")
    runs.add_argument("--overwrite", action="store_true", help="replace the run --out holds (without it, such an --out is refused)")
    runs.add_argument("--config", metavar="PATH", help="take every setting from a run's config.yaml; flags given here override it")
    return p


RUN_FLAGS = ("resume", "overwrite", "config")  # how to run, not settings of the run: not saved in config.yaml


def parse_config(argv: list[str] | None) -> tuple[TrainConfig, dict]:
    """The run's settings: the defaults, then ``--config`` (or, with ``--resume``, the run's own
    config.yaml), then the flags given. Returns the config and the RUN_FLAGS."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.resume and args.config:
        raise UsageError("--resume reads the run's own config.yaml; drop --config")
    base = load_config_values(args.config) if args.config else {}
    if args.resume:
        base = saved_values(config_from_args(args).out_dir)
    parser.set_defaults(**base)
    config = config_from_args(args := parser.parse_args(argv))
    if args.resume:
        check_same_run(config, base, config.out_dir)
    return config, {flag: getattr(args, flag) for flag in RUN_FLAGS if flag != "config"}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_dict({k: v for k, v in vars(args).items() if k not in RUN_FLAGS})


def main(argv: list[str] | None = None) -> int:
    try:
        config, run_flags = parse_config(argv)
        from lightning_mods.history import format_summary
        from lightning_mods.training import run

        result = run(config, **run_flags)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Interrupted as stop:
        print(f"stopped: {stop}", file=sys.stderr)
        return stop.exit_code
    if result.global_rank == 0:  # under DDP every process gets here; print once
        print(format_summary(result.summary()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
