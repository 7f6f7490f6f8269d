"""The arithmetic of the results (medians, achieved GFLOP/s, the ratios a/b and c/a against their
targets) and the printed table."""

from __future__ import annotations

import statistics

from bench.config import VARIANTS

LABELS = {"lightning": "(a) Lightning, train.py path", "torch": "(b) hand-written torch loop", "keras": "(c) Keras fit"}
TARGETS = {"a/b": {32: 1.10, 128: 1.10}, "c/a": 1.6}  # a/b at most, per batch size (issue 30); c/a at least
C_OVER_A = {"mlp": 1.6, "cnn": 1.3, "lenet": 1.3, "vit": 1.3}  # c/a at least, per net (issue 26: 1.3 for the vision nets)
VS_MLP = 5.0  # a vision net's Lightning epoch over the MLP's, at most (issue 26: "at most ~5x the MLP's")
REFERENCE_LABEL = "(m) MLP, Lightning path"


def train_flops_per_sample(hidden: list[int], in_features: int = 784, classes: int = 10) -> int:
    """Matmul FLOPs of one training sample: 2 per multiply-add, x3 for forward and backward.

    >>> train_flops_per_sample([512, 256, 128, 64]) // 6  # the 574,080 multiply-adds of REFERENCE.md
    574080
    """
    widths = [in_features, *hidden, classes]
    return 6 * sum(a * b for a, b in zip(widths, widths[1:]))


def extra_ms_per_step(a: float | None, b: float | None, images: int, batch_size: int) -> float | None:
    """Lightning's extra cost per optimizer step in ms: (a - b) seconds over the epoch's steps.

    >>> round(extra_ms_per_step(8.55, 6.49, 55_000, 32), 3)  # 1,719 steps
    1.198
    """
    if not (a and b):
        return None
    return 1e3 * (a - b) / -(-images // batch_size)


def summarize(results: list[dict], peaks: dict[str, float], hidden: list[int],
              arch: str = "mlp") -> tuple[list[dict], list[dict]]:
    """Rows (one per measurement) and ratios (one per norm and batch size). Achieved GFLOP/s only for
    the MLP, whose matmul FLOPs ``train_flops_per_sample`` counts (None for the other nets). A
    ``reference`` job (the MLP measured beside another net) is a row of its own, and the ratio a/m:
    the net's Lightning epoch over the MLP's."""
    c_target = C_OVER_A[arch]
    rows = []
    for r in results:
        job = r["job"]
        reference = bool(job.get("reference"))
        median = statistics.median(r["seconds"])
        mlp = arch == "mlp" or reference
        gflops = train_flops_per_sample(hidden) * r["images"] / median / 1e9 if mlp else None
        peak = peaks.get(str(job["batch_size"]))
        rows.append(dict(norm=job["norm"], batch_size=job["batch_size"], variant=job["variant"], device=r["device"],
                         arch="mlp" if reference else arch, reference=reference,
                         seconds_median=median, seconds=r["seconds"], images=r["images"], images_per_s=r["images"] / median,
                         peak_rss_mb=r["peak_rss_mb"], gflops=gflops,
                         peak_fraction=gflops / peak if gflops and peak and job["variant"] != "keras" else None))
    ratios = []
    by_key = {(row["norm"], row["batch_size"], row["variant"]): row["seconds_median"] for row in rows if not row["reference"]}
    mlp_a = {(row["norm"], row["batch_size"]): row["seconds_median"] for row in rows if row["reference"]}
    images = {(row["norm"], row["batch_size"]): row["images"] for row in rows}
    for norm, batch in dict.fromkeys((row["norm"], row["batch_size"]) for row in rows):
        a, b, c = (by_key.get((norm, batch, v)) for v in VARIANTS)
        m = mlp_a.get((norm, batch))
        entry = dict(norm=norm, batch_size=batch, a_over_b=a / b if a and b else None, c_over_a=c / a if a and c else None,
                     extra_ms_per_step=extra_ms_per_step(a, b, images[norm, batch], batch), c_over_a_target=c_target,
                     a_over_mlp=a / m if a and m else None)
        entry["a_over_mlp_ok"] = None if entry["a_over_mlp"] is None else entry["a_over_mlp"] <= VS_MLP
        limit = TARGETS["a/b"].get(batch)
        entry["a_over_b_ok"] = None if entry["a_over_b"] is None or limit is None else entry["a_over_b"] <= limit
        entry["c_over_a_ok"] = None if entry["c_over_a"] is None else entry["c_over_a"] >= c_target
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
        label = REFERENCE_LABEL if row.get("reference") else LABELS[row["variant"]]
        lines.append(f"{row['norm']:5} {row['batch_size']:>5}  {label:30} {row['seconds_median']:8.2f} "
                     f"{row['images_per_s']:9.0f} {row['peak_rss_mb']:6.0f} MB {fmt(row['gflops'], '8.1f'):>8} "
                     f"{fmt(row['peak_fraction'] and 100 * row['peak_fraction'], '7.0f'):>7}%")
    vs_mlp = any(r.get("a_over_mlp") is not None for r in report["ratios"])
    lines += ["", f"{'norm':5} {'batch':>5}  {'a/b':>6} {'target':>7}       {'(a-b)/step':>10}  {'c/a':>6} {'target':>7}     "
              + (f"{'a/m':>6} {'target':>7}" if vs_mlp else "")]
    ok = {True: "ok", False: "MISS", None: ""}
    for r in report["ratios"]:
        limit = TARGETS["a/b"].get(r["batch_size"])
        extra = fmt(r.get("extra_ms_per_step"), "7.3f")
        lines.append(f"{r['norm']:5} {r['batch_size']:>5}  {fmt(r['a_over_b'], '6.2f')} {'<= ' + str(limit) if limit else '':>7} "
                     f"{ok[r['a_over_b_ok']]:4} {extra:>7} ms  {fmt(r['c_over_a'], '6.2f')} {'>= ' + str(r.get('c_over_a_target', TARGETS['c/a'])):>7} "
                     f"{ok[r['c_over_a_ok']]:4}"
                     + (f" {fmt(r.get('a_over_mlp'), '6.2f')} {'<= ' + str(VS_MLP):>7} {ok[r.get('a_over_mlp_ok')]}" if vs_mlp else ""))
    lines.append("(a-b)/step: Lightning's extra time per optimizer step, (a - b) s/epoch over the epoch's optimizer steps")
    if vs_mlp:
        lines.append("a/m: this net's Lightning epoch over the MLP's (m), the same norm and batch, measured in the same turns")
    m = report["machine"]
    lines.append(f"\n{m['cpus']} CPUs, load average {m['load_before'][0]:.2f} before / {m['load_after'][0]:.2f} after; "
                 f"{report['wall_s']:.0f} s in all; timed epochs per measurement {report['config']['epochs']} "
                 f"(median) after {report['config']['warmup']} warm-up")
    if report.get("schedule"):
        lines.append(report["schedule"])
    return "\n".join(lines)
