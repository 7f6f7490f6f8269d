"""The speed benchmark: its plan and arithmetic, the round-robin driver (on fake workers), and
one tiny end-to-end run of scripts/bench.py."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench import VARIANTS, BenchConfig, format_table
from bench.orchestrator import SCHEDULE, plan
from bench.processes import run_group
from bench.protocol import Gate
from bench.table import summarize, train_flops_per_sample


def test_plan_groups_every_job_by_norm_and_batch_and_rotates_the_variant_order():
    config = BenchConfig(norms=["bn", "none", "ln"], batch_sizes=[32, 128])
    groups = plan(config)
    assert len(groups) == 2 * 3
    for group in groups:  # one (norm, batch) per group, every variant once
        assert len({(j["norm"], j["batch_size"]) for j in group}) == 1
        assert sorted(j["variant"] for j in group) == sorted(VARIANTS)
    keys = [(j["norm"], j["batch_size"], j["variant"]) for group in groups for j in group]
    assert len(keys) == len(set(keys)) == 3 * 2 * 3
    assert {group[0]["variant"] for group in groups} == set(VARIANTS)  # no variant always opens a round
    assert all(j["epochs"] == config.epochs and j["warmup"] == config.warmup for group in groups for j in group)


def test_plan_carries_the_arch_to_every_job_and_times_the_mlp_beside_any_other_net():
    assert {j["arch"] for group in plan(BenchConfig()) for j in group} == {"mlp"}
    assert not any(j.get("reference") for group in plan(BenchConfig()) for j in group)
    groups = plan(BenchConfig(arch="cnn", norms=["gn", "bn"], batch_sizes=[128]))
    for group in groups:  # the three variants of the CNN, and the MLP's Lightning path with the same norm and batch
        assert sorted((j["arch"], j["variant"]) for j in group) == sorted([("cnn", v) for v in VARIANTS] + [("mlp", "lightning")])
        [reference] = [j for j in group if j.get("reference")]
        assert reference["arch"] == "mlp" and {(j["norm"], j["batch_size"]) for j in group} == {(reference["norm"], 128)}
    assert groups[0][0] != groups[1][0]  # the order rotates with the reference job in it


# A fake worker on the READY / GO / EPOCH protocol: it logs, to a file shared by all, when it is
# busy (from GO to its next READY, after-work included) and its pid, then reports its epochs.
FAKE_WORKER = r"""
import json, os, sys, time
name, log, rounds, fail_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
def note(*words):
    with open(log, "a") as f:
        f.write(" ".join(map(str, (name, *words))) + "\n")
note("pid", os.getpid())
time.sleep(0.1)  # setup: the workers' setups run at the same time
seconds = []
for epoch in range(rounds):
    print("noise: libraries print too", flush=True)
    print("READY", flush=True)
    assert sys.stdin.readline().strip() == "GO"
    if epoch == fail_at:
        sys.exit("fake worker " + name + " breaks down")
    start = time.monotonic()
    time.sleep(0.03)  # the timed epoch
    seconds.append(time.monotonic() - start)
    print("EPOCH", seconds[-1], flush=True)
    time.sleep(0.03)  # untimed after-work: it must not overlap another worker's epoch either
    note("busy", epoch, repr(start), repr(time.monotonic()))
print("BENCH_RESULT " + json.dumps({"name": name, "seconds": seconds}), flush=True)
"""


def fake_group(log: Path, rounds: int, names=("a", "b", "c"), fail: dict | None = None) -> list[list[str]]:
    fail = fail or {}
    return [[sys.executable, "-c", FAKE_WORKER, name, str(log), str(rounds), str(fail.get(name, -1))] for name in names]


def logged(log: Path, kind: str) -> list[list[str]]:
    return [line.split() for line in log.read_text().splitlines() if line.split()[1] == kind]


def test_round_robin_runs_one_worker_at_a_time_rotates_the_order_and_collects_results(tmp_path):
    log, rounds, names = tmp_path / "log", 4, ["a", "b", "c"]
    finished = []
    results = run_group(fake_group(log, rounds), names, timeout_s=30,
                        on_result=lambda index, result: finished.append(names[index]))
    assert [r["name"] for r in results] == names  # in the workers' order, whoever finished first
    assert all(len(r["seconds"]) == rounds for r in results)
    busy = sorted((float(start), float(end), name, int(epoch)) for name, _, epoch, start, end in logged(log, "busy"))
    assert len(busy) == 3 * rounds
    for (_, end, *_), (start, *_) in zip(busy, busy[1:]):
        assert end <= start  # no two workers computed at once, after-work included
    order = [name for _, _, name, _ in busy]
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]  # round r starts with worker r mod 3
    assert [epoch for *_, epoch in busy] == [r for r in range(rounds) for _ in names]  # epoch k next to epoch k
    assert finished == ["a", "b", "c"]


def assert_all_gone(log: Path) -> None:
    for _, _, pid in logged(log, "pid"):
        with pytest.raises(ProcessLookupError):
            os.kill(int(pid), 0)  # killed and reaped: no orphan


def test_a_worker_that_dies_stops_the_group_with_its_stderr(tmp_path):
    log = tmp_path / "log"
    with pytest.raises(RuntimeError, match=r"(?s)bench worker b exited \(code 1\) before its READY or BENCH_RESULT line.*breaks down"):
        run_group(fake_group(log, 3, fail={"b": 1}), ["a", "b", "c"], timeout_s=30)
    assert_all_gone(log)


def test_a_silent_worker_times_out_and_the_group_is_killed(tmp_path):
    log = tmp_path / "log"
    argvs = fake_group(log, 2, names=("a", "b"))
    argvs[1] = [sys.executable, "-c", "import os, sys, time; open(sys.argv[1], 'a').write(f'z pid {os.getpid()}\\n');"
                " print('starting', file=sys.stderr, flush=True); time.sleep(60)", str(log)]
    with pytest.raises(RuntimeError, match=r"(?s)bench worker z sent no READY line within 1 s.*starting"):
        run_group(argvs, ["a", "z"], timeout_s=1)
    assert_all_gone(log)


class SlowCommands:
    """The orchestrator's side of a Gate: every GO takes ``delay`` seconds to come."""

    def __init__(self, delay: float) -> None:
        self.delay, self.sent = delay, 0

    def readline(self) -> str:
        time.sleep(self.delay)
        self.sent += 1
        return "GO\n"


def test_gate_cuts_an_epoch_into_slices_and_times_only_the_work():
    assert Gate(None, None, slices=8).cuts(27) == {3, 7, 10, 14, 17, 20, 24}  # 7 cuts: 8 slices of 3-4 batches
    assert Gate(None, None, slices=8).cuts(2) == {1}  # fewer batches than slices: one slice per batch
    channel, commands = io.StringIO(), SlowCommands(0.2)
    gate = Gate(channel, commands, slices=2)
    gate.start_epoch()
    time.sleep(0.05)
    gate.pause()  # the 0.2 s wait for the next GO is not the epoch's time
    time.sleep(0.05)
    seconds = gate.end_epoch()
    assert 0.1 <= seconds < 0.2 and commands.sent == 2
    assert channel.getvalue().splitlines() == ["READY", "READY", f"EPOCH {seconds!r}"]


def test_flops_count_the_linear_layers_forward_and_backward():
    # [2] hidden: 784*2 + 2*10 multiply-adds; 2 FLOPs each, x3 for forward + backward
    assert train_flops_per_sample([2]) == 6 * (784 * 2 + 2 * 10)


def fake_result(variant: str, seconds: list[float], batch: int = 32) -> dict:
    return {"job": {"variant": variant, "norm": "bn", "batch_size": batch}, "seconds": seconds, "images": 1000,
            "device": "cpu", "peak_rss_mb": 100.0}


def test_summarize_takes_medians_and_ratios_and_checks_targets():
    results = [fake_result("lightning", [1.08, 9.0, 1.05]), fake_result("torch", [1.0, 1.0, 1.0]),
               fake_result("keras", [2.4, 2.2, 2.3])]
    rows, ratios = summarize(results, {"32": 100.0}, [2])
    lightning = rows[0]
    assert lightning["seconds_median"] == pytest.approx(1.08)  # the outlier epoch does not count
    assert lightning["images_per_s"] == pytest.approx(1000 / 1.08)
    assert lightning["gflops"] == pytest.approx(train_flops_per_sample([2]) * 1000 / 1.08 / 1e9)
    assert lightning["peak_fraction"] == pytest.approx(lightning["gflops"] / 100.0)
    (ratio,) = ratios
    assert ratio["a_over_b"] == pytest.approx(1.08) and ratio["a_over_b_ok"] is True  # <= 1.10 at batch 32
    assert ratio["extra_ms_per_step"] == pytest.approx(1e3 * 0.08 / 32)  # 1,000 images: 32 steps of 32
    assert ratio["c_over_a"] == pytest.approx(2.3 / 1.08) and ratio["c_over_a_ok"] is True
    rows, ratios = summarize([fake_result("lightning", [1.3]), fake_result("torch", [1.0])], {}, [2])
    assert ratios[0]["a_over_b_ok"] is False and ratios[0]["c_over_a"] is None
    rows, ratios = summarize([fake_result("lightning", [1.3])], {}, [2])
    assert ratios[0]["extra_ms_per_step"] is None  # no plain loop to compare with


def test_a_net_beside_the_mlp_gets_its_epoch_over_the_mlps():
    reference = fake_result("lightning", [1.0])
    reference["job"].update(arch="mlp", reference=True)
    results = [fake_result("lightning", [4.5]), fake_result("torch", [4.4]), fake_result("keras", [6.0]), reference]
    rows, (ratio,) = summarize(results, {}, [2], arch="cnn")
    assert [(row["arch"], row["reference"]) for row in rows] == [("cnn", False)] * 3 + [("mlp", True)]
    assert rows[-1]["gflops"] is not None and rows[0]["gflops"] is None  # FLOPs are counted for the MLP only
    assert ratio["a_over_b"] == pytest.approx(4.5 / 4.4)  # the reference is not the net's own Lightning row
    assert ratio["a_over_mlp"] == pytest.approx(4.5) and ratio["a_over_mlp_ok"] is True
    reference["seconds"] = [0.8]
    assert summarize(results, {}, [2], arch="cnn")[1][0]["a_over_mlp_ok"] is False  # 5.6x: above the ~5x goal
    assert summarize(results[:3], {}, [2], arch="cnn")[1][0]["a_over_mlp"] is None


@pytest.mark.slow  # four fresh interpreters (torch, Lightning, TensorFlow): about half a minute
def test_bench_script_quick_run_writes_table_and_json(tmp_path):
    out, root = tmp_path / "bench.json", Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "scripts/bench.py", "--quick", "--json", str(out)], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert {row["variant"] for row in report["rows"]} == set(VARIANTS)
    for row in report["rows"]:
        assert row["images"] == 2_000 and len(row["seconds"]) == 1 and row["seconds_median"] > 0
        assert row["peak_rss_mb"] > 50  # an interpreter with torch or TensorFlow loaded
    (ratio,) = report["ratios"]
    assert ratio["a_over_b"] > 0 and ratio["c_over_a"] > 0
    assert report["matmul"]["gflops"]["64"] > 0
    printed = proc.stdout
    assert "a/b" in printed and "(c) Keras fit" in printed
    assert format_table(report) in printed and SCHEDULE.format(slices=8) in printed
