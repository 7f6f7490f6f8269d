"""The speed benchmark: one training epoch of (a) the project's Lightning path, (b) a minimal
hand-written torch loop and (c) Keras ``fit``, on the same MLP, data and batch size.

Every measurement has its own worker subprocess (``python parity/bench.py --worker JSON``: run
as a file, so the ``parity`` package, which loads both sides, is not imported), so that its peak
resident memory is its own and TensorFlow never shares a process with torch.

Epochs are interleaved in slices, because a shared machine's speed changes in phases of a few
seconds (seen here: 2x slower for 5-10 s, then back), about as long as one epoch: measured one
variant after another, even epoch by epoch, the ratios a/b and c/a would compare different
moments. For each (norm, batch size) the three workers start together and do their untimed
setup at once; then the orchestrator gives them turns, one worker computing at a time, over text
lines on the workers' stdin and stdout. Each epoch (warm-up ones too) runs in ``slices`` turns
of about 1/slices of its training batches; the clock stops between turns, so an epoch's time is
the sum of its slices, and every variant's slice k of epoch e lies next to the others':

    worker: READY             at an epoch's start or a slice boundary; then it blocks on stdin
    orchestrator: GO          run one slice
    worker: EPOCH <seconds>   after an epoch's last slice: the epoch's timed training part
    worker: READY             ... (after an epoch's untimed after-work: validation, checkpoint)
            or BENCH_RESULT {json}, then exits, after its last epoch

The next worker gets its GO only after the previous one's next READY (or its exit). Turn t
starts with the group's variant t mod 3; the group's own order rotates from one group to the
next (``plan``). The matmul throughput is measured before the first group and after the last.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

VARIANTS = ("lightning", "torch", "keras")  # (a), (b), (c) of issue 6
LABELS = {"lightning": "(a) Lightning, train.py path", "torch": "(b) hand-written torch loop", "keras": "(c) Keras fit"}
TARGETS = {"a/b": {32: 1.25, 128: 1.15}, "c/a": 1.6}  # a/b at most, per batch size; c/a at least
READY, GO, EPOCH_TAG, RESULT_TAG = "READY", "GO", "EPOCH ", "BENCH_RESULT "
SCHEDULE = ("Epochs interleaved: per (norm, batch) the variants took turns of 1/{slices} epoch, one computing at a "
            "time, the order rotating each turn; an epoch's time is the sum of its slices.")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class BenchConfig:
    norms: list[str] = field(default_factory=lambda: ["bn", "none", "ln"])
    batch_sizes: list[int] = field(default_factory=lambda: [32, 128])
    variants: list[str] = field(default_factory=lambda: list(VARIANTS))
    epochs: int = 3  # timed epochs per measurement (the median is reported)
    warmup: int = 1  # untimed epochs first
    hidden: list[int] = field(default_factory=lambda: [512, 256, 128, 64])
    data: str = "real"  # or "synthetic" (2,000 images: a smoke test)
    device: str = "auto"  # auto, cpu or cuda (Keras runs wherever TensorFlow runs)
    threads: int | None = None  # CPU threads of torch and TensorFlow; None: each library's default
    slices: int = 8  # turns per epoch (see the module's docstring)
    timeout_s: float = 600.0  # per line awaited from a worker: its setup, each slice with an epoch's after-work


# ---------------------------------------------------------------- the workers (one per subprocess)

class Gate:
    """The worker's end of the protocol. An epoch: ``start_epoch`` (wait for GO, clock on),
    ``pause`` at each of ``cuts(batches)`` (clock off, wait for GO, clock on), ``end_epoch``
    (clock off, send the epoch's seconds). ``sync`` waits for the device before each reading."""

    def __init__(self, channel, commands, slices: int = 1, sync=lambda: None) -> None:
        self.channel, self.commands, self.slices, self.sync = channel, commands, slices, sync
        self.elapsed, self.started = 0.0, 0.0

    def cuts(self, batches: int) -> set[int]:
        """The batch indices that start a new slice of an epoch of ``batches`` batches."""
        return {round(k * batches / self.slices) for k in range(1, self.slices)} - {0, batches}

    def start_epoch(self) -> None:
        self.sync()
        self.wait_for_go()
        self.elapsed, self.started = 0.0, time.perf_counter()

    def pause(self) -> None:
        self.sync()
        self.elapsed += time.perf_counter() - self.started
        self.wait_for_go()
        self.started = time.perf_counter()

    def end_epoch(self) -> float:
        self.sync()
        self.elapsed += time.perf_counter() - self.started
        self.send(f"{EPOCH_TAG}{self.elapsed!r}")
        return self.elapsed

    def wait_for_go(self) -> None:
        self.send(READY)
        line = self.commands.readline()
        if line.strip() != GO:  # "" is the orchestrator gone: stop, do not train unwatched
            raise SystemExit(f"bench worker: expected {GO} on stdin, got {line!r}")

    def send_result(self, result: dict) -> None:
        self.send(RESULT_TAG + json.dumps(result))

    def send(self, line: str) -> None:
        self.channel.write(line + "\n")
        self.channel.flush()


def train_flops_per_sample(hidden: list[int], in_features: int = 784, classes: int = 10) -> int:
    """Matmul FLOPs of one training sample: 2 per multiply-add, x3 for forward and backward.

    >>> train_flops_per_sample([512, 256, 128, 64]) // 6  # the 574,080 multiply-adds of REFERENCE.md
    574080
    """
    widths = [in_features, *hidden, classes]
    return 6 * sum(a * b for a, b in zip(widths, widths[1:]))


def _peak_rss_mb() -> float:
    import resource

    scale = 1024 if sys.platform != "darwin" else 1024 * 1024  # ru_maxrss: KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def _torch_device(device: str) -> str:
    import torch

    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def _train_split(data: str):
    """The 55,000 training images (uint8) and labels as torch tensors, or the synthetic ones."""
    from lightning_mods.data import load_real, load_synthetic

    return (load_real(download=False) if data == "real" else load_synthetic())["train"]


def run_lightning(job: dict, gate: Gate) -> dict:
    """(a): prepare -> make_trainer -> fit, as scripts/train.py runs it (CSV logging, metrics,
    checkpoints, progress bar, validation every epoch); timed from each epoch's first training
    step to the start of its validation, in slices that start in on_train_epoch_start and
    on_train_batch_start."""
    import lightning as L

    from lightning_mods.config import TrainConfig
    from lightning_mods.history import EpochHistory
    from lightning_mods.training import make_trainer, prepare

    device = _torch_device(job["device"])
    gate.sync = lambda: _sync(device)
    seconds: list[float] = []

    class EpochTimer(L.Callback):
        def on_train_epoch_start(self, trainer, pl_module) -> None:
            self.cuts, self.open = gate.cuts(trainer.num_training_batches), True
            gate.start_epoch()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
            if batch_idx in self.cuts:
                gate.pause()

        def on_validation_start(self, trainer, pl_module) -> None:
            self.stop()

        def on_train_epoch_end(self, trainer, pl_module) -> None:
            self.stop()  # no validation this epoch

        def stop(self) -> None:
            if self.open:
                seconds.append(gate.end_epoch())
                self.open = False

    with tempfile.TemporaryDirectory(prefix="bench-") as out:
        config = TrainConfig(norm=job["norm"], hidden=job["hidden"], batch_size=job["batch_size"], data=job["data"],
                             epochs=job["warmup"] + job["epochs"], out=out,
                             accelerator="gpu" if device == "cuda" else "cpu", devices="1")
        model, datamodule = prepare(config)
        images = len(datamodule.splits["train"])
        trainer = make_trainer(config, Path(out), EpochHistory(Path(out)))
        trainer.callbacks.append(EpochTimer())
        trainer.fit(model, datamodule=datamodule)
    return {"seconds": seconds[job["warmup"]:], "images": images, "device": device}


def run_torch(job: dict, gate: Gate) -> dict:
    """(b): the floor. Float images in memory on the device, a fresh permutation per epoch,
    slices of it as batches; the same net (build_net) and optimizer (make_optimizer)."""
    import torch
    from torch.nn import functional as F

    from lightning_mods.config import TrainConfig
    from lightning_mods.module import make_optimizer
    from lightning_mods.nets import build_net

    device = _torch_device(job["device"])
    gate.sync = lambda: _sync(device)
    torch.manual_seed(0)
    images, labels = _train_split(job["data"])
    x, y = images.to(device).float().div_(255), labels.to(device)
    net = build_net(TrainConfig(norm=job["norm"], hidden=job["hidden"]).net_config()).to(device).train()
    optimizer = make_optimizer("sgd", net.parameters(), None)
    batch_size, seconds = job["batch_size"], []
    cuts = gate.cuts(-(-len(y) // batch_size))
    for _ in range(job["warmup"] + job["epochs"]):
        gate.start_epoch()
        for step, idx in enumerate(torch.randperm(len(y), device=device).split(batch_size)):
            if step in cuts:
                gate.pause()
            loss = F.cross_entropy(net(x[idx]), y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds.append(gate.end_epoch())
    return {"seconds": seconds[job["warmup"]:], "images": len(y), "device": device}


def run_keras(job: dict, gate: Gate) -> dict:
    """(c): ``model.fit`` with Keras's defaults (SGD lr 0.01, shuffling, jit_compile="auto"),
    no progress bar; float images in memory as NumPy. Slices start in on_epoch_begin and
    on_train_batch_begin. Never imports torch."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    from keras_ref import build_mlp  # imports triton before TensorFlow; never torch

    keras.utils.set_random_seed(0)
    x, y = _numpy_train_split(job["data"])
    model = build_mlp(hidden_units=job["hidden"], norm=job["norm"])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    seconds: list[float] = []
    cuts = gate.cuts(-(-len(y) // job["batch_size"]))

    class EpochTimer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None) -> None:
            gate.start_epoch()

        def on_train_batch_begin(self, batch, logs=None) -> None:
            if batch in cuts:
                gate.pause()

        def on_epoch_end(self, epoch, logs=None) -> None:
            seconds.append(gate.end_epoch())

    model.fit(x, y, batch_size=job["batch_size"], epochs=job["warmup"] + job["epochs"], shuffle=True, verbose=0,
              callbacks=[EpochTimer()])
    return {"seconds": seconds[job["warmup"]:], "images": len(y), "device": "cpu (tensorflow)"}


def _numpy_train_split(data: str):
    """The training split as float32 NumPy in [0, 1], read without torch (this is the TF process)."""
    import gzip

    import numpy as np

    if data == "synthetic":  # the same recipe as lightning_mods.data.synthetic_split, in NumPy
        rng = np.random.default_rng(0)
        labels = rng.permutation(np.arange(2_000) % 10)
        templates = np.random.default_rng(1234).random((10, 28, 28))
        images = 0.35 * templates[labels] + 0.65 * rng.random((2_000, 28, 28))
        return images.astype("float32"), labels.astype("int64")
    folder = Path(os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    with gzip.open(folder / "train-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(folder / "train-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype("int64")
    return (images[:55_000] / np.float32(255)).astype("float32"), labels[:55_000]


def run_matmul(job: dict, gate: Gate) -> dict:
    """The machine's matmul throughput on this MLP's own shapes: per batch size, the forward,
    grad-input and grad-weight products of every layer, best of several timed rounds. One shot,
    no epochs: it never uses the gate."""
    import torch

    device = _torch_device(job["device"])
    widths = [784, *job["hidden"], 10]
    peaks = {}
    for batch in job["batch_sizes"]:
        mats = [(torch.randn(batch, a, device=device), torch.randn(b, a, device=device), torch.randn(batch, b, device=device))
                for a, b in zip(widths, widths[1:])]
        flops = 6 * batch * sum(a * b for a, b in zip(widths, widths[1:]))
        reps, best = 1, float("inf")
        for round_ in range(6):  # the first round only calibrates: later ones last about 0.2 s each
            if round_ == 1:
                reps = max(3, int(0.2 / best))
            _sync(device)
            start = time.perf_counter()
            for _ in range(reps):
                for x, w, g in mats:
                    x @ w.T, g @ w, g.T @ x  # forward, grad input, grad weight
            _sync(device)
            best = min(best, (time.perf_counter() - start) / reps)
        peaks[str(batch)] = flops / best / 1e9
    return {"gflops": peaks, "device": device, "threads": torch.get_num_threads()}


WORKERS = {"lightning": run_lightning, "torch": run_torch, "keras": run_keras, "matmul": run_matmul}


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
    result = WORKERS[job["variant"]](job, gate)
    result.update(job=job, peak_rss_mb=_peak_rss_mb())
    gate.send_result(result)
    return 0


# ---------------------------------------------------------------- the orchestrator

class WorkerProcess:
    """One worker subprocess: commands on its stdin, protocol lines from its stdout (read by a
    thread, so that waiting for a line can time out), stderr into a temporary file (so that no
    pipe fills up, and its tail can go into an error message)."""

    def __init__(self, name: str, argv: list[str], timeout_s: float) -> None:
        self.name, self.timeout_s = name, timeout_s
        self.stderr = tempfile.TemporaryFile("w+", prefix="bench-stderr-")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.stderr, text=True, bufsize=1)
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)  # end of file: the worker exited

    def send(self, command: str) -> None:
        try:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self.failure(f"exited (code {self.exit_code()}) before its {command}") from None

    def next_line(self, due: str) -> str:
        """The worker's next stdout line; a failure if it exits or stays silent past the timeout."""
        try:
            line = self.lines.get(timeout=self.timeout_s)
        except queue.Empty:
            raise self.failure(f"sent no {due} line within {self.timeout_s:g} s") from None
        if line is None:
            raise self.failure(f"exited (code {self.exit_code()}) before its {due} line")
        return line

    def expect(self, tag: str) -> str:
        """The rest of the next line that starts with ``tag``; other protocol lines are an error,
        other text is skipped."""
        while True:
            line = self.next_line(tag.strip())
            if line.startswith(tag):
                return line[len(tag):]
            if line.startswith((READY, EPOCH_TAG.strip(), RESULT_TAG.strip())):
                raise self.failure(f"sent {line[:80]!r} where {tag.strip()} was due")

    def take_turn(self) -> dict | None:
        """GO, then wait until the worker is idle again: None at its next READY, or its result
        (after it exited cleanly) at the end. EPOCH lines on the way are informative only."""
        self.send(GO)
        while True:
            line = self.next_line(f"{READY} or {RESULT_TAG.strip()}")
            if line == READY:
                return None
            if line.startswith(RESULT_TAG):
                result = json.loads(line[len(RESULT_TAG):])
                self.finish()
                return result

    def exit_code(self, wait_s: float = 10.0) -> int | None:
        try:
            return self.proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:  # its stdout closed, yet it runs on
            return None

    def finish(self) -> None:
        """Wait for the worker's exit (after its result line); a failure unless it exits with 0."""
        try:
            code = self.proc.wait(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            raise self.failure(f"did not exit within {self.timeout_s:g} s of its result") from None
        if code != 0:
            raise self.failure(f"exited with code {code}")

    def failure(self, what: str) -> RuntimeError:
        self.stderr.flush()
        self.stderr.seek(0)
        tail = self.stderr.read()[-3000:]
        return RuntimeError(f"bench worker {self.name} {what}; its stderr ends:\n{tail}")

    def close(self) -> None:
        """Kill the worker if it still runs, reap it and close its files."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                stream.close()
            except OSError:  # stdin of a killed worker: the flush of its buffer fails
                pass


def worker_argv(job: dict) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]


def worker_name(job: dict) -> str:
    return " ".join(str(job[key]) for key in ("variant", "norm", "batch_size") if key in job)


def run_worker(job: dict, timeout_s: float) -> dict:
    """Run one job that needs no GO (the matmul measurement) to its result line."""
    worker = WorkerProcess(worker_name(job), worker_argv(job), timeout_s)
    try:
        result = json.loads(worker.expect(RESULT_TAG))
        worker.finish()
        return result
    finally:
        worker.close()


def rotated(items: list, turn: int) -> list:
    turn %= len(items)
    return items[turn:] + items[:turn]


def interleave(workers: list[WorkerProcess], on_result: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Give the workers turns round-robin, one worker computing at a time, until each has sent its
    result; the results, in the workers' order. Turn t starts with worker t mod len(workers)."""
    for worker in workers:  # their setups ran at the same time: all must be done before any turn
        worker.expect(READY)
    results: list[dict | None] = [None] * len(workers)
    turn = 0
    while any(result is None for result in results):
        for index in rotated(list(range(len(workers))), turn):
            if results[index] is not None:
                continue
            results[index] = workers[index].take_turn()
            if results[index] is not None and on_result:
                on_result(index, results[index])
        turn += 1
    return results


def run_group(argvs: list[list[str]], names: list[str], timeout_s: float,
              on_result: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Start one worker per argv at once and interleave their turns; whatever happens, no worker
    outlives this call."""
    workers: list[WorkerProcess] = []
    try:
        for name, argv in zip(names, argvs):
            workers.append(WorkerProcess(name, argv, timeout_s))
        return interleave(workers, on_result)
    finally:
        for worker in workers:
            worker.close()


def plan(config: BenchConfig) -> list[list[dict]]:
    """One group of jobs per (batch, norm), one job per variant; the variant order rotates from
    one group to the next so that no variant always opens (or closes) the first round."""
    groups = []
    common = dict(hidden=config.hidden, data=config.data, device=config.device, epochs=config.epochs, warmup=config.warmup,
                  threads=config.threads, slices=config.slices)
    for batch_size in config.batch_sizes:
        for norm in config.norms:
            order = rotated(list(config.variants), len(groups))
            groups.append([dict(common, variant=v, norm=norm, batch_size=batch_size) for v in order])
    return groups


def run_jobs(group: list[dict], timeout_s: float, progress=print) -> list[dict]:
    """One group's measurements, interleaved; a progress line as each one ends."""
    def report(index: int, result: dict) -> None:
        job = group[index]
        progress(f"{job['norm']:5} batch {job['batch_size']:>4} {job['variant']:10} "
                 f"{statistics.median(result['seconds']):6.2f} s/epoch  "
                 f"(epochs: {', '.join(f'{s:.2f}' for s in result['seconds'])})")

    return run_group([worker_argv(job) for job in group], [worker_name(job) for job in group], timeout_s, on_result=report)


def summarize(results: list[dict], peaks: dict[str, float], hidden: list[int]) -> tuple[list[dict], list[dict]]:
    """Rows (one per measurement) and ratios (one per norm and batch size)."""
    flops = train_flops_per_sample(hidden)
    rows = []
    for r in results:
        job = r["job"]
        median = statistics.median(r["seconds"])
        gflops = flops * r["images"] / median / 1e9
        peak = peaks.get(str(job["batch_size"]))
        rows.append(dict(norm=job["norm"], batch_size=job["batch_size"], variant=job["variant"], device=r["device"],
                         seconds_median=median, seconds=r["seconds"], images=r["images"], images_per_s=r["images"] / median,
                         peak_rss_mb=r["peak_rss_mb"], gflops=gflops,
                         peak_fraction=gflops / peak if peak and job["variant"] != "keras" else None))
    ratios = []
    by_key = {(row["norm"], row["batch_size"], row["variant"]): row["seconds_median"] for row in rows}
    for norm, batch in dict.fromkeys((row["norm"], row["batch_size"]) for row in rows):
        a, b, c = (by_key.get((norm, batch, v)) for v in VARIANTS)
        entry = dict(norm=norm, batch_size=batch, a_over_b=a / b if a and b else None, c_over_a=c / a if a and c else None)
        limit = TARGETS["a/b"].get(batch)
        entry["a_over_b_ok"] = None if entry["a_over_b"] is None or limit is None else entry["a_over_b"] <= limit
        entry["c_over_a_ok"] = None if entry["c_over_a"] is None else entry["c_over_a"] >= TARGETS["c/a"]
        ratios.append(entry)
    return rows, ratios


def format_table(report: dict) -> str:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [f"matmul throughput on the layer shapes, best of start and end ({report['matmul']['device']}, "
             f"{report['matmul']['threads']} threads): "
             + ", ".join(f"batch {b}: {g:.1f} GFLOP/s" for b, g in report["matmul"]["gflops"].items())]
    head = f"{'norm':5} {'batch':>5}  {'variant':30} {'s/epoch':>8} {'images/s':>9} {'peak RSS':>9} {'GFLOP/s':>8} {'% matmul':>8}"
    lines += [head, "-" * len(head)]
    for row in report["rows"]:
        lines.append(f"{row['norm']:5} {row['batch_size']:>5}  {LABELS[row['variant']]:30} {row['seconds_median']:8.2f} "
                     f"{row['images_per_s']:9.0f} {row['peak_rss_mb']:6.0f} MB {row['gflops']:8.1f} "
                     f"{fmt(row['peak_fraction'] and 100 * row['peak_fraction'], '7.0f'):>7}%")
    lines += ["", f"{'norm':5} {'batch':>5}  {'a/b':>6} {'target':>7}  {'c/a':>6} {'target':>7}"]
    for r in report["ratios"]:
        limit = TARGETS["a/b"].get(r["batch_size"])
        ok = {True: "ok", False: "MISS", None: ""}
        lines.append(f"{r['norm']:5} {r['batch_size']:>5}  {fmt(r['a_over_b'], '6.2f')} {'<= ' + str(limit) if limit else '':>7} "
                     f"{ok[r['a_over_b_ok']]:4} {fmt(r['c_over_a'], '6.2f')} {'>= ' + str(TARGETS['c/a']):>7} {ok[r['c_over_a_ok']]}")
    m = report["machine"]
    lines.append(f"\n{m['cpus']} CPUs, load average {m['load_before'][0]:.2f} before / {m['load_after'][0]:.2f} after; "
                 f"{report['wall_s']:.0f} s in all; timed epochs per measurement {report['config']['epochs']} "
                 f"(median) after {report['config']['warmup']} warm-up")
    if report.get("schedule"):
        lines.append(report["schedule"])
    return "\n".join(lines)


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
    rows, ratios = summarize(results, matmul["gflops"], config.hidden)
    machine = dict(cpus=os.cpu_count(), processor=platform.processor() or platform.machine(), python=platform.python_version(),
                   load_before=load_before, load_after=os.getloadavg())
    return dict(config=asdict(config), machine=machine, matmul=matmul, rows=rows, ratios=ratios,
                schedule=SCHEDULE.format(slices=config.slices),
                wall_s=time.perf_counter() - start)


if __name__ == "__main__":
    if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
        sys.path[0] = str(ROOT)  # this file's folder would shadow top-level names; the project root instead
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        sys.exit(worker_main(sys.argv[2]))
    sys.exit("usage: python parity/bench.py --worker JOB_JSON (the benchmark itself is scripts/bench.py)")
