"""The loss-landscape probe: the paper's measures on cases with known answers, the pitfalls of
reimplementations (accumulated gradients, uphill steps, dividing by the learning rate), and a
probed run that ends bitwise where an unprobed one does."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from lightning_mods.data import synthetic_split
from lightning_mods.errors import UsageError
from experiments.runner import RunSpec, Settings, train
from lightning_mods.landscape import MULTIPLIERS, LandscapeProbe, measure
from lightning_mods.nets import MLP


class Quadratic(nn.Module):
    """L(x) = x^T A x / 2: gradient A x, and along g the gradient changes by eta A g exactly."""

    def __init__(self, a: torch.Tensor, x: torch.Tensor) -> None:
        super().__init__()
        self.a, self.x = a, nn.Parameter(x.clone())

    def loss(self) -> torch.Tensor:
        return 0.5 * self.x @ self.a @ self.x


def _with_grad(module: nn.Module, loss_of) -> torch.Tensor:
    module.zero_grad(set_to_none=True)
    loss = loss_of()
    loss.backward()
    return loss.detach()


def _mlp_case(norm: str = "bn", double: bool = True, activation: str = "relu"):
    torch.manual_seed(0)
    net = MLP(hidden=[32, 16], norm=norm, activation=activation)
    net = net.double() if double else net
    images, labels = synthetic_split(128, seed=3)
    x = images.to(net.layers[1].weight.dtype) / 255

    def loss_of():
        return F.cross_entropy(net(x), labels)

    return net, loss_of


def test_quadratic_beta_is_the_curvature_along_g_at_every_eta():
    torch.manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(5, 5, dtype=torch.float64))
    curvatures = torch.tensor([0.5, 1.0, 2.0, 3.0, 7.0], dtype=torch.float64)
    a = q @ torch.diag(curvatures) @ q.T
    etas = [0.01, 0.05, 0.2, 0.4]
    # Along an eigenvector g is that eigenvector (times its curvature): beta is its curvature.
    model = Quadratic(a, 3.0 * q[:, 4])
    _with_grad(model, model.loss)
    row = measure(model, model.loss, etas)
    assert row["betas"] == pytest.approx([7.0] * len(etas), rel=1e-12)
    # Anywhere: grad L(x - eta g) - g = -eta A g, so ||.|| / ||eta g|| = ||A g|| / ||g|| for every eta
    # (dividing by the learning rate instead of each probe's own eta would make it vary with eta).
    model = Quadratic(a, torch.randn(5, dtype=torch.float64))
    _with_grad(model, model.loss)
    g = model.x.grad.clone()
    row = measure(model, model.loss, etas)
    ag = torch.linalg.vector_norm(a @ g)
    assert row["grad_diffs"] == pytest.approx([eta * float(ag) for eta in etas], rel=1e-12)
    assert row["betas"] == pytest.approx([float(ag / torch.linalg.vector_norm(g))] * len(etas), rel=1e-12)
    x = model.x.detach()
    assert row["losses"] == pytest.approx([float(0.5 * (x - e * g) @ a @ (x - e * g)) for e in etas], rel=1e-12)
    assert row["grad_norm"] == pytest.approx(float(torch.linalg.vector_norm(g)), rel=1e-12)


def test_every_probe_gradient_is_computed_afresh():
    """Accumulating into the real gradient would measure ||g' + g - g|| = ||g'|| (or worse, with
    several probes): each probe's difference must be that of a fresh gradient at x - eta g."""
    net, loss_of = _mlp_case()
    _with_grad(net, loss_of)
    params = list(net.parameters())
    g = [p.grad.clone() for p in params]
    x = [p.detach().clone() for p in params]
    etas = [0.05, 0.1, 0.2]
    row = measure(net, loss_of, etas)
    for eta, diff in zip(etas, row["grad_diffs"]):
        fresh = nn.utils.parameters_to_vector  # one vector of all parameters
        with torch.no_grad():
            for p, start, grad in zip(params, x, g):
                p.copy_(start - eta * grad)
        moved = torch.autograd.grad(loss_of(), params)
        expected = torch.linalg.vector_norm(fresh(moved) - fresh(g))
        assert diff == pytest.approx(float(expected), rel=1e-9)
        # What a probe accumulating onto g would read: ||g'||; this case tells the two apart.
        assert abs(diff - float(torch.linalg.vector_norm(fresh(moved)))) > 0.01 * diff
    with torch.no_grad():
        for p, start in zip(params, x):
            p.copy_(start)


def test_the_probe_steps_downhill():
    """For a small eta, L(x - eta g) - L(x) = -eta ||g||^2 to first order (uphill: +eta ||g||^2)."""
    net, loss_of = _mlp_case()
    loss = float(_with_grad(net, loss_of))
    etas = [1e-4, 2e-4]
    row = measure(net, loss_of, etas)
    assert row["loss"] == pytest.approx(loss, rel=1e-12)
    for eta, moved in zip(etas, row["losses"]):
        assert moved < loss
        assert (moved - loss) / eta == pytest.approx(-row["grad_norm"] ** 2, rel=0.02)


def test_the_gradient_difference_shrinks_in_proportion_to_eta():
    """A probe at lr/100: as eta -> 0 the difference is eta ||H g||, so it halves with eta and beta
    settles to one value (the curvature seen along g). On a smooth net (GELU): ReLU's gradient
    jumps where a unit crosses its kink, and at these etas such jumps dominate (the difference
    then shrinks nearer sqrt(eta))."""
    net, loss_of = _mlp_case(activation="gelu")
    _with_grad(net, loss_of)
    lr = 0.1
    row = measure(net, loss_of, [lr / 100, lr / 200])
    assert row["grad_diffs"][1] / row["grad_diffs"][0] == pytest.approx(0.5, rel=0.01)
    assert row["betas"][1] == pytest.approx(row["betas"][0], rel=0.02)
    assert row["betas"][0] > 0


def test_measure_restores_weights_gradients_running_stats_modes_and_rng_bitwise():
    net, loss_of = _mlp_case(double=False)
    _with_grad(net, loss_of)
    net.eval()  # the probe switches BatchNorm to training mode, and back
    state = {k: v.clone() for k, v in net.state_dict().items()}
    grads = [p.grad.clone() for p in net.parameters()]
    rng = torch.get_rng_state()

    def noisy_loss():  # a loss that draws random numbers (dropout would)
        return loss_of() + 0 * torch.rand(())

    row = measure(net, noisy_loss, [0.5, 2.0])
    assert all(math.isfinite(v) for v in row["losses"] + row["grad_diffs"])
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in state.items())  # incl. running stats, num_batches_tracked
    assert "layers.2.num_batches_tracked" in state
    assert all(torch.equal(a, p.grad) for a, p in zip(grads, net.parameters()))
    assert not any(m.training for m in net.modules())
    assert torch.equal(rng, torch.get_rng_state())


def test_bad_probe_settings_are_refused():
    with pytest.raises(UsageError, match="at least 1"):
        LandscapeProbe(every=0)
    with pytest.raises(UsageError, match="positive"):
        LandscapeProbe(multipliers=(0.5, -1.0))


def _spec(probe_every: int | None, steps_per_execution: int | None = None, norm: str = "bn", lr: float = 0.5,
          epochs: int = 2) -> RunSpec:
    config = Settings(seeds=2, data="synthetic").config(0, epochs, norm=norm, lr=lr, batch_size=128, hidden=[32, 16],
                                                       steps_per_execution=steps_per_execution)
    return RunSpec("probe", config, probe_every=probe_every)


@pytest.fixture(scope="module")
def runs():
    """One 2-epoch run (32 optimizer steps, 16 per training batch) without probes and with, and
    the probed one again with one optimizer step per training batch."""
    return {"plain": train(_spec(None)), "probed": train(_spec(3)), "probed_1": train(_spec(3, steps_per_execution=1))}


def test_a_probed_run_ends_bitwise_where_an_unprobed_one_does(runs):
    plain, probed = runs["plain"], runs["probed"]
    assert plain["landscape"] == [] and len(probed["landscape"]) == 11
    assert plain["state"].keys() == probed["state"].keys()
    assert all(torch.equal(plain["state"][k], probed["state"][k]) for k in plain["state"])  # weights and BN buffers
    assert plain["step_losses"] == probed["step_losses"]


def test_the_probe_sees_every_optimizer_step_on_its_own_minibatch(runs):
    rows = runs["probed"]["landscape"]
    assert [r["step"] for r in rows] == list(range(0, 32, 3))  # also inside a training batch of 16 steps
    losses = runs["probed"]["step_losses"]
    # L(x) at the probe is the training loss of that very step (other minibatches give other losses).
    assert [r["loss"] for r in rows] == pytest.approx([losses[r["step"]] for r in rows], rel=1e-6)
    assert len({round(losses[r["step"]], 4) for r in rows}) == len(rows)
    assert all(r["etas"] == pytest.approx([m * 0.5 for m in MULTIPLIERS]) for r in rows)
    # One optimizer step per training batch (Lightning's automatic optimization): the same probes.
    assert runs["probed_1"]["landscape"] == rows


def test_a_diverging_run_stops_and_is_reported():
    # (A small ReLU net sent far uphill tends to die, not overflow: a rate of 1e38 makes the overflow sure.)
    result = train(replace(_spec(None, norm="none", lr=1e38, epochs=3), stop_at_nan=True))
    assert result["diverged"].startswith("the training loss became NaN at epoch 1, step 2")
    assert not math.isfinite(result["step_losses"][-1]) and len(result["step_losses"]) <= 16  # stopped in epoch 1
