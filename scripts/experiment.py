"""Run one of the lesson's exercises (or the homework, or all) and write its report.

``python scripts/experiment.py homework`` trains every variant for each seed (5 by default;
seed s gives every variant the same initial weights and data order), then writes
``reports/homework/``: report.md (tables with 95% confidence intervals over seeds, the lesson's
claims with verdicts made by the rule in experiments/stats.py), results.json and PNG
plots, and prints the table. ``claims`` writes ``reports/claims.md`` and ``claims.json``, the
ledger of every testable claim of the lesson, from the experiments' results.json already in
``--out`` and the facts it measures itself (ledger/). ``all`` runs every experiment (runs they
share are trained once), then the ledger, and writes ``reports/report.md``, an index with the
command, wall time, workers and threads.

Runs train in parallel: ``--workers`` processes (default: one per core) of ``--threads`` torch
threads (default: cores / workers); a run's numbers do not depend on where it ran.
``--executor ray --ray-address HOST:PORT`` sends the same runs to a Ray cluster.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import torch

import lightning_mods  # noqa: F401  (the torch side first: see lightning_mods/__init__.py)
from experiments.executors import EXECUTORS, PoolSettings, machine_cores
from experiments.registry import NAMES
from experiments.report import markdown_table, text_table
from experiments.run_store import RunStore
from experiments.runner import Runner, Settings, split
from experiments.stopping import Stopped, stop_on_signals
from ledger import followup
from experiments.suite import run_experiments
from ledger.build import build, write
from ledger.facts_report import write_facts
from lightning_mods.data import DATA_SOURCES
from ledger.spanish import write_spanish
from lightning_mods.cli import OneLineParser
from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.files import write_text_atomically
from lightning_mods.run_lock import run_lock
from lightning_mods.training import check_out_dir

MAX_EPOCHS = 50  # a bound, so that a typo cannot start a week-long run


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", choices=[*NAMES, "claims", "all", "followup"],
                   help="which experiment to run; claims: the ledger, from the reports in --out; all: every experiment, "
                        "then the ledger; followup: list the undecided claim parts, the fresh seeds each needs and the "
                        "commands to run them (reads the reports in --out, trains nothing)")
    p.add_argument("--seeds", type=int, default=5, help="seeds per variant, K..K+N-1 (default %(default)s)")
    p.add_argument("--seed-offset", type=int, default=0,
                   help="K, the first seed (default %(default)s); fresh seeds for a follow-up start after the pilot's")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per run, at most {MAX_EPOCHS} (default: each experiment's own, see its report)")
    p.add_argument("--images-per-epoch", type=int, default=4_096,
                   help="ex4 only: training images per epoch, the same for every batch size (default %(default)s)")
    p.add_argument("--data", choices=DATA_SOURCES, default="real", help="real Fashion-MNIST or synthetic stand-in (default %(default)s)")
    p.add_argument("--data-dir", default=None, help="folder of the four Fashion-MNIST files (default: found automatically)")
    p.add_argument("--out", default="reports", help="reports folder (default %(default)s)")
    p.add_argument("--workers", type=int, default=0,
                   help=f"runs trained at once, each in its own process (default: one per core, here {machine_cores()})")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads per run (default: cores / workers)")
    p.add_argument("--executor", choices=EXECUTORS, default="local",
                   help="local process pool, or a Ray cluster (pip install -e \".[ray]\") (default %(default)s)")
    p.add_argument("--ray-address", default=None, help="the Ray cluster to join, e.g. 10.0.0.1:6379 (default: start a local one)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    return p


def write_ledger(out: Path, settings) -> dict:
    """The claims ledger from the reports in ``out`` (and the facts it measures): claims.md/.json/.es.md."""
    missing = [name for name in NAMES if not (out / name / "results.json").exists()]
    if missing:
        print(f"warning: no report yet in {out} for {', '.join(missing)}: the claims they decide stay inconclusive "
              "until `python scripts/experiment.py all` (or each of them) has run", file=sys.stderr)
    write_facts(out, split(settings, "val")[0], settings.seeds, settings.data)
    entries = build(out)
    header = (f"Built by `python scripts/experiment.py claims` from the reports in this folder ({settings.data} data), "
              f"{settings.seeds} seeds for the facts measured here.")
    write(entries, out, header)
    write_spanish(out)  # claims.es.md, the Spanish edition, from the claims.json just written
    return {v: sum(e.verdict == v for e in entries) for v in dict.fromkeys(e.verdict for e in entries)}


def source_commit() -> str:
    """The commit of the code that ran (with "+ local changes" when the tree differs from it), for the index."""
    root = Path(__file__).resolve().parents[1]
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout)"
    return (head or "unknown") + (" + local changes" if dirty else "")


def check_out(text: str) -> Path:
    if not text.strip():
        raise UsageError(f"--out {text!r} names no folder; give one, e.g. --out reports")
    out = Path(text)
    check_out_dir(out)  # created and proven writable before any run trains
    return out


def _inside(filename, folder: str) -> bool:
    return bool(filename) and Path(str(filename)).resolve().is_relative_to(Path(folder).resolve())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    command = " ".join(["python scripts/experiment.py", *map(shlex.quote, argv)])
    threads_before = torch.get_num_threads()
    store = None
    try:
        if args.epochs is not None and args.epochs > MAX_EPOCHS:
            raise UsageError(f"--epochs {args.epochs} is above the bound of {MAX_EPOCHS}; pick {MAX_EPOCHS} or fewer")
        pool = PoolSettings(workers=args.workers, threads=args.threads, executor=args.executor,
                            ray_address=args.ray_address)
        if args.name == "followup":
            if not Path(args.out).is_dir():
                raise UsageError(f"--out {args.out} is not a folder of reports; run the experiments first or point --out at them")
            print(followup.text(Path(args.out), args.workers or 2), flush=True)
            return 0
        settings = Settings(seeds=args.seeds, seed_offset=args.seed_offset, epochs=args.epochs, data=args.data,
                            data_dir=args.data_dir,
                            progress=args.progress, images_per_epoch=args.images_per_epoch, pool=pool)
        out = check_out(args.out)
        with run_lock(out), stop_on_signals():  # one experiment per --out at a time
            torch.set_num_threads(pool.n_threads)  # restored below: main() also runs inside other processes (tests)
            store = RunStore(out, pool.n_threads)
            store.clean()
            run_and_report(args, command, out, Runner(settings, store), pool)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as err:  # a report (or a saved run) could not be written: every file is whole, old or new
        if not _inside(err.filename, args.out):
            raise  # not a file of --out (e.g. a broken install): not a write failure to report as one
        print(f"error: writing {err.filename or args.out} failed ({err.strerror or err}); the previous report there "
              f"is whole and the finished runs are kept in {store.folder if store else args.out}; free space or make "
              f"{args.out} writable, then run the same command again: {command}", file=sys.stderr)
        return EXIT_USAGE
    except Stopped as stop:
        print(f"stopped: {stop}: {store.count() if store else 0} finished run(s) kept in "
              f"{store.folder if store else args.out}; continue with: {command}", file=sys.stderr)
        return stop.exit_code
    finally:
        torch.set_num_threads(threads_before)
    return 0


def run_and_report(args, command: str, out: Path, runner: Runner, pool: PoolSettings) -> None:
    settings = runner.settings
    names = NAMES if args.name == "all" else () if args.name == "claims" else (args.name,)
    commit = source_commit()  # read before the runs: the code that trains them
    rows = []
    start = time.perf_counter()
    for name, report, fits in run_experiments(names, runner, out):
        rows.append([f"[{name}]({name}/report.md)", report.title, str(len(fits)),
                     f"{sum(f.seconds for f in {id(f.model): f for f in fits}.values()):.0f}"])
        print(f"\n{report.title}  ->  {out / name / 'report.md'}\n{text_table(report.columns, report.rows)}", flush=True)
    if args.name in ("claims", "all"):
        counts = write_ledger(out, settings)
        rows.append(["[claims](claims.md)", "What the lesson claims, and what we measured", "-", "-"])
    total = time.perf_counter() - start
    if args.name == "all":
        index = markdown_table(["experiment", "title", "runs", "fit seconds (sum over its runs)"], rows)
        write_text_atomically(out / "report.md", (
            f"# The lesson's exercises and homework\n\n`{command}` on {args.data} data, code at commit "
            f"{commit}: {total / 60:.1f} minutes of "
            f"wall time in all, {args.seeds} seeds, {len(runner.cache)} distinct runs (a run shared by experiments "
            f"is trained once; {runner.trained} trained by this command, {len(runner.cache) - runner.trained} read from "
            f"the runs an earlier command with the same settings saved under {out / 'runs'}), "
            f"{pool.n_workers} worker process(es) of {pool.n_threads} torch thread(s) each "
            f"({pool.executor} executor) on a machine with {machine_cores()} cores.\n\n{index}\n\n"
            "Every table gives means with 95% confidence intervals over seeds (Student t on the per-seed "
            "paired differences; ratios: t on log-ratios; accuracies and fractions inside [0, 1], times positive: "
            "each interval's method is named); every verdict comes from the rule in `experiments/stats.py`, "
            "margins and follow-ups in `experiments/decide.py` and `ledger/parts.py`.\n"))
    if args.name == "claims":
        print(f"ledger: {', '.join(f'{n} {v}' for v, n in counts.items())}  ->  {out / 'claims.md'}", flush=True)
    print(f"\nwall time: {total:.0f} s ({pool.n_workers} workers x {pool.n_threads} threads)", flush=True)


if __name__ == "__main__":
    sys.exit(main())
