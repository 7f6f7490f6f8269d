"""Convert a Keras model to a Lightning-trainable torch module (and a training run back to Keras).

  python scripts/convert.py keras-to-torch MODEL.keras --out DIR [--inputs FILE.npy] [--steps N]
      writes DIR/weights.pt, DIR/spec.yaml and DIR/parity.md (exit 1 when a parity check fails)
  python scripts/convert.py torch-to-keras RUN_DIR/checkpoints/best.ckpt --out MODEL.keras
      writes MODEL.keras and compares its test-set predictions with the checkpoint's
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and `import parity` would import
# scripts/parity.py: put the repository root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import lightning_mods  # noqa: E402,F401  (the torch side first: see lightning_mods/__init__.py)
import parity  # noqa: E402,F401  (then keras_ref, before TensorFlow)
from lightning_mods.errors import EXIT_USAGE, UsageError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    k2t = sub.add_parser("keras-to-torch", help="a Keras model file -> DIR with the torch module and its parity report")
    k2t.add_argument("model", help="a Keras 3 model file (.keras; a legacy .h5 if Keras loads it)")
    k2t.add_argument("--out", required=True, help="folder to write weights.pt, spec.yaml, parity.md into")
    k2t.add_argument("--inputs", help="a .npy array of N inputs of the model's input shape (default: random)")
    k2t.add_argument("--steps", type=int, default=20, help="SGD steps of the float64 check (default %(default)s)")
    k2t.add_argument("--batch-size", type=int, default=32, help="batch size of the check (default %(default)s)")
    k2t.add_argument("--lr", type=float, default=0.01, help="SGD learning rate of the check (default %(default)s)")
    k2t.add_argument("--seed", type=int, default=0, help="seeds the random inputs, targets and batches")
    k2t.add_argument("--no-keras-torch", dest="keras_torch", action="store_false",
                     help="leave out the column of Keras on its torch backend (a subprocess)")
    k2t.add_argument("--overwrite", action="store_true", help="replace a conversion already in --out")
    t2k = sub.add_parser("torch-to-keras", help="a run's checkpoint -> a Keras model file")
    t2k.add_argument("checkpoint", help="RUN_DIR/checkpoints/best.ckpt (or last.ckpt) of scripts/train.py")
    t2k.add_argument("--out", required=True, help="the Keras model file to write (.keras)")
    t2k.add_argument("--no-check", dest="check", action="store_false", help="skip the test-set prediction comparison")
    t2k.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return p


def read_inputs(path: str | None):
    if path is None:
        return None
    import numpy as np

    try:
        return np.load(path, allow_pickle=False)  # no pickled objects: nothing from the file runs
    except (OSError, ValueError) as err:
        raise UsageError(f"--inputs {path} is not a numpy .npy array ({str(err).splitlines()[0][:120]}); "
                         "save one with numpy.save('inputs.npy', x)") from None


def keras_to_torch(args) -> int:
    from parity.convert.check import Settings, check
    from parity.convert.keras_to_torch import save, to_torch
    from parity.convert.report import markdown, table
    from parity.convert.spec import read_model

    out = Path(args.out)
    if (out / "spec.yaml").exists() and not args.overwrite:
        raise UsageError(f"--out {out} already holds a converted model; pass --overwrite or pick another folder")
    if args.steps < 1 or args.batch_size < 2 or not args.lr > 0:
        raise UsageError("--steps must be >= 1, --batch-size >= 2 (BatchNorm trains on batches) and --lr > 0")
    model = read_model(args.model)
    spec, net = to_torch(model, args.model)
    given = read_inputs(args.inputs)
    settings = Settings(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    report = check(model, spec, settings, given, model_path=args.model, keras_torch=args.keras_torch)
    save(spec, net, out)
    (out / "parity.md").write_text(markdown(report, args.model, spec))
    print(table(report))
    print(f"{'PASS' if report.passed else 'FAIL'}: wrote {out / 'weights.pt'}, {out / 'spec.yaml'}, {out / 'parity.md'}")
    return 0 if report.passed else 1


def torch_to_keras(args) -> int:
    from parity.convert.predictions import compare_on_test
    from parity.convert.torch_to_keras import checkpoint_to_keras

    out = Path(args.out)
    if out.suffix != ".keras":
        raise UsageError(f"--out {out} must end in .keras (Keras 3's model file)")
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists; pass --overwrite or pick another file")
    model, net, config = checkpoint_to_keras(args.checkpoint)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"wrote {out}")
    if config.net_dir is None and config.bn_variance != "biased" and config.norm == "bn":
        print("note: the run updated BN's running variance with torch's unbiased rule; the Keras model predicts the "
              "same, but further training in Keras follows Keras's biased rule")
    if args.check:
        print(compare_on_test(Path(args.checkpoint), net, model))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return keras_to_torch(args) if args.command == "keras-to-torch" else torch_to_keras(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
