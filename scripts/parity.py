"""Print the Keras-vs-torch parity report; exit 1 if any checked line fails.

    python scripts/parity.py                    # the real [512, 256, 128, 64] MLP and the LSTM
    python scripts/parity.py --hidden 64 32     # a quicker run on a smaller MLP

Each line: the largest absolute / relative difference (``parity.compare`` defines relative)
of the logits in training and inference mode (float32), of every weight and moving statistic
and the inference logits after the SGD steps (float64 unless ``--sgd-dtype float32``), the
torch-vs-torch control, the tolerances the line was held to, and PASS/FAIL.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and `import parity` would import
# this very file (scripts/parity.py): put the repository root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import parity  # noqa: E402,F401  (torch side, then Keras side)
from lightning_mods.cli import OneLineParser, count_problem
from lightning_mods.errors import EXIT_USAGE, UsageError
from lightning_mods.norms import ACTIVATIONS, NORMS, PLACEMENTS, check_groups
from parity.compare import (FORWARD_RTOL, SGD_RTOL, Diff, PairReport, compare_pair, lstm_bias_step,
                            moving_variance_step)
from parity.compare_vision import compare_vision, vision_rows
from parity.conventions import NetSpec, format_table, matched_pair, raw_defaults_pair

HEADER = (f"{'net':<24} {'train fwd':>17} {'eval fwd':>17} {'weights@N':>17} {'moving@N':>17} "
          f"{'logits@N':>17} {'control':>8}  tol fwd/sgd  result")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(description="Keras-vs-torch parity report (exit 1 if a line fails)")
    p.add_argument("--hidden", type=int, nargs="+", default=[512, 256, 128, 64], help="MLP hidden widths")
    p.add_argument("--groups", type=int, default=8,
                   help="GroupNorm groups in the MLP table (8: see the chaos section for 32)")
    p.add_argument("--lstm-groups", type=int, default=4, help="GroupNorm groups on the LSTM's 28 input features")
    p.add_argument("--lstm-units", type=int, default=128)
    p.add_argument("--steps", type=int, default=20, help="SGD steps before comparing weights")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--sgd-dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--activations", nargs="+", choices=ACTIVATIONS, default=list(ACTIVATIONS),
                   help="MLP activations in the main table (default: all)")
    p.add_argument("--skip-extras", action="store_true", help="only the main table")
    return p


def cell(d: Diff | None) -> str:
    return f"{'-':>17}" if d is None else f"{d.abs:8.1e}/{d.rel:8.1e}"


def line(name: str, r: PairReport, verdict: str | None = None) -> str:
    verdict = verdict or ("PASS" if r.passed else "FAIL")
    return (f"{name:<24} {cell(r.train)} {cell(r.eval)} {cell(r.weights)} {cell(r.moving)} "
            f"{cell(r.eval_after)} {r.control.rel if r.control else float('nan'):8.1e}  {FORWARD_RTOL:.0e}/{SGD_RTOL:.0e}  {verdict}")


def main_table(args, run) -> bool:
    """Every norm x placement x activation of the MLP, the LSTM with each input norm, every vision net x norm."""
    ok = True
    print(HEADER)
    for norm, placement, activation in itertools.product(NORMS, PLACEMENTS, args.activations):
        spec = NetSpec(norm=norm, placement=placement, activation=activation, hidden_units=args.hidden,
                       groups=args.groups)
        r = run(spec)
        ok &= r.passed
        print(line(f"mlp {norm} {placement} {activation}", r), flush=True)
    for norm in NORMS:
        r = run(NetSpec(arch="lstm", norm=norm, lstm_units=args.lstm_units, groups=args.lstm_groups))
        ok &= r.passed
        print(line(f"lstm {norm}", r), flush=True)
    for name, config, kwargs in vision_rows():  # the CNN, BN-LeNet (GN: 2 groups) and ViT
        r = compare_vision(config, kwargs, steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr,
                           sgd_dtype=args.sgd_dtype)
        ok &= r.passed
        print(line(name, r), flush=True)
    return ok


def extras(args, run) -> bool:
    """The differences by design, shown and checked: each raw pair must differ, each mapped
    pair must agree, each prediction must hold."""
    ok = True
    bn = NetSpec(norm="bn", hidden_units=args.hidden, groups=args.groups)

    print("\n## Raw defaults (torch momentum 0.1, eps 1e-5, unbiased; Keras 0.99, 1e-3) vs the mapped pair")
    raw, mapped = run(bn, pair=raw_defaults_pair), run(bn)
    ok &= not raw.passed and mapped.passed
    print(HEADER)
    print(line("mlp bn raw defaults", raw, "DIFFERS (expected)" if not raw.passed else "UNEXPECTED: agrees"))
    print(line("mlp bn mapped", mapped))

    print("\n## BN moving variance after ONE training step (float64): torch's default update vs bn_variance='biased'")
    for arch in ("mlp", "lstm"):
        spec = NetSpec(arch=arch, norm="bn", hidden_units=args.hidden, lstm_units=args.lstm_units)
        config, kwargs = matched_pair(spec)
        for variance in ("unbiased", "biased"):
            config.bn_variance = variance
            step = moving_variance_step(config, kwargs, args.batch_size)
            expect_gap = variance == "unbiased"
            # the prediction must hold; the gap must be real (far above the prediction's residual) or absent
            resolved = step.raw.rel > 100 * step.residual.rel
            good = step.residual.within(FORWARD_RTOL) and (resolved if expect_gap else step.raw.within(FORWARD_RTOL))
            ok &= good
            what = "raw gap = m*var*(n/(n-1)-1) predicted" if expect_gap else "follows Keras"
            print(f"{arch} bn_variance={variance:<8}  raw torch-vs-Keras {step.raw.abs:8.1e}/{step.raw.rel:8.1e}  "
                  f"torch vs prediction {step.residual.abs:8.1e}/{step.residual.rel:8.1e} (tol {FORWARD_RTOL:.0e})  "
                  f"{what}: {'PASS' if good else 'FAIL'}")

    print("\n## LSTM biases: torch trains b_ih AND b_hh, Keras one bias")
    config, kwargs = matched_pair(NetSpec(arch="lstm", lstm_units=args.lstm_units))
    step = lstm_bias_step(config, kwargs, args.lr, batch_size=args.batch_size)
    good = step.residual.within(FORWARD_RTOL)
    ok &= good
    print(f"one step, both trainable: raw {step.raw.abs:8.1e}/{step.raw.rel:8.1e}; effective bias moved exactly "
          f"2x Keras's step: residual {step.residual.rel:8.1e} (tol {FORWARD_RTOL:.0e}): {'PASS' if good else 'FAIL'}")
    both = run(NetSpec(arch="lstm", lstm_units=args.lstm_units), keras_lstm_bias=False)
    ok &= not both.passed
    print(HEADER)
    print(line("lstm none, b_hh trained", both, "DIFFERS (expected)" if not both.passed else "UNEXPECTED: agrees"))

    print("\n## Chaos control: where torch drifts from itself (1 ulp apart) beyond the tolerance, no pair can agree")
    print(HEADER)
    for activation in ACTIVATIONS:
        r = run(NetSpec(norm="gn", activation=activation, hidden_units=args.hidden, groups=32))
        print(line(f"mlp gn pre {activation} g=32", r, chaos_verdict(r)))
    for norm in ("bn", "ln"):
        r = run(NetSpec(norm=norm, hidden_units=args.hidden), sgd_dtype="float32")
        print(line(f"mlp {norm} pre relu f32", r, chaos_verdict(r)))
    return ok


def chaos_verdict(r: PairReport) -> str:
    """Not a check: where the control is chaotic, agreement or not after the steps is luck."""
    if not r.chaotic:
        return "PASS" if r.passed else "FAIL"
    return "CHAOTIC (agrees by luck)" if r.passed else "CHAOTIC"


MAX_WIDTH = 8192  # a bound on --hidden and --lstm-units: a typo must not ask for terabytes


def check_args(args) -> None:
    """Every flag's bounds, before any model is built: a refusal is one UsageError."""
    counts = [("--steps", args.steps, 10_000), ("--batch-size", args.batch_size, 65_536),
              ("--lstm-units", args.lstm_units, MAX_WIDTH), ("--groups", args.groups, MAX_WIDTH),
              *(("--hidden", width, MAX_WIDTH) for width in args.hidden)]
    for name, value, most in counts:
        problem = count_problem(name, value, most)
        if problem:
            raise UsageError(problem)
    if not (math.isfinite(args.lr) and args.lr > 0):
        raise UsageError(f"--lr {args.lr} must be a finite number above 0, e.g. 0.01")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run(spec: NetSpec, pair=matched_pair, **overrides) -> PairReport:
        options = dict(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, sgd_dtype=args.sgd_dtype)
        return compare_pair(*pair(spec), **{**options, **overrides})

    try:
        check_args(args)
        for width in args.hidden:
            check_groups(args.groups, width, f"hidden layer of width {width}")
        if args.lstm_groups < 1 or 28 % args.lstm_groups:
            raise UsageError(f"--lstm-groups {args.lstm_groups} does not divide the 28 features of an image row; "
                             "use 1, 2, 4, 7, 14 or 28")
        print(format_table(), "\n")
        print(f"relative = max|torch - keras| / max|keras| per array (worst array shown); N = {args.steps} SGD steps, "
              f"lr {args.lr}, batch {args.batch_size}, SGD in {args.sgd_dtype}; forward in float32\n")
        ok = main_table(args, run)
        if not args.skip_extras:
            ok &= extras(args, run)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(f"\n{'ALL PASS' if ok else 'SOME LINES FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
