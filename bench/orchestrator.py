"""The benchmark run: the plan of groups, their interleaved measurements, the matmul throughput.

Epochs are interleaved in slices, because a shared machine's speed changes in phases of a few
seconds (seen here: 2x slower for 5-10 s, then back), about as long as one epoch: measured one
variant after another, even epoch by epoch, the ratios a/b and c/a would compare different
moments. For each (norm, batch size) the three workers start together and do their untimed
setup at once; then they take turns, one worker computing at a time (``bench.protocol``), and
every variant's slice k of epoch e lies next to the others'. Turn t starts with the group's
variant t mod 3; the group's own order rotates from one group to the next (``plan``). The
matmul throughput is measured before the first group and after the last.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict

from bench.config import BenchConfig
from bench.processes import WorkerProcess, rotated, run_group
from bench.protocol import RESULT_TAG
from bench.table import summarize

SCHEDULE = ("Epochs interleaved: per (norm, batch) the variants took turns of 1/{slices} epoch, one computing at a "
            "time, the order rotating each turn; an epoch's time is the sum of its slices.")


def worker_argv(job: dict) -> list[str]:
    return [sys.executable, "-m", "bench.workers", json.dumps(job)]


def variant_label(job: dict) -> str:
    """The job's variant, ``mlp lightning`` for the MLP timed beside another net."""
    return f"mlp {job['variant']}" if job.get("reference") else job["variant"]


def worker_name(job: dict) -> str:
    return " ".join([variant_label(job), *(str(job[key]) for key in ("norm", "batch_size") if key in job)])


def run_worker(job: dict, timeout_s: float) -> dict:
    """Run one job that needs no GO (the matmul measurement) to its result line."""
    worker = WorkerProcess(worker_name(job), worker_argv(job), timeout_s)
    try:
        result = json.loads(worker.expect(RESULT_TAG))
        worker.finish()
        return result
    finally:
        worker.close()


def plan(config: BenchConfig) -> list[list[dict]]:
    """One group of jobs per (batch, norm), one job per variant; the variant order rotates from
    one group to the next so that no variant always opens (or closes) the first round. For a net
    other than the MLP each group also holds the MLP's Lightning path with the same norm and batch
    (``reference``): the net's epoch over the MLP's, measured side by side."""
    groups = []
    common = dict(arch=config.arch, hidden=config.hidden, data=config.data, device=config.device, epochs=config.epochs, warmup=config.warmup,
                  threads=config.threads, slices=config.slices)
    for batch_size in config.batch_sizes:
        for norm in config.norms:
            jobs = [dict(common, variant=v, norm=norm, batch_size=batch_size) for v in config.variants]
            if config.arch != "mlp":
                jobs.append(dict(common, arch="mlp", variant="lightning", norm=norm, batch_size=batch_size, reference=True))
            groups.append(rotated(jobs, len(groups)))
    return groups


def run_jobs(group: list[dict], timeout_s: float, progress=print) -> list[dict]:
    """One group's measurements, interleaved; a progress line as each one ends."""
    def report(index: int, result: dict) -> None:
        job = group[index]
        progress(f"{job['norm']:5} batch {job['batch_size']:>4} {variant_label(job):14} "
                 f"{statistics.median(result['seconds']):6.2f} s/epoch  "
                 f"(epochs: {', '.join(f'{s:.2f}' for s in result['seconds'])})")

    return run_group([worker_argv(job) for job in group], [worker_name(job) for job in group], timeout_s, on_result=report)


def run_bench(config: BenchConfig, progress=print) -> dict:
    start, load_before = time.perf_counter(), os.getloadavg()
    matmul_job = dict(variant="matmul", hidden=config.hidden, batch_sizes=config.batch_sizes, device=config.device,
                      threads=config.threads)
    matmul = run_worker(matmul_job, config.timeout_s)
    results = []
    for group in plan(config):  # no worker runs while the matmul throughput is measured
        results += run_jobs(group, config.timeout_s, progress)
    # Measured again at the end, the best of both: a busy moment on a shared machine lowers one.
    matmul["gflops"] = {b: max(g, run_worker(matmul_job, config.timeout_s)["gflops"][b]) for b, g in matmul["gflops"].items()}
    rows, ratios = summarize(results, matmul["gflops"], config.hidden, config.arch)
    machine = dict(cpus=os.cpu_count(), processor=platform.processor() or platform.machine(), python=platform.python_version(),
                   load_before=load_before, load_after=os.getloadavg())
    return dict(config=asdict(config), machine=machine, matmul=matmul, rows=rows, ratios=ratios,
                schedule=SCHEDULE.format(slices=config.slices),
                wall_s=time.perf_counter() - start)
