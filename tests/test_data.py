"""The Fashion-MNIST DataModule: batches, splits, the real files and their checksums."""

import gzip
import shutil
from types import SimpleNamespace

import pytest
import torch

from lightning_mods.data import FashionMNISTDataModule, ImageBatches
from lightning_mods.errors import UsageError
from lightning_mods.fashion_files import DEBIAN_DIR, FILE_MD5, find_dataset


def test_synthetic_batches_are_cut_whole():
    dm = FashionMNISTDataModule("synthetic", batch_size=64, norm="bn", steps_per_execution=4)
    dm.setup("fit")
    minibatches = next(iter(dm.train_dataloader()))  # a training batch: steps_per_execution minibatches
    assert len(minibatches) == 4
    x, y = minibatches[0]
    assert x.shape == (64, 28, 28) and x.dtype == torch.float32 and y.shape == (64,)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert sum(len(b[1]) for b in dm.val_dataloader()) == 500


@pytest.mark.parametrize("steps", [3, 16, 40])  # 2,000 / 64 = 31 minibatches + 16 samples
def test_grouped_minibatches_are_those_of_one_step_per_batch(steps):
    """Grouping steps changes no minibatch: the same samples, order and sizes as one per batch."""
    def minibatches(steps_per_execution):
        dm = FashionMNISTDataModule("synthetic", batch_size=64, norm="bn", steps_per_execution=steps_per_execution)
        dm.setup("fit")
        loader = dm.train_dataloader()
        loader.batch_sampler.sampler.set_epoch(3)  # the shuffle, behind EpochBatches as behind a BatchSampler
        return [mb for batch in loader for mb in batch], len(loader)

    single, batches_single = minibatches(1)
    grouped, batches_grouped = minibatches(steps)
    assert batches_single == 32 and batches_grouped == -(-32 // steps)
    assert [len(y) for _, y in grouped] == [64] * 31 + [16]
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(single, grouped))


def test_steps_per_execution_below_one_is_refused():
    with pytest.raises(UsageError, match="--steps-per-execution 0 must be at least 1"):
        FashionMNISTDataModule("synthetic", batch_size=64, steps_per_execution=0)


def test_steps_per_execution_is_one_under_ddp_and_more_is_refused():
    dm = FashionMNISTDataModule("synthetic", batch_size=64)
    assert dm.steps_per_execution == 16  # one process: automatic
    dm.trainer = SimpleNamespace(world_size=2)
    assert dm.steps_per_execution == 1
    dm.requested_steps = 4
    with pytest.raises(UsageError, match="--steps-per-execution 4 needs one process, but this run has 2"):
        dm.steps_per_execution


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


@pytest.mark.parametrize("steps", [1, 2])  # 2: the batch of 1 would end a loader batch of 2 steps
def test_last_batch_of_one_is_dropped_with_bn_only(steps):
    dm = FashionMNISTDataModule("synthetic", batch_size=1999, norm="bn", steps_per_execution=steps)  # 2,000 = 1,999 + 1
    dm.load()
    sizes = [len(y) for batch in dm.train_dataloader() for _, y in batch]
    assert dm.drop_last_train and sizes == [1999]
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


@pytest.mark.slow
def test_staging_at_the_same_moment_in_two_places_succeeds(tmp_path, monkeypatch):
    """Two processes staging into one fresh root (the experiments' workers on a new machine): while
    the first renames its copy into place, the second stages everything; both must succeed."""
    import lightning_mods.fashion_files as files

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    real_replace, real_getpid, nested = files.os.replace, files.os.getpid, []

    def replace_after_another_stager(source, target):
        if not nested:
            nested.append(None)
            with monkeypatch.context() as other:  # the "other process" (its own pid), start to end
                other.setattr(files.os, "getpid", lambda: real_getpid() + 1)
                nested[0] = find_dataset(DEBIAN_DIR, download=False)
        real_replace(source, target)

    monkeypatch.setattr(files.os, "replace", replace_after_another_stager)
    root = find_dataset(DEBIAN_DIR, download=False)
    raw = root / "FashionMNIST" / "raw"
    assert nested == [root]
    assert sorted(p.name for p in raw.iterdir()) == sorted(FILE_MD5)  # no partial file left behind
