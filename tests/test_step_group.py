"""A group of optimizer steps taken without Lightning's idle per-step hooks (step_group.py) trains
exactly as before, bit for bit: as the steps through Lightning's wrappers, and as a plain torch loop
over the same minibatches; the batch sampler cuts the same batches as torch's BatchSampler did."""

from __future__ import annotations

import copy

import lightning as L
import pytest
import torch
from torch.nn import functional as F
from torch.utils.data import BatchSampler

from lightning_mods.config import TrainConfig
from lightning_mods.history import EpochHistory
from lightning_mods.module import make_optimizer
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.sampling import EpochBatches, EpochShuffle
from lightning_mods.step_group import StepGroup, can_capture
from lightning_mods.training import make_trainer, prepare

EPOCHS, BATCH = 2, 64


class Listener(L.Callback):
    """Overrides a per-step hook (doing nothing): the steps then go through Lightning's wrappers, as before issue 30."""

    def on_before_optimizer_step(self, trainer, pl_module, optimizer) -> None:
        pass


def fit(tmp_path, norm: str, optimizer: str, hooked: bool):
    config = TrainConfig(data="synthetic", norm=norm, hidden=[32, 16], batch_size=BATCH, epochs=EPOCHS, optimizer=optimizer,
                         accelerator="cpu", devices="1", progress=False, out=str(tmp_path))
    model, datamodule = prepare(config)
    start = copy.deepcopy(model.net)
    history = EpochHistory()
    trainer = make_trainer(config, tmp_path, history)
    if hooked:
        trainer.callbacks.append(Listener())
    trainer.fit(model, datamodule=datamodule)
    assert (model.step_group is None) == hooked and trainer.global_step == EPOCHS * 32  # 2,000 / 64
    rows = [{k: v for k, v in row.items() if k != "seconds"} for row in history.rows]
    return config, datamodule, start, model.net.state_dict(), rows


def plain_loop(config, datamodule, net, epochs: int) -> dict:
    """The reference: a hand-written torch loop over the loader's order (seeded per epoch as
    sampling.EpochShuffle documents), one step per minibatch."""
    split = datamodule.splits["train"]
    optimizer = make_optimizer(config.optimizer, net.parameters(), config.lr)
    for epoch in range(epochs):
        generator = torch.Generator().manual_seed((config.seed * 1_000_003 + epoch) % 2**63)
        for idx in torch.randperm(len(split), generator=generator).split(config.batch_size):
            loss = F.cross_entropy(net(split.images[idx].float().div_(255)), split.labels[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return net.state_dict()


def assert_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"differ (tolerance 0): {different}"


@pytest.mark.parametrize("norm, optimizer", [("bn", "sgd"), ("ln", "adam")])
def test_step_groups_train_bitwise_as_lightnings_steps_and_a_plain_loop(tmp_path, norm, optimizer):
    config, datamodule, start, fast, fast_rows = fit(tmp_path / "fast", norm, optimizer, hooked=False)
    _, _, _, hooked, hooked_rows = fit(tmp_path / "hooked", norm, optimizer, hooked=True)
    assert_equal(fast, hooked)
    assert fast_rows == hooked_rows  # train/loss, train/acc, val/loss, val/acc: the same floats
    assert_equal(fast, plain_loop(config, datamodule, start, EPOCHS))


@pytest.mark.parametrize("size, num_samples, start", [(10, 10, 0), (10, 9, 0), (11, 11, 4), (11, 10, 3), (7, 7, 7)])
def test_epoch_batches_are_the_batch_samplers_batches(size, num_samples, start):
    """EpochBatches cuts the batches torch's BatchSampler cut from the shuffle, from a resumed
    position too, and counts the yielded indices the same way (what a checkpoint records)."""
    old, new = (EpochShuffle(range(size), seed=3, num_samples=num_samples) for _ in range(2))
    for shuffle in (old, new):
        shuffle.set_epoch(2)
        shuffle.load_state_dict({"epoch": 2, "yielded": start})
    expected = []
    for batch in BatchSampler(old, batch_size=3, drop_last=False):
        expected.append((batch, old.yielded))
    got = [(batch.tolist(), new.yielded) for batch in EpochBatches(new, 3)]
    assert got == expected
    assert len(EpochBatches(new, 3)) == len(BatchSampler(old, 3, drop_last=False))


def minibatches(device: str, sizes=(32,) * 6 + (7,)) -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(5)
    return [(torch.rand(n, 28, 28, generator=generator).to(device), torch.randint(0, 10, (n,), generator=generator).to(device))
            for n in sizes]


def group_run(device: str, capture: bool, batches) -> tuple[dict, torch.Tensor]:
    torch.manual_seed(0)
    net = build_net(NetConfig(norm="bn", hidden=[64, 32])).to(device)
    optimizer = make_optimizer("sgd", net.parameters(), 0.05)
    group = StepGroup(lambda mb: F.cross_entropy(net(mb[0]), mb[1]), optimizer, capture=capture)
    losses = torch.cat([group(batches[:4]), group(batches[4:])])  # two groups; the last minibatch is short
    return {k: v.detach().clone() for k, v in net.state_dict().items()}, losses


def test_a_step_group_is_the_plain_loop_bit_for_bit_on_the_cpu():
    batches = minibatches("cpu")
    weights, losses = group_run("cpu", False, batches)
    torch.manual_seed(0)
    net = build_net(NetConfig(norm="bn", hidden=[64, 32]))
    optimizer, expected = make_optimizer("sgd", net.parameters(), 0.05), []
    for x, y in batches:
        loss = F.cross_entropy(net(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        expected.append(loss.detach())
    assert torch.equal(losses, torch.stack(expected))
    assert_equal(weights, net.state_dict())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU (CUDA)")
def test_captured_steps_match_eager_steps_on_cuda():
    """CUDA graphs: 3 eager warm-up steps, one recorded, the rest replayed; the short minibatch eager."""
    assert can_capture(torch.optim.SGD([torch.zeros(1, device="cuda", requires_grad=True)], lr=0.1))
    batches = minibatches("cuda", (32,) * 10 + (7,))
    eager, eager_losses = group_run("cuda", False, batches)
    captured, captured_losses = group_run("cuda", True, batches)
    torch.testing.assert_close(captured_losses, eager_losses, atol=1e-5, rtol=1e-5)
    for key in eager:
        torch.testing.assert_close(captured[key], eager[key], atol=1e-5, rtol=1e-5)
