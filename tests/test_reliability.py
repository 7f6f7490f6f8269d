"""Bad input is refused with one line naming the problem and the fix (exit 2, nothing written);
doubtful settings are warned of; a diverging run stops at once; checkpoints load no code.
(Reproducibility and resuming: tests/test_resume.py.)"""

from __future__ import annotations

import csv
import gzip
import os
import shutil
from types import SimpleNamespace

import pytest
import torch

from lightning_mods.config import TrainConfig
from lightning_mods.errors import EXIT_USAGE
from lightning_mods.fashion_files import DEBIAN_DIR, FILE_MD5
from lightning_mods.guards import FiniteLossCheck, NonFiniteLoss
from lightning_mods.module import NormClassifier
from lightning_mods.training import prepare


def refused(train_script, argv, capsys) -> str:
    """Run the script; assert exit 2 and a single ``error: ...`` line without traceback; return it."""
    code = train_script.main(argv)
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == EXIT_USAGE, err
    assert len(errors) == 1 and "Traceback" not in err, err
    return errors[0]


def metric_rows(path) -> list[dict]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(path.open())]


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    """Keep the dataset staging folder inside the test's tmp dir."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)


def test_altered_dataset_file_is_refused(train_script, tiny_args, tmp_path, capsys, no_cache):
    data = tmp_path / "fashion"
    data.mkdir()
    for name in FILE_MD5:  # the right names, the wrong bytes: the md5 check must catch it
        (data / name).write_bytes(b"\x00\x00\x08\x01" + b"\x07" * 100)
    line = refused(train_script, tiny_args + ["--data", "real", "--data-dir", str(data)], capsys)
    assert "wrong content" in line and "md5" in line and "replace it" in line
    assert not (tmp_path / "run").exists()


def test_truncated_dataset_file_is_refused(train_script, tiny_args, tmp_path, capsys, no_cache):
    data = tmp_path / "fashion"
    data.mkdir()
    whole = gzip.compress(bytes(range(256)) * 40)
    for name in FILE_MD5:
        (data / f"{name}.gz").write_bytes(whole[: len(whole) // 2])  # cut mid-stream
    line = refused(train_script, tiny_args + ["--data", "real", "--data-dir", str(data)], capsys)
    assert "truncated or corrupt" in line and "--data-dir" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="the real dataset is not installed")
@pytest.mark.parametrize("damage", ["truncate", "alter"])
def test_damaged_copy_of_the_real_dataset_is_refused(train_script, tiny_args, tmp_path, capsys, no_cache, damage):
    data = tmp_path / "fashion"
    shutil.copytree(DEBIAN_DIR, data)
    labels = data / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(labels.read_bytes())
    if damage == "truncate":
        labels.write_bytes(labels.read_bytes()[:-1_000])
    else:  # one label changed, a valid gzip file: only the checksum can tell
        labels.write_bytes(gzip.compress(content[:-1] + bytes([(content[-1] + 1) % 10])))
    line = refused(train_script, tiny_args + ["--data", "real", "--data-dir", str(data)], capsys)
    assert str(labels) in line
    assert ("truncated or corrupt" if damage == "truncate" else "wrong content") in line
    assert not (tmp_path / "run").exists()


def test_missing_dataset_is_refused(train_script, tiny_args, tmp_path, capsys, no_cache):
    (tmp_path / "empty").mkdir()
    line = refused(train_script, tiny_args + ["--data", "real", "--data-dir", str(tmp_path / "empty")], capsys)
    assert "does not hold the four Fashion-MNIST files" in line and "apt-get install" in line
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("text, expected", [
    ("epochs: [1, 2\n", "is not valid YAML at line"),
    ("batchsize: 32\n", "unknown option 'batchsize' (did you mean batch_size?)"),
    ("epochs: ten\n", "epochs: 'ten' is not a valid value"),
    ("- norm\n- bn\n", "must be a mapping"),
])
def test_bad_config_file_is_refused(train_script, tiny_args, tmp_path, capsys, text, expected):
    config = tmp_path / "config.yaml"
    config.write_text(text)
    line = refused(train_script, tiny_args + ["--config", str(config)], capsys)
    assert expected in line and str(config) in line
    assert not (tmp_path / "run").exists()


def test_config_is_loaded_with_safe_load(train_script, tiny_args, tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("epochs: !!python/object/apply:os.system ['echo hi']\n")
    line = refused(train_script, tiny_args + ["--config", str(config)], capsys)
    assert "not valid YAML" in line


def test_batch_size_1_with_bn_is_refused(train_script, tiny_args, capsys):
    line = refused(train_script, tiny_args + ["--batch-size", "1", "--norm", "bn"], capsys)
    assert "--batch-size 1 with --norm bn" in line and "--norm ln/gn" in line


def test_last_batch_of_one_with_bn_is_dropped_and_said(capsys):
    # synthetic training set: 2,000 samples; 2,000 = 1,999 + 1
    _, datamodule = prepare(TrainConfig(data="synthetic", batch_size=1_999, hidden=[8], epochs=1, progress=False))
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "last training batch of 1 sample" in warnings[0] and "dropped" in warnings[0]
    assert len(datamodule.train_dataloader()) == 1  # the batch of 1 is gone
    prepare(TrainConfig(data="synthetic", batch_size=1_999, hidden=[8], norm="ln", epochs=1, progress=False))
    assert "warning:" not in capsys.readouterr().err  # LayerNorm trains on 1 sample: nothing dropped


def test_lstm_with_bn_is_warned(capsys):
    prepare(TrainConfig(data="synthetic", arch="lstm", norm="bn", lstm_units=8, epochs=1, progress=False))
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "--arch lstm with --norm bn" in warnings[0] and "--norm ln" in warnings[0]
    prepare(TrainConfig(data="synthetic", arch="lstm", norm="ln", lstm_units=8, epochs=1, progress=False))
    assert "warning:" not in capsys.readouterr().err


def test_non_finite_loss_stops_at_once_and_keeps_last_good_checkpoint(train_script, tiny_args, tmp_path, capsys,
                                                                      monkeypatch):
    original = NormClassifier.model_step
    bad_step = 40  # 32 batches of 64 per epoch: the 9th batch of epoch 2 (in the first group of 16 steps)

    def poisoned(self, batch):
        logits, loss, y = original(self, batch)
        return logits, (loss * float("nan") if self.training and self.global_step == bad_step else loss), y

    monkeypatch.setattr(NormClassifier, "model_step", poisoned)  # NaN loss, NaN gradients, NaN weights after
    line = refused(train_script, tiny_args + ["--epochs", "3"], capsys)
    assert f"became NaN at epoch 2, step {bad_step + 1} (batch 9 of the epoch)" in line
    assert "last good checkpoint" in line and "(epoch 1, step 32)" in line and "lower --lr" in line
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["epoch"] == 0 and last["global_step"] == 32
    assert all(torch.isfinite(t).all() for t in last["state_dict"].values())
    assert len(metric_rows(tmp_path / "run" / "epochs.csv")) == 1
    assert not (tmp_path / "run" / "summary.json").exists()


def test_non_finite_check_batched_as_on_an_accelerator(tmp_path):
    """The accelerator path (losses checked every few steps, one sync) names the first bad step."""
    check = FiniteLossCheck(tmp_path / "none.ckpt", every=4, every_step=False)
    trainer = SimpleNamespace(global_step=0, current_epoch=2, num_training_batches=100, world_size=1)

    def step(batch_idx: int, loss: float) -> None:
        trainer.global_step += 1
        check.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, None, batch_idx)

    for batch_idx, loss in enumerate([1.0, 2.0, float("inf")]):
        step(batch_idx, loss)
    assert len(check._pending) == 3  # not looked at yet: no host-device sync so far
    with pytest.raises(NonFiniteLoss, match=r"became inf at epoch 3, step 3 \(batch 3 of the epoch\)"):
        step(3, float("nan"))


def test_non_finite_check_names_the_step_inside_a_group_of_steps(tmp_path):
    """A training batch of 4 optimizer steps (steps_per_execution 4): the bad one is found inside."""
    check = FiniteLossCheck(tmp_path / "none.ckpt")
    trainer = SimpleNamespace(global_step=4, current_epoch=0, num_training_batches=10, world_size=1,
                              datamodule=SimpleNamespace(steps_per_execution=4))
    check.on_train_batch_end(trainer, None, {"loss": torch.tensor([1.0, 0.9, 0.8, 0.7])}, None, 0)
    trainer.global_step = 8  # the second batch: steps 5-8, batches 5-8 of the epoch
    with pytest.raises(NonFiniteLoss, match=r"became inf at epoch 1, step 7 \(batch 7 of the epoch\)"):
        check.on_train_batch_end(trainer, None, {"loss": torch.tensor([0.6, 0.5, float("inf"), float("nan")])}, None, 1)


class RunsCode:
    """A pickle that would create a file if unpickled with weights_only=False."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (str(self.marker),))


def test_checkpoint_with_code_is_refused(train_script, tiny_args, tmp_path, capsys):
    assert train_script.main(tiny_args) == 0
    capsys.readouterr()
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    state = torch.load(last, weights_only=True)
    state["payload"] = RunsCode(tmp_path / "code-ran")
    torch.save(state, last)
    before = (tmp_path / "run" / "config.yaml").read_bytes()
    line = refused(train_script, tiny_args + ["--resume"], capsys)
    assert str(last) in line and "GLOBAL" in line and "could run code" in line
    assert not (tmp_path / "code-ran").exists()
    assert (tmp_path / "run" / "config.yaml").read_bytes() == before
    last.write_bytes(last.read_bytes()[:1_000])
    assert "truncated or not a checkpoint" in refused(train_script, tiny_args + ["--resume"], capsys)
