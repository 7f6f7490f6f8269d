"""The nets and the norm factory: shapes, gradients, NaN, train/eval behaviour, bad input."""

import itertools

import pytest
import torch
from torch import nn

from lightning_mods.errors import UsageError
from lightning_mods.init import init_weights
from lightning_mods.nets import MLP, LSTMClassifier, NetConfig, build_net
from lightning_mods.norms import KerasBatchNorm1d, make_norm

COMBOS = [("mlp", n, p) for n, p in itertools.product(("none", "bn", "ln", "gn"), ("pre", "post"))]
COMBOS += [("lstm", n, "pre") for n in ("none", "bn", "ln", "gn")]


def tiny(arch, norm, placement, **kw):
    groups = 4 if arch == "lstm" else 8
    return build_net(NetConfig(arch=arch, norm=norm, placement=placement, hidden=[32, 16], groups=groups, lstm_units=8, **kw))


@pytest.mark.parametrize("arch,norm,placement", COMBOS)
def test_forward_backward_every_parameter(arch, norm, placement):
    torch.manual_seed(0)
    net = tiny(arch, norm, placement)
    x = torch.rand(6, 28, 28)
    logits = net(x)
    assert logits.shape == (6, 10)
    assert torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.arange(6) % 10).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name} has a non-finite gradient"
        assert param.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


@pytest.mark.parametrize("arch,norm,placement", COMBOS)
def test_train_and_eval_modes(arch, norm, placement):
    """BN normalizes with batch statistics in training and running ones in eval; LN/GN do not care."""
    torch.manual_seed(0)
    net = tiny(arch, norm, placement)
    x = torch.rand(16, 28, 28) * 3 + 1  # far from the initial running stats (mean 0, var 1)
    train_out = net.train()(x)
    eval_out = net.eval()(x)
    if norm == "bn":
        assert (train_out - eval_out).abs().max() > 1e-3
    else:
        torch.testing.assert_close(train_out, eval_out, rtol=0, atol=0)


def test_mlp_layout_pre_and_post():
    pre = MLP(hidden=[32, 16], norm="bn", placement="pre").layers
    post = MLP(hidden=[32, 16], norm="bn", placement="post").layers
    assert [type(m).__name__ for m in pre] == ["Flatten", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear"]
    assert [type(m).__name__ for m in post] == ["Flatten", "Linear", "ReLU", "BatchNorm1d", "Linear", "ReLU", "BatchNorm1d", "Linear"]
    assert pre[1].bias is None and post[1].bias is not None  # the norm's beta replaces the bias
    assert MLP(hidden=[32], norm="none").layers[1].bias is not None
    assert isinstance(pre[-1], nn.Linear) and pre[-1].out_features == 10  # no norm after the last layer


def test_default_mlp_is_the_lessons():
    widths = [m.out_features for m in MLP().layers if isinstance(m, nn.Linear)]
    assert widths == [512, 256, 128, 64, 10]


def test_keras_defaults_in_torch_terms():
    bn = make_norm("bn", 8)
    assert bn.momentum == pytest.approx(0.01) and bn.eps == pytest.approx(1e-3)
    assert make_norm("ln", 8).eps == pytest.approx(1e-3)
    assert make_norm("gn", 8, groups=4).eps == pytest.approx(1e-3)


def test_biased_running_variance_follows_keras():
    torch.manual_seed(0)
    x = torch.randn(5, 3)
    plain, keras_like = make_norm("bn", 3, bn_momentum=1.0), make_norm("bn", 3, bn_momentum=1.0, bn_variance="biased")
    assert isinstance(keras_like, KerasBatchNorm1d)
    torch.testing.assert_close(plain(x), keras_like(x))  # same output in training
    torch.testing.assert_close(plain.running_var, x.var(0, unbiased=True))
    torch.testing.assert_close(keras_like.running_var, x.var(0, unbiased=False))
    torch.testing.assert_close(keras_like.running_mean, x.mean(0))


@pytest.mark.parametrize("kwargs,match", [
    (dict(norm="batch", num_features=8), "unknown norm 'batch'"),
    (dict(norm="gn", num_features=10, groups=4), "--groups 4 does not divide the 10"),
    (dict(norm="bn", num_features=8, bn_momentum=0.99 + 1), "outside"),
    (dict(norm="ln", num_features=8, eps=0.0), "positive"),
    (dict(norm="bn", num_features=8, bn_variance="keras"), "unknown bn_variance"),
])
def test_factory_rejects_bad_input(kwargs, match):
    with pytest.raises(UsageError, match=match):
        make_norm(**kwargs)


def test_groups_must_divide_every_width_and_the_lstm_input():
    with pytest.raises(UsageError, match="does not divide the 48 features"):
        MLP(hidden=[64, 48], norm="gn", groups=32)
    with pytest.raises(UsageError, match="LSTM input"):
        LSTMClassifier(units=8, norm="gn", groups=32)


@pytest.mark.parametrize("scheme", ["he_normal", "glorot_uniform"])
def test_keras_inits(scheme):
    torch.manual_seed(0)
    net = init_weights(MLP(hidden=[512], norm="none"), scheme)
    weight, bias = net.layers[1].weight, net.layers[1].bias  # (512, 784)
    assert torch.count_nonzero(bias) == 0
    if scheme == "he_normal":
        std = (2 / 784) ** 0.5
        assert weight.abs().max() <= 2 * std / 0.8796 + 1e-7  # truncated at two (pre-correction) std
        assert weight.std().item() == pytest.approx(std, rel=0.02)  # Keras corrects for the truncation
    else:
        limit = (6 / (784 + 512)) ** 0.5
        assert weight.abs().max() <= limit and weight.abs().max() > 0.99 * limit


def test_lstm_keras_init_sets_forget_bias():
    net = build_net(NetConfig(arch="lstm", norm="none", lstm_units=8, init="glorot_uniform"))
    bias = net.lstm.bias_ih_l0.detach()
    assert torch.equal(bias[8:16], torch.ones(8)) and torch.count_nonzero(bias[:8]) == 0
