"""Rehearse the GPU check here, on the CPU, in an imitation of the lent GPU machine (``make gpu-rehearsal``).

The lent machine gets the working tree (tracked files and untracked ones git does not ignore) plus
the carried ``data/gpu-bundle``, and has a ``python3`` with torch and Lightning but no TensorFlow,
no Keras, no ``.venv``, no installed copy of this project and no dataset of its own. So this
script copies exactly that tree into a temporary folder and runs ``bash scripts/gpu_check.sh
--rehearse`` there with:

- ``PATH`` holding only a ``python3`` (a wrapper of this Python) and the system folders, no .venv;
- a ``sitecustomize.py`` on ``PYTHONPATH`` that makes ``import tensorflow`` / ``import keras``
  raise ImportError (and ``find_spec`` answer None) and drops this venv's editable install of the project (which would otherwise
  supply a module the tree lacks);
- a fresh ``HOME`` (no staged dataset, no caches) and ``$OUT`` set, as the device tool sets it.

Every import or path error the lent machine would hit shows up here. Prints the check's table, the
size of what the device call would carry, and copies ``$OUT`` to ``--keep`` (default
runs/gpu_rehearsal). Exit code: the check's (0 when every step passed), 2 on bad input.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = Path("data") / "gpu-bundle"
CARRY_LIMIT_MIB = 64  # the device call's limit on the working tree plus the carried paths
CHECK_LIMIT_S = 3 * 360 + 60  # gpu_check's own time limits: at most 360 s on the GPU, x3 in its rehearsal
BLOCKED = ("tensorflow", "keras", "tf_keras")
SITECUSTOMIZE = f'''"""Written by scripts/gpu_rehearsal.py: this Python as the lent GPU machine's (no TensorFlow/Keras, project not installed)."""
import sys

# A None entry is how Python marks a module absent: `import tensorflow` raises ModuleNotFoundError
# and importlib.util.find_spec("tensorflow") returns None, as where it is not installed.
for _name in {BLOCKED!r}:
    sys.modules[_name] = None
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "__editable__" not in getattr(h, "__module__", "")]
sys.path[:] = [p for p in sys.path if not p.startswith("__editable__")]
'''


def write_blocker(folder: Path) -> Path:
    """A folder holding the sitecustomize.py above; put it on PYTHONPATH."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


def travelling_files(root: Path) -> list[str]:
    """What the device call copies: tracked files and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=root, check=True,
                            capture_output=True).stdout.decode().split("\0")
    return sorted({p for p in listed if p and p != ".venv" and not p.startswith(".venv/") and (root / p).is_file()})


def build_tree(root: Path, dest: Path, bundle: Path) -> int:
    """Copy the travelling files and the carried bundle into ``dest``; returns the bytes copied."""
    size = 0
    for rel in travelling_files(root):
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
        size += target.stat().st_size
    shutil.copytree(bundle, dest / BUNDLE)
    return size + sum(p.stat().st_size for p in (dest / BUNDLE).iterdir())


def machine_env(tmp: Path) -> dict[str, str]:
    """The environment of the lent machine, imitated: python3 on PATH, no .venv, no Keras, fresh HOME, $OUT."""
    bin_dir, home = tmp / "bin", tmp / "home"
    bin_dir.mkdir()
    home.mkdir()
    wrapper = bin_dir / "python3"
    wrapper.write_text(f'#!/bin/sh\ntouch "{tmp}/python3-from-PATH"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONHOME", "FASHION_MNIST_DIR", "XDG_CACHE_HOME", "PYTHON", "KERAS_BACKEND")}
    env.update(PATH=os.pathsep.join([str(bin_dir), "/usr/local/bin", "/usr/bin", "/bin"]), HOME=str(home),
               PYTHONPATH=str(write_blocker(tmp / "site")), OUT=str(tmp / "out"), CUDA_VISIBLE_DEVICES="")
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=ROOT / BUNDLE, help="the carried data folder (default %(default)s)")
    parser.add_argument("--keep", type=Path, default=ROOT / "runs" / "gpu_rehearsal",
                        help="where $OUT's files are copied afterwards (default %(default)s)")
    args = parser.parse_args(argv)
    if not args.bundle.is_dir():
        print(f"error: {args.bundle} does not exist; run `make gpu-bundle` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gpu-rehearsal-") as folder:
        tmp = Path(folder)
        tree = tmp / "repo"
        size = build_tree(ROOT, tree, args.bundle)
        env = machine_env(tmp)
        print(f"[gpu_rehearsal] {tree}: the working tree plus {BUNDLE}, {size / 2**20:.1f} MiB "
              f"(the device call carries at most {CARRY_LIMIT_MIB} MiB)", flush=True)
        try:
            code = subprocess.run(["bash", "scripts/gpu_check.sh", "--rehearse"], cwd=tree, env=env,
                                  timeout=CHECK_LIMIT_S).returncode
        except subprocess.TimeoutExpired:
            print(f"[gpu_rehearsal] the check ran past {CHECK_LIMIT_S} s", flush=True)
            code = 1
        if not (tmp / "python3-from-PATH").exists():
            print("[gpu_rehearsal] scripts/gpu_check.sh did not run the python3 found on PATH", flush=True)
            code = code or 1
        if size > CARRY_LIMIT_MIB * 2**20:
            print(f"[gpu_rehearsal] too large for the device call: {size / 2**20:.1f} MiB", flush=True)
            code = code or 1
        args.keep.mkdir(parents=True, exist_ok=True)
        for path in sorted((tmp / "out").glob("*")):
            shutil.copyfile(path, args.keep / path.name)
        print(f"[gpu_rehearsal] $OUT held {', '.join(p.name for p in sorted((tmp / 'out').glob('*'))) or 'nothing'}; "
              f"copied to {args.keep}; exit {code}", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
