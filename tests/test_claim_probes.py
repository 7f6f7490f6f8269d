"""The measurements behind the ledger's new claims, on small nets and synthetic images (fast)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from experiments import ex5, lr_sweep
from experiments.batch_one import bn_refusals
from experiments.probes import FORMULA_TOLERANCE, bn_statistics_used, forgot_eval
from lightning_mods.nets import MLP, LSTMClassifier

IMAGES = torch.randint(0, 256, (96, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
LABELS = torch.randint(0, 10, (96,), generator=torch.Generator().manual_seed(2))


def _trained_bn(net: torch.nn.Module) -> torch.nn.Module:
    """A net whose running averages moved (a few training-mode passes), in eval mode."""
    torch.manual_seed(0)
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(IMAGES.float() / 255)
    return net.eval()


@pytest.mark.parametrize("net", [MLP(hidden=[32, 16], norm="bn"), LSTMClassifier(units=8, norm="bn")], ids=["mlp", "lstm"])
def test_bn_layers_use_batch_statistics_in_training_and_running_ones_in_inference(net):
    found = bn_statistics_used(_trained_bn(net), IMAGES[:32])
    assert found["layers"] == (2 if isinstance(net, MLP) else 1)
    assert found["batch_formula_error"] < FORMULA_TOLERANCE and found["running_formula_error"] < FORMULA_TOLERANCE
    assert found["train_vs_running"] > 100 * FORMULA_TOLERANCE  # training mode does not use the running averages


def test_a_loop_without_eval_moves_the_running_statistics_of_a_copy_only():
    net = _trained_bn(MLP(hidden=[32, 16], norm="bn"))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    found = forgot_eval(net, IMAGES, LABELS, 32)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # the trained net is untouched
    assert found["running_stats_change"] > 0 and 0 < found["changed_fraction"] <= 1
    assert found["eval_acc_change"] == pytest.approx(found["eval_acc_after"] - found["eval_acc_before"])


def test_resampled_sequences_change_only_their_length():
    assert torch.equal(ex5.resample(IMAGES, 28), IMAGES.float() / 255)
    for steps in (14, 56):
        seq = ex5.resample(IMAGES, steps)
        assert seq.shape == (96, steps, 28) and 0 <= seq.min() and seq.max() <= 1
        # the same image: the mean over rows of every pixel column is kept (to resampling's precision)
        assert torch.allclose(seq.mean(1), (IMAGES.float() / 255).mean(1), atol=0.03)
    net = LSTMClassifier(units=8, norm="ln").eval()
    assert 0 <= ex5.length_accuracy(net, IMAGES, LABELS, 56) <= 1


def _fit(diverged=None, acc=0.85, loss=0.4):
    return SimpleNamespace(diverged=diverged, history=[{"val/acc": acc, "val/loss": loss}])


def test_lr_sweep_counts_a_nan_stop_as_diverged_at_chance():
    went = lr_sweep.measure(_fit(diverged="non-finite loss at step 12"))
    assert went["diverged"] and went["val_acc"] == lr_sweep.CHANCE and not went["trains"]
    assert lr_sweep.measure(_fit(loss=float("nan")))["diverged"]
    assert lr_sweep.measure(_fit())["trains"] and not lr_sweep.measure(_fit(acc=0.5))["trains"]


def test_highest_trainable_rate_per_seed():
    ok, bad = lr_sweep.measure(_fit()), lr_sweep.measure(_fit(diverged="nan"))
    measured = {lr_sweep.label("bn", lr): [ok, ok if lr < 1.0 else bad] for lr in lr_sweep.LRS}
    measured.update({lr_sweep.label("none", lr): [ok if lr <= 0.03 else bad, bad] for lr in lr_sweep.LRS})
    assert lr_sweep.highest_trainable(measured, "bn", 2) == [1.0, 0.3]
    assert lr_sweep.highest_trainable(measured, "none", 2) == [0.03, lr_sweep.LRS[0] / 3]


def test_bn_at_batch_one_is_refused_by_torch_and_by_the_project():
    refused = bn_refusals(0)
    assert "more than 1 value per channel" in refused["torch"]
    assert "--batch-size 1 with --norm bn" in refused["project"]


def test_stale_stats_momenta_are_torch_momenta_and_share_ex4s_run():
    from experiments import ex4, stale_stats
    from experiments.runner import Settings

    settings = Settings(seeds=1, data="synthetic")
    momenta = sorted({spec.config.bn_momentum for spec in stale_stats.plan(settings)})
    assert momenta == [0.01, 0.1]  # Keras 0.99 and 0.9
    ex4_keys = {spec.key() for spec in ex4.plan(settings)}
    assert any(spec.key() in ex4_keys for spec in stale_stats.plan(settings))
