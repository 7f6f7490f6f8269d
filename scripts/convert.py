"""Convert a Keras model to a Lightning-trainable torch module (and a training run back to Keras).

  python scripts/convert.py keras-to-torch MODEL.keras --out DIR [--inputs FILE.npy] [--steps N]
      writes DIR/weights.pt, DIR/spec.yaml and DIR/parity.md (exit 1 when a parity check fails)
  python scripts/convert.py torch-to-keras RUN_DIR/checkpoints/best.ckpt --out MODEL.keras
      writes MODEL.keras (any net of scripts/train.py: mlp, lstm, cnn, lenet, vit, or a --net run), loads it
      back and compares its outputs with the checkpoint's on the run's test set (exit 1 when they differ
      beyond float32 rounding)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, and `import parity` would import
# scripts/parity.py: put the repository root there instead.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

# Only light modules here: --help and every refusal of the arguments or the model file come back
# before torch or Keras is imported (parity, which loads both, is imported once the checks passed).
from lightning_mods.errors import EXIT_USAGE, UsageError  # noqa: E402
from lightning_mods.model_file import check_file  # noqa: E402


MAX_STEPS = 1000
MAX_BATCH = 4096


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
    t2k.add_argument("--no-check", dest="check", action="store_false", help="skip the comparison of outputs on the test set")
    t2k.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    return p


def read_inputs(path: str | None):
    """The ``--inputs`` array: a .npy file, or a .npz holding exactly one array."""
    if path is None:
        return None
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)  # no pickled objects: nothing from the file runs
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if len(data.files) != 1:
                    raise UsageError(f"--inputs {path} holds {len(data.files)} arrays ({', '.join(data.files[:5])}); "
                                     "save the one input array with numpy.save('inputs.npy', x)")
                data = data[data.files[0]]
    except (OSError, ValueError, EOFError) as err:
        if isinstance(err, UsageError):
            raise
        raise UsageError(f"--inputs {path} is not a numpy .npy array ({(str(err).splitlines() or [''])[0][:120]}); "
                         "save one with numpy.save('inputs.npy', x)") from None
    if not np.issubdtype(data.dtype, np.number) or not np.all(np.isfinite(data)):
        raise UsageError(f"--inputs {path} holds {data.dtype} values that are not all finite numbers; "
                         "save finite numeric inputs")
    return data


def writable_folder(out: Path, flag: str = "--out") -> None:
    """Refuse, before any work, an ``--out`` folder that cannot be written: a file there, or a
    folder (or its nearest existing parent) where no file can be created. Nothing is left behind."""
    import tempfile

    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder; pick a folder path")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {out} lies under the file {parent}; pick a folder path")
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as err:
        raise UsageError(f"{flag} {out} cannot be written ({parent}: {err.strerror}); pick a writable folder") from None


def check_settings(args) -> None:
    """The check's numbers, bounded (a refusal here costs nothing; a bad value later costs the whole check)."""
    import math

    if not 1 <= args.steps <= MAX_STEPS:
        raise UsageError(f"--steps {args.steps} must be between 1 and {MAX_STEPS}")
    if not 2 <= args.batch_size <= MAX_BATCH:
        raise UsageError(f"--batch-size {args.batch_size} must be between 2 (BatchNorm trains on batches) and {MAX_BATCH}")
    if not (math.isfinite(args.lr) and 0 < args.lr <= 10):
        raise UsageError(f"--lr {args.lr} must be a finite number in (0, 10]; the default is 0.01")
    if not 0 <= args.seed <= 2**32 - 1:
        raise UsageError(f"--seed {args.seed} must be between 0 and {2**32 - 1}")


def keras_to_torch(args) -> int:
    check_settings(args)
    out = Path(args.out)
    writable_folder(out)
    if (out / "spec.yaml").exists() and not args.overwrite:
        raise UsageError(f"--out {out} already holds a converted model; pass --overwrite or pick another folder")
    given = read_inputs(args.inputs)
    check_file(args.model)  # the file's layer classes, read as JSON: no Keras yet
    import lightning_mods  # noqa: F401  (the torch side first: see lightning_mods/__init__.py)
    import parity  # noqa: F401  (then keras_ref, before TensorFlow)
    from parity.convert.check import Settings, check
    from parity.convert.keras_to_torch import save, to_torch
    from parity.convert.report import markdown, table
    from parity.convert.spec import read_model

    model = read_model(args.model)
    spec, net = to_torch(model, args.model)
    settings = Settings(steps=args.steps, batch_size=args.batch_size, learning_rate=args.lr, seed=args.seed)
    report = check(model, spec, settings, given, model_path=args.model, keras_torch=args.keras_torch)
    save(spec, net, out)
    (out / "parity.md").write_text(markdown(report, args.model, spec))
    print(table(report))
    print(f"{'PASS' if report.passed else 'FAIL'}: wrote {out / 'weights.pt'}, {out / 'spec.yaml'}, {out / 'parity.md'}")
    return 0 if report.passed else 1


def torch_to_keras(args) -> int:
    out = Path(args.out)
    if out.suffix != ".keras":
        raise UsageError(f"--out {out} must end in .keras (Keras 3's model file)")
    if out.is_dir():
        raise UsageError(f"--out {out} is a folder; give a file path ending in .keras")
    if out.exists() and not args.overwrite:
        raise UsageError(f"--out {out} exists; pass --overwrite or pick another file")
    writable_folder(out.parent, "--out's folder")
    import lightning_mods  # noqa: F401  (the torch side first)
    import parity  # noqa: F401  (then keras_ref, before TensorFlow)
    from parity.convert.predictions import check_saved
    from parity.convert.torch_to_keras import checkpoint_to_keras

    model, net, config = checkpoint_to_keras(args.checkpoint)  # every refusal comes before anything is written
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    print(f"wrote {out}")
    if config.net_dir is None and config.bn_variance != "biased" and config.norm == "bn":
        print("note: the run updated BN's running variance with torch's unbiased rule; the Keras model predicts the "
              "same, but further training in Keras follows Keras's biased rule")
    if config.net_dir is None and config.arch == "vit":
        print("note: the ViT's PositionEmbedding layer is keras_ref.vit's: `import keras_ref.vit` before "
              "keras.saving.load_model")
    if not args.check:
        return 0
    result = check_saved(Path(args.checkpoint), net, out)  # the file as written, loaded back
    print("\n".join(result.lines()))
    return 0 if result.passed else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return keras_to_torch(args) if args.command == "keras-to-torch" else torch_to_keras(args)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
