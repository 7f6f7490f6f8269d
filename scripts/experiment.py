"""Run one of the lesson's exercises (or the homework, or all) and write its report.

``python scripts/experiment.py homework`` trains every variant for each seed, then writes
``reports/homework/``: report.md (a table and what it shows), results.json and PNG plots,
and prints the table. ``all`` runs every experiment (runs they share are trained once) and
writes ``reports/report.md``, an index with each experiment's wall time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import lightning_mods  # noqa: F401  (the torch side first: see lightning_mods/__init__.py)
from lightning_mods.data import DATA_SOURCES
from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.exercises import NAMES

MAX_EPOCHS = 50  # a bound, so that a typo cannot start a week-long run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*NAMES, "all"], help="which experiment to run")
    p.add_argument("--seeds", type=int, default=3, help="seeds per variant, 0..N-1 (default %(default)s)")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per run, at most {MAX_EPOCHS} (default: each experiment's own, see its report)")
    p.add_argument("--images-per-epoch", type=int, default=4_096,
                   help="ex4 only: training images per epoch, the same for every batch size (default %(default)s)")
    p.add_argument("--data", choices=DATA_SOURCES, default="real", help="real Fashion-MNIST or synthetic stand-in (default %(default)s)")
    p.add_argument("--data-dir", default=None, help="folder of the four Fashion-MNIST files (default: found automatically)")
    p.add_argument("--out", default="reports", help="reports folder (default %(default)s)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default %(default)s: many small runs on a shared CPU thrash with more)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    threads_before = None
    try:
        import torch

        from lightning_mods.exercises import run_experiment
        from lightning_mods.exercises.report import markdown_table, text_table
        from lightning_mods.exercises.runner import Runner, Settings
        from lightning_mods.training import check_out_dir

        if args.epochs is not None and args.epochs > MAX_EPOCHS:
            raise UsageError(f"--epochs {args.epochs} is above the bound of {MAX_EPOCHS}; pick {MAX_EPOCHS} or fewer")
        if args.threads < 1:
            raise UsageError(f"--threads {args.threads} must be at least 1")
        threads_before = torch.get_num_threads()
        torch.set_num_threads(args.threads)  # restored below: main() also runs inside other processes (tests)
        settings = Settings(seeds=args.seeds, epochs=args.epochs, data=args.data, data_dir=args.data_dir,
                            progress=args.progress, images_per_epoch=args.images_per_epoch)
        out = Path(args.out)
        check_out_dir(out)
        runner = Runner(settings)
        names = NAMES if args.name == "all" else (args.name,)
        walls = []
        start = time.perf_counter()
        for name in names:
            began = time.perf_counter()
            report = run_experiment(name, runner, out)
            walls.append([name, report.title, f"{time.perf_counter() - began:.0f}"])
            print(f"\n{report.title}  ->  {out / name / 'report.md'}\n{text_table(report.columns, report.rows)}", flush=True)
        total = time.perf_counter() - start
        if args.name == "all":
            index = markdown_table(["experiment", "title", "wall seconds"],
                                   [[f"[{n}]({n}/report.md)", t, s] for n, t, s in walls])
            (out / "report.md").write_text(
                f"# The lesson's exercises and homework\n\n`python scripts/experiment.py all --seeds {args.seeds}` "
                f"on {args.data} data: {total / 60:.1f} minutes in all (runs shared by experiments are trained once, "
                f"by the first that needs them).\n\n{index}\n")
        print(f"\nwall time: {total:.0f} s", flush=True)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if threads_before is not None:
            torch.set_num_threads(threads_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
