"""The GPU check: one call of a few minutes on a lent GPU machine (``bash scripts/gpu_check.sh``).

Made for the lent machine's environment: whatever ``python3`` it has (torch, Lightning, pytest;
no TensorFlow, no Keras, no .venv, no network, nothing installed), the working tree, and the
dataset carried in a git-ignored folder (``make gpu-bundle`` fills ``data/gpu-bundle``). Every
step runs in its own process group with a time limit; a failed step is reported, not fatal.

| step     | timeout | what |
|----------|---------|------|
| env      |  30 s   | python, torch, CUDA device, Lightning versions; whether Keras is importable |
| pytest   |  70 s   | ``pytest -m gpu tests/test_gpu.py``: every norm on CUDA vs CPU, precision, uint8 data, SyncBN |
| train    |  60 s   | ``scripts/train.py``: the BN MLP, 3 epochs on the real data, on CUDA |
| syncbn   |  30 s   | ``tests/sync_bn_check.py``: SyncBatchNorm over 2 processes on one GPU vs BN on the global batch |
| bench    | 165 s   | ``scripts/bench.py --device cuda``: Lightning path vs plain loop, BN vs no norm, batch 32 and 128 |
| in all   | 355 s   | within the 6 minutes (BUDGET_S) that the device call is sized for |

The benchmark's JSON goes to ``reports/bench/gpu.json`` (the claims ledger's row 24 reads it).
Writes the table (``gpu_check.md``), the results (``gpu_check.json``) and the steps' output
(``gpu_check.log``) into ``--work``, and into ``$OUT`` when it is set (with ``bench_gpu.json``
and ``train_summary.json``). ``--rehearse``: the same steps on the CPU, smaller (hidden 64 32; train 1
epoch at batch 256; the bench at batch 256 for 1 epoch, its JSON kept in ``--work``; time limits x3), to find here every import or path error
the lent machine would hit (``scripts/gpu_rehearsal.py`` imitates that machine). Exit 0 when
every step passed, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 360
REHEARSAL_SLACK = 3  # the rehearsal's time limits: x3, for a small shared CPU (it checks code paths, not speed)
DATA_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
PROBE = """import json, sys, importlib.util as u
import torch, lightning, torchmetrics, torchvision
def found(name):
    try:
        return u.find_spec(name) is not None
    except ImportError:
        return False
cuda = torch.cuda.is_available()
print(json.dumps(dict(python=sys.version.split()[0], torch=torch.__version__, cuda=torch.version.cuda,
      device=torch.cuda.get_device_name(0) if cuda else "none (CPU)", lightning=lightning.__version__,
      torchmetrics=torchmetrics.__version__, torchvision=torchvision.__version__,
      keras=found("tensorflow") or found("keras"))))
"""


@dataclass
class Step:
    name: str
    timeout_s: int
    argv: list[str]
    what: str


def plan(rehearse: bool, data_dir: Path, work: Path) -> list[Step]:
    """The steps, their commands and time limits; ``rehearse`` swaps CUDA for the CPU and shrinks sizes."""
    py, device = sys.executable, "cpu" if rehearse else "cuda"
    bench_json = work / "bench.json" if rehearse else ROOT / "reports" / "bench" / "gpu.json"
    small = ["--hidden", "64", "32"] if rehearse else []  # the same code, a tenth of the arithmetic
    bench_sizes = ["--batch-sizes", "256", "--epochs", "1", "--warmup", "0", "--slices", "2", *small] if rehearse else \
        ["--batch-sizes", "32", "128"]
    return [
        Step("env", 30, [py, "-c", PROBE], "python, torch, device"),
        Step("pytest", 70, [py, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests/test_gpu.py"],
             "pytest -m gpu tests/test_gpu.py"),
        Step("train", 60, [py, "scripts/train.py", "--norm", "bn", "--accelerator", "cpu" if rehearse else "gpu",
                           "--devices", "1", "--data", "real", "--data-dir", str(data_dir),
                           "--epochs", "1" if rehearse else "3", "--batch-size", "256" if rehearse else "32", "--no-progress",
                           "--out", str(work / "train"), "--overwrite", *small],
             f"BN MLP, real data, {'1 epoch at batch 256, hidden 64 32' if rehearse else '3 epochs at batch 32'} on {device}"),
        Step("syncbn", 30, [py, "tests/sync_bn_check.py", "--device", device],
             "SyncBatchNorm, 2 processes on 1 GPU vs BN on the global batch"),
        Step("bench", 165, [py, "scripts/bench.py", "--device", device, "--norms", "bn", "none", *bench_sizes,
                            "--variants", "lightning", "torch", "--json", str(bench_json)],
             f"scripts/bench.py --device {device}: Lightning path vs plain loop, BN vs none -> {bench_json.name}"),
    ]


def run_step(step: Step, env: dict, log) -> tuple[int | None, str, float]:
    """Run one step in its own process group (a timeout ends its children too); its output goes
    to the console and the log. Returns (exit code or None on timeout, output, seconds)."""
    start = time.perf_counter()
    log.write(f"\n===== {step.name}: {' '.join(step.argv)}\n")
    proc = subprocess.Popen(step.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", start_new_session=True)
    lines: list[str] = []

    def copy() -> None:
        for line in proc.stdout:
            lines.append(line)
            sys.stdout.write(line)
            log.write(line)

    reader = threading.Thread(target=copy, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=step.timeout_s)
    except subprocess.TimeoutExpired:
        code = None
        for sig, grace in ((signal.SIGTERM, 10), (signal.SIGKILL, None)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(timeout=grace)
                break
            except subprocess.TimeoutExpired:
                continue
    reader.join(timeout=5)
    sys.stdout.flush()
    return code, "".join(lines), time.perf_counter() - start


def last_json(output: str) -> dict | None:
    for line in reversed(output.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def judge(step: Step, code: int | None, output: str, rehearse: bool, work: Path) -> tuple[bool, str, dict]:
    """(passed, one-line result, details for the JSON) of a finished step."""
    if code is None:
        return False, f"TIMEOUT after {step.timeout_s} s", {}
    tail = output.strip().splitlines()[-1] if output.strip() else ""
    if step.name == "env":
        info = last_json(output) or {}
        ok = code == 0 and bool(info) and (rehearse or info.get("device", "none").split()[0] != "none")
        return ok, (f"{info.get('device')}; python {info.get('python')}, torch {info.get('torch')} (CUDA {info.get('cuda')}), "
                    f"lightning {info.get('lightning')}" if info else f"FAILED: {tail}"), info
    if step.name == "pytest":
        return code == 0, ("passed: " if code == 0 else "FAILED: ") + tail.strip("= "), {"summary": tail}
    if step.name == "train":
        path = work / "train" / "summary.json"
        if code != 0 or not path.is_file():
            return False, f"FAILED (exit {code}): {tail}", {}
        s = json.loads(path.read_text())
        return True, (f"val acc {s['val_acc']:.4f}, test acc {s['test_acc']:.4f} after {s['epochs']} epoch(s); "
                      f"{s['seconds_per_epoch']:.2f} s/epoch (median)"), s
    if step.name == "syncbn":
        r = last_json(output) or {}
        if rehearse:  # torch's SyncBatchNorm refuses CPU tensors: the same script, its CPU answer
            ok = r.get("ok") is False and "error" in r
            return ok, (f"refused on the CPU, as torch does: {r['error'][:80]}" if ok else f"UNEXPECTED: {r or tail}"), r
        if "max_abs_diff" not in r:
            return False, f"FAILED: {r.get('error', tail)}", r
        worst = max(r["max_abs_diff"].values())
        return bool(r["ok"]) and code == 0, f"{'match' if r['ok'] else 'MISMATCH'}, max |diff| {worst:.1e} (tol {r['tolerance']})", r
    bench_json = Path(step.argv[step.argv.index("--json") + 1])
    if code != 0 or not bench_json.is_file():
        return False, f"FAILED (exit {code}): {tail}", {}
    return True, bench_summary(json.loads(bench_json.read_text())), {"json": str(bench_json)}


def bench_summary(report: dict) -> str:
    """a/b (Lightning over the plain loop) and BN/none (Lightning path) per batch size, from the bench's JSON."""
    median = {(r["norm"], r["batch_size"], r["variant"]): r["seconds_median"] for r in report["rows"]}
    parts = [f"a/b {r['norm']} {r['batch_size']}: {r['a_over_b']:.2f}" for r in report["ratios"] if r["a_over_b"]]
    for batch in sorted({r["batch_size"] for r in report["rows"]}):
        bn, none = median.get(("bn", batch, "lightning")), median.get(("none", batch, "lightning"))
        if bn and none:
            parts.append(f"BN/none {batch}: {bn / none:.2f} ({bn:.2f} / {none:.2f} s/epoch)")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rehearse", action="store_true", help="the same steps on the CPU, smaller (see above)")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "gpu-bundle",
                        help="the carried folder with the four Fashion-MNIST files (default %(default)s)")
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "gpu_check", help="scratch folder (default %(default)s)")
    args = parser.parse_args(argv)
    data_dir, work = args.data_dir.resolve(), args.work.resolve()
    missing = [n for n in DATA_FILES if not ((data_dir / n).is_file() or (data_dir / f"{n}.gz").is_file())]
    if missing:
        print(f"error: {data_dir} lacks {', '.join(missing)}; run `make gpu-bundle` and carry data/gpu-bundle "
              "(or pass --data-dir)", file=sys.stderr)
        return 2
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else None
    steps = plan(args.rehearse, data_dir, work)
    assert sum(s.timeout_s for s in steps) <= BUDGET_S
    if args.rehearse:
        steps = [replace(s, timeout_s=s.timeout_s * REHEARSAL_SLACK) for s in steps]
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p),
               PYTHONUNBUFFERED="1", FASHION_MNIST_DIR=str(data_dir))
    if args.rehearse:  # one thread per process: on a small shared CPU, OpenMP threads that wait for cores spin
        env.setdefault("OMP_NUM_THREADS", "1")
    mode = "REHEARSAL on the CPU (CUDA steps swapped for their CPU fallback, smaller sizes)" if args.rehearse else "GPU"
    print(f"[gpu_check] {mode}; {len(steps)} steps, {sum(s.timeout_s for s in steps)} s of time limits in all "
          f"(on the GPU {BUDGET_S} s at most); python {sys.executable}; data {data_dir}", flush=True)
    print("[gpu_check] skipped: every Keras part (the bench's Keras fit, parity, keras_ref): the lent machine has no "
          "TensorFlow or Keras", flush=True)
    results, start = [], time.perf_counter()
    with open(work / "gpu_check.log", "w") as log:
        for step in steps:
            print(f"[gpu_check +{time.perf_counter() - start:.0f}s] {step.name} (limit {step.timeout_s} s)", flush=True)
            code, output, seconds = run_step(step, env, log)
            ok, line, details = judge(step, code, output, args.rehearse, work)
            results.append(dict(step=step.name, what=step.what, timeout_s=step.timeout_s, seconds=round(seconds, 1),
                                exit_code=code, ok=ok, result=line, details=details))
            if step.name == "env" and not ok:
                print("[gpu_check] no CUDA device (or no torch) here: the other steps are skipped", flush=True)
                break
    total = time.perf_counter() - start
    table = format_table(results, mode, total)
    print("\n" + table, flush=True)
    report = dict(mode=mode, rehearse=args.rehearse, budget_s=BUDGET_S, wall_s=round(total, 1), ok=all(r["ok"] for r in results)
                  and len(results) == len(steps), steps=results)
    (work / "gpu_check.md").write_text(table + "\n")
    (work / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    if out is not None:
        copy_out(out, work, steps[-1])
    return 0 if report["ok"] else 1


def format_table(results: list[dict], mode: str, total: float) -> str:
    lines = [f"GPU check: {mode}", "", "| step | what | limit s | took s | result |", "|---|---|---|---|---|"]
    lines += [f"| {r['step']} | {r['what']} | {r['timeout_s']} | {r['seconds']:.0f} | {'' if r['ok'] else '**'}"
              f"{r['result']}{'' if r['ok'] else '**'} |" for r in results]
    lines.append(f"| in all | | {sum(r['timeout_s'] for r in results)} | {total:.0f} | "
                 f"{sum(r['ok'] for r in results)} of {len(results)} steps passed |")
    return "\n".join(lines)


def copy_out(out: Path, work: Path, bench: Step) -> None:
    """At most 5 files into $OUT (the device call brings back 8 at most)."""
    out.mkdir(parents=True, exist_ok=True)
    bench_json = Path(bench.argv[bench.argv.index("--json") + 1])
    for source, name in ((work / "gpu_check.md", None), (work / "gpu_check.json", None), (work / "gpu_check.log", None),
                         (bench_json, "bench_gpu.json"), (work / "train" / "summary.json", "train_summary.json")):
        if source.is_file():
            shutil.copyfile(source, out / (name or source.name))


if __name__ == "__main__":
    sys.exit(main())
