"""The benchmark's workers, one module per variant, each with ``run(job, gate) -> result``; a
worker process (``python -m bench.workers JOB_JSON``) imports only its own variant's module, and
that module imports its own framework only when it runs."""

from __future__ import annotations

import importlib
import json
import os
import sys

from bench.protocol import Gate

MODULES = {"lightning": "lightning_path", "torch": "torch_loop", "keras": "keras_fit", "matmul": "matmul"}


def peak_rss_mb() -> float:
    import resource

    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def set_threads(variant: str, threads: int | None) -> None:
    """Give torch (or TensorFlow, in the Keras process) ``threads`` CPU threads, before any work."""
    if not threads:
        return
    if variant == "keras":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    else:
        import torch

        torch.set_num_threads(threads)


def claim_stdout():
    """The worker's stdout as a channel for protocol lines alone; what the libraries print there
    (Lightning's progress bar and notices) goes to stderr instead."""
    sys.stdout.flush()
    channel = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    return channel



def worker_main(job_json: str) -> int:
    job = json.loads(job_json)
    gate = Gate(claim_stdout(), sys.stdin, slices=job.get("slices", 1))
    set_threads(job["variant"], job.get("threads"))
    worker = importlib.import_module(f"bench.workers.{MODULES[job['variant']]}")
    result = worker.run(job, gate)
    result.update(job=job, peak_rss_mb=peak_rss_mb())
    gate.send_result(result)
    return 0
