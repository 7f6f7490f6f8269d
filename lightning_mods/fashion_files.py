"""Finding, checking and staging the four Fashion-MNIST files where torchvision reads them.

torchvision's ``FashionMNIST(root, download=False)`` reads the extracted files from
``root/FashionMNIST/raw/``. Debian ships them gzip-compressed (re-compressed, so the ``.gz``
bytes differ from torchvision's MD5 list while the content is the original); we check the
MD5 of the decompressed content, which is the same whatever the source.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

from lightning_mods.errors import UsageError
from lightning_mods.files import write_atomically

FILE_MD5 = {  # md5 of the decompressed files
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
HOW_TO_GET = (
    "install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
    f"or pass --data-dir DIR (or set ${ENV_VAR}) to a folder holding the four files "
    "train-images-idx3-ubyte[.gz] train-labels-idx1-ubyte[.gz] t10k-images-idx3-ubyte[.gz] t10k-labels-idx1-ubyte[.gz]"
)


def default_root() -> Path:
    """The torchvision root the project manages (staged copies, torchvision downloads)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return cache / "normlab" / "torchvision"


def _locate(folder: Path, name: str) -> Path | None:
    for sub in (folder, folder / "FashionMNIST" / "raw"):
        for candidate in (sub / name, sub / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _read(path: Path) -> bytes:
    try:
        return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise UsageError(f"{path} cannot be read ({err}): the file is truncated or corrupt; {HOW_TO_GET}") from err


def _check(name: str, content: bytes, source: Path) -> None:
    digest = hashlib.md5(content).hexdigest()
    if digest != FILE_MD5[name]:
        raise UsageError(
            f"{source} has the wrong content (md5 {digest} of the decompressed bytes, expected "
            f"{FILE_MD5[name]}): the copy is truncated or altered; replace it ({HOW_TO_GET})"
        )


def stage(folder: Path, root: Path) -> Path | None:
    """Check the four files in ``folder`` and make them readable by torchvision under ``root``.

    Returns the torchvision root, or ``None`` when ``folder`` does not hold all four files.
    Raises ``UsageError`` when a file is there but its content is wrong.
    """
    found = {name: _locate(folder, name) for name in FILE_MD5}
    if not all(found.values()):
        return None
    raw = root / "FashionMNIST" / "raw"
    for name, source in found.items():
        target = raw / name
        if source == target:
            _check(name, target.read_bytes(), source)
            continue
        content = _read(source)
        _check(name, content, source)
        if target.is_file() and hashlib.md5(target.read_bytes()).hexdigest() == FILE_MD5[name]:
            continue
        raw.mkdir(parents=True, exist_ok=True)
        # atomic, through a temporary file of this process's own: workers staging at once each rename a whole copy
        write_atomically(target, lambda handle: handle.write(content))
    return root


def find_dataset(data_dir: str | os.PathLike | None = None, download: bool = True) -> Path:
    """The torchvision root holding checked Fashion-MNIST files.

    Looks, in order, in ``data_dir``, ``$FASHION_MNIST_DIR``, Debian's folder, the managed
    root, then downloads with torchvision (only when ``download`` and the network allow).
    A folder the user named explicitly must hold the data: no silent fall-through.
    """
    managed = default_root()
    explicit = data_dir if data_dir is not None else os.environ.get(ENV_VAR)
    if explicit:
        folder = Path(explicit).expanduser()
        where = "--data-dir" if data_dir is not None else f"${ENV_VAR}"
        if not folder.is_dir():
            raise UsageError(f"{where} {folder} is not a folder; {HOW_TO_GET}")
        in_place = (folder / "FashionMNIST" / "raw").is_dir() and all(
            (folder / "FashionMNIST" / "raw" / n).is_file() for n in FILE_MD5
        )
        root = stage(folder, folder if in_place else managed)
        if root is None:
            raise UsageError(f"{where} {folder} does not hold the four Fashion-MNIST files; {HOW_TO_GET}")
        return root
    for folder in (DEBIAN_DIR, managed):
        root = stage(folder, managed)
        if root is not None:
            return root
    if download:
        try:
            from torchvision.datasets import FashionMNIST

            for train in (True, False):
                FashionMNIST(str(managed), train=train, download=True)
        except (OSError, RuntimeError) as err:  # no network: URLError is an OSError
            raise UsageError(f"Fashion-MNIST not found and the download failed ({type(err).__name__}); {HOW_TO_GET}") from err
        root = stage(managed, managed)
        if root is not None:
            return root
    raise UsageError(f"Fashion-MNIST not found in {DEBIAN_DIR} or {managed}; {HOW_TO_GET}")
