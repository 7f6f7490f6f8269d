"""The Fashion-MNIST DataModule: batches, splits, the real files and their checksums."""

import gzip
import shutil

import pytest
import torch

from lightning_mods.data import FashionMNISTDataModule, ImageBatches
from lightning_mods.errors import UsageError
from lightning_mods.fashion_files import DEBIAN_DIR, FILE_MD5, find_dataset


def test_synthetic_batches_are_cut_whole():
    dm = FashionMNISTDataModule("synthetic", batch_size=64, norm="bn")
    dm.setup("fit")
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 28, 28) and x.dtype == torch.float32 and y.shape == (64,)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert sum(len(b[1]) for b in dm.val_dataloader()) == 500


def test_batches_equal_sample_by_sample_indexing():
    images = torch.randint(0, 256, (10, 28, 28), dtype=torch.uint8)
    ds = ImageBatches(images, torch.arange(10))
    x, y = ds.__getitems__([3, 7])
    torch.testing.assert_close(x[1], ds[7][0])
    assert y.tolist() == [3, 7]


def test_batch_size_one_with_bn_is_refused_before_training():
    with pytest.raises(UsageError, match="--batch-size 1 with --norm bn"):
        FashionMNISTDataModule("synthetic", batch_size=1, norm="bn")
    FashionMNISTDataModule("synthetic", batch_size=1, norm="ln")  # LN/GN/none train with one sample


def test_last_batch_of_one_is_dropped_with_bn_only():
    dm = FashionMNISTDataModule("synthetic", batch_size=1999, norm="bn")  # 2,000 = 1,999 + 1
    dm.load()
    assert dm.drop_last_train and all(len(b[1]) > 1 for b in dm.train_dataloader())
    dm_ln = FashionMNISTDataModule("synthetic", batch_size=1999, norm="ln")
    dm_ln.load()
    assert not dm_ln.drop_last_train


def test_explicit_folder_without_data_says_how_to_get_it(tmp_path):
    with pytest.raises(UsageError, match="apt-get install dataset-fashion-mnist"):
        find_dataset(tmp_path, download=False)


@pytest.mark.slow
def test_real_splits(real_data):
    (xt, yt), (xv, yv), (xs, ys) = real_data["train"], real_data["val"], real_data["test"]
    assert xt.shape == (55_000, 28, 28) and xv.shape == (5_000, 28, 28) and xs.shape == (10_000, 28, 28)
    assert xt.dtype == torch.uint8 and len(yt) == 55_000 and len(yv) == 5_000 and len(ys) == 10_000
    assert yt[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # the original file's first labels
    assert torch.bincount(torch.cat([yt, yv])).tolist() == [6_000] * 10
    assert torch.cat([xt, xv]).float().div(255).mean().item() == pytest.approx(0.2860, abs=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupted_copy_fails_its_checksum(tmp_path, damage, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    copy = tmp_path / "copy"
    shutil.copytree(DEBIAN_DIR, copy)
    target = copy / "train-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(target.read_bytes()))
    content = content[:-100] if damage == "truncate" else content[:-1] + bytes([(content[-1] + 1) % 256])
    target.write_bytes(gzip.compress(bytes(content)))
    with pytest.raises(UsageError, match="train-labels-idx1-ubyte.gz has the wrong content"):
        find_dataset(copy, download=False)


@pytest.mark.slow
def test_staged_copy_is_checked_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = find_dataset(DEBIAN_DIR, download=False)
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILE_MD5)
    (raw / "t10k-labels-idx1-ubyte").write_bytes(b"garbage")  # a damaged staged copy is replaced
    assert find_dataset(DEBIAN_DIR, download=False) == root
    assert (raw / "t10k-labels-idx1-ubyte").stat().st_size == 10_008
