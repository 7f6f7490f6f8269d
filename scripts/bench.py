"""Time one training epoch: the project's Lightning path vs a hand-written torch loop vs Keras fit.

``python scripts/bench.py`` runs, for the BN, no-norm and LN MLPs at batch sizes 32 and 128,
one warm-up epoch then three timed epochs of each variant (each in its own process) on the
real Fashion-MNIST, and prints seconds per epoch, images per second, peak resident memory,
achieved GFLOP/s against the matmul throughput measured in the same run, and the ratios
a/b (Lightning over the plain loop) and c/a (Keras over Lightning). ``--quick``: a smoke run.

For each norm and batch size the three variants' processes start together, then take turns of
1/8 epoch (``--slices``), one variant computing at a time, the order rotating each turn; an
epoch's time is the sum of its slices. The machine's changing speed thus hits every variant
alike, and the ratios compare epochs run side by side (bench/protocol.py describes the protocol).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and `import bench` would import
# this very file (scripts/bench.py): put the repository root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import VARIANTS, BenchConfig, format_table, run_bench  # noqa: E402  (no torch, no TensorFlow)


def build_parser() -> argparse.ArgumentParser:
    d = BenchConfig()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--arch", choices=("mlp", "cnn", "lenet", "vit"), default=d.arch,
                   help="the net of every variant (Keras: its keras_ref twin; vit takes --norms none bn ln) (default %(default)s)")
    p.add_argument("--norms", nargs="+", choices=("none", "bn", "ln", "gn"), default=d.norms, help="default %(default)s")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=d.batch_sizes, help="default %(default)s")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=d.variants, help="default: all three")
    p.add_argument("--epochs", type=int, default=d.epochs, help="timed epochs per measurement, median reported (default %(default)s)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed epochs first (default %(default)s)")
    p.add_argument("--hidden", type=int, nargs="+", default=d.hidden, metavar="WIDTH", help="default %(default)s")
    p.add_argument("--data", choices=("real", "synthetic"), default=d.data, help="synthetic: 2,000 images (default %(default)s)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default=d.device, help="torch side's device (default %(default)s)")
    p.add_argument("--threads", type=int, help="CPU threads for torch and TensorFlow (default: each library's own)")
    p.add_argument("--slices", type=int, default=d.slices, help="turns per epoch in the interleaving (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="smoke run: synthetic data, BN only, batch 64, hidden 32 16, 1 timed epoch")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON")
    return p


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    if args.quick:
        return BenchConfig(arch=args.arch, norms=["bn"], batch_sizes=[64], variants=args.variants, epochs=1, warmup=1, hidden=[32, 16],
                           data="synthetic", device=args.device, threads=args.threads, slices=args.slices)
    if args.epochs < 1 or args.warmup < 0 or args.slices < 1:
        raise SystemExit("error: --epochs and --slices must be at least 1, --warmup at least 0")
    if args.arch == "vit" and "gn" in args.norms:
        raise SystemExit("error: --arch vit has no GroupNorm; use --norms none bn ln")
    return BenchConfig(arch=args.arch, norms=args.norms, batch_sizes=args.batch_sizes, variants=args.variants, epochs=args.epochs,
                       warmup=args.warmup, hidden=args.hidden, data=args.data, device=args.device,
                       threads=args.threads, slices=args.slices)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    report = run_bench(config, progress=lambda line: print(line, flush=True))
    print()
    print(format_table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
