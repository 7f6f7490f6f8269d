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
import os
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and `import bench` would import
# this very file (scripts/bench.py): put the repository root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench import VARIANTS, BenchConfig, format_table, run_bench  # noqa: E402  (no torch, no TensorFlow)
from lightning_mods.cli import OneLineParser, count_problem  # noqa: E402
from lightning_mods.errors import EXIT_USAGE, UsageError  # noqa: E402
from lightning_mods.files import write_text_atomically  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    d = BenchConfig()
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


MAX_WIDTH, MAX_BATCH, MAX_EPOCHS = 8192, 65_536, 100  # bounds: a typo must not run for days


def check_args(args: argparse.Namespace) -> None:
    """Every flag's bounds and the --json path, before any worker starts: a refusal is one UsageError."""
    counts = [("--epochs", args.epochs, MAX_EPOCHS, 1), ("--warmup", args.warmup, MAX_EPOCHS, 0),
              ("--slices", args.slices, 1000, 1), *(("--batch-sizes", b, MAX_BATCH, 1) for b in args.batch_sizes),
              *(("--hidden", width, MAX_WIDTH, 1) for width in args.hidden)]
    if args.threads is not None:
        counts.append(("--threads", args.threads, 1024, 1))
    for name, value, most, least in counts:
        problem = count_problem(name, value, most, least)
        if problem:
            raise UsageError(problem)
    if args.device == "cuda" and not cuda_available():
        raise UsageError("--device cuda: no CUDA GPU is visible here; use --device cpu (or auto)")
    if args.json is not None:
        check_json_path(args.json)


def cuda_available() -> bool:
    import torch  # only for --device cuda: the orchestrator itself never loads torch

    return torch.cuda.is_available()


def check_json_path(path: Path) -> None:
    """--json must be a file this process can write, checked before the benchmark runs."""
    if path.is_dir():
        raise UsageError(f"--json {path} is a folder; give a file name, e.g. {path / 'bench.json'}")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--json {path}: its folder {folder} does not exist (or is a file); create it or pick another path")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"--json {path} cannot be written; pick a path you can write to")


def config_from_args(args: argparse.Namespace) -> BenchConfig:
    check_args(args)
    if args.quick:
        return BenchConfig(arch=args.arch, norms=["bn"], batch_sizes=[64], variants=args.variants, epochs=1, warmup=1, hidden=[32, 16],
                           data="synthetic", device=args.device, threads=args.threads, slices=args.slices)
    if args.arch == "vit" and "gn" in args.norms:
        raise UsageError("--arch vit has no GroupNorm; use --norms none bn ln")
    return BenchConfig(arch=args.arch, norms=args.norms, batch_sizes=args.batch_sizes, variants=args.variants, epochs=args.epochs,
                       warmup=args.warmup, hidden=args.hidden, data=args.data, device=args.device,
                       threads=args.threads, slices=args.slices)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    report = run_bench(config, progress=lambda line: print(line, flush=True))
    print()
    print(format_table(report))
    if args.json:
        try:
            write_text_atomically(args.json, json.dumps(report, indent=2) + "\n")
        except OSError as err:
            print(f"error: writing --json {args.json} failed ({err.strerror or err}); the table above holds the "
                  "results; free space or pick another path", file=sys.stderr)
            return EXIT_USAGE
    return 0


if __name__ == "__main__":
    sys.exit(main())
