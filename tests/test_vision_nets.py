"""The CNN, BN-LeNet and ViT: every (arch, norm) trains a step, the norms' axes, refusals, the CLI."""

import itertools

import pytest
import torch
from torch import nn

from lightning_mods.errors import UsageError
from lightning_mods.nets import NetConfig, build_net
from lightning_mods.norms import ChannelsLast, SequenceNorm, make_image_norm
from lightning_mods.vit import SelfAttention, TokenBatchNorm

COMBOS = [(a, n, p) for a, n, p in itertools.product(("cnn", "lenet"), ("none", "bn", "ln", "gn"), ("pre", "post"))]
COMBOS += [("cnn", "ln", "pre", "c")]
COMBOS += [("vit", n, "pre") for n in ("none", "bn", "ln")]


def tiny(arch, norm, placement="pre", ln_axes="chw", **kw):
    return build_net(NetConfig(arch=arch, norm=norm, placement=placement, groups=2, ln_axes=ln_axes, **kw))


@pytest.mark.parametrize("combo", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_forward_backward_every_parameter(combo):
    torch.manual_seed(0)
    net = tiny(*combo)
    logits = net(torch.rand(6, 28, 28))
    assert logits.shape == (6, 10) and torch.isfinite(logits).all()
    nn.functional.cross_entropy(logits, torch.arange(6) % 10).backward()
    for name, param in net.named_parameters():
        assert param.grad is not None and torch.isfinite(param.grad).all(), name
        assert param.grad.abs().sum() > 0, f"{name} got an all-zero gradient"


@pytest.mark.parametrize("arch,norm", [("cnn", "bn"), ("cnn", "gn"), ("vit", "bn"), ("vit", "ln")])
def test_only_bn_depends_on_the_mode(arch, norm):
    torch.manual_seed(0)
    net = tiny(arch, norm)
    x = torch.rand(8, 28, 28) * 3 + 1
    gap = (net.train()(x) - net.eval()(x)).abs().max()
    assert gap > 1e-3 if norm == "bn" else gap == 0


def test_image_norm_axes():
    """bn: per channel over (B, H, W); gn: per sample over groups; ln chw: per sample over (C, H, W)
    with a (C, H, W) gamma; ln c: per sample and pixel over C with a (C,) gamma."""
    x = torch.randn(4, 6, 5, 5) * 3 + 2
    bn = make_image_norm("bn", 6, 5, eps=1e-5).train()(x)
    assert torch.allclose(bn.mean(dim=(0, 2, 3)), torch.zeros(6), atol=1e-5)
    chw = make_image_norm("ln", 6, 5, eps=1e-5)
    assert chw.weight.shape == (6, 5, 5) and torch.allclose(chw(x).mean(dim=(1, 2, 3)), torch.zeros(4), atol=1e-5)
    c = make_image_norm("ln", 6, 5, ln_axes="c", eps=1e-5)
    assert isinstance(c, ChannelsLast) and c.norm.weight.shape == (6,)
    assert torch.allclose(c(x).mean(dim=1), torch.zeros(4, 5, 5), atol=1e-5)
    assert not torch.allclose(chw(x), c(x), atol=1e-3)  # the two conventions differ
    gn = make_image_norm("gn", 6, 5, groups=2, eps=1e-5)(x).reshape(4, 2, -1)
    assert torch.allclose(gn.mean(dim=2), torch.zeros(4, 2), atol=1e-5)
    biased = make_image_norm("bn", 6, 5, bn_variance="biased")  # Keras's moving variance: the 1d layer on H*W
    assert biased(x).shape == x.shape and biased.norm.running_var.shape == (6,)


def test_vit_runs_on_fewer_tokens():
    torch.manual_seed(0)
    net = tiny("vit", "ln").eval()
    out = net(torch.rand(3, 28, 28), torch.tensor([0, 5, 9, 15]))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("kwargs,message", [
    (dict(arch="vit", norm="gn"), "--arch vit takes --norm none, bn, ln, not 'gn'"),
    (dict(arch="vit", norm="ln", placement="post"), "--arch vit has pre-norm blocks only"),
    (dict(arch="vit", norm="ln", ln_axes="c"), "--ln-axes applies to the convolutional nets only"),
    (dict(arch="mlp", norm="ln", ln_axes="c"), "--ln-axes applies to the convolutional nets only"),
    (dict(arch="cnn", norm="gn", groups=5), "--groups 5 does not divide the 16 features"),
    (dict(arch="lenet", norm="gn", groups=4), "--groups 4 does not divide the 6 features"),
    (dict(arch="cnn", norm="bn", dropout=0.2), "--dropout applies to the MLP only"),
    (dict(arch="cnn", norm="ln", ln_axes="hw"), "unknown --ln-axes 'hw'"),
])
def test_refusals(kwargs, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace("'", ".")):
        build_net(NetConfig(**kwargs))


@pytest.mark.parametrize("extra", [["--arch", "cnn", "--norm", "gn", "--groups", "4"],
                                   ["--arch", "vit", "--norm", "bn", "--activation", "gelu"]])
def test_train_script_runs_the_new_archs(train_script, tiny_args, extra):
    assert train_script.main(tiny_args + extra) == 0


def test_train_script_refuses_in_one_line(train_script, tiny_args, capsys, tmp_path):
    assert train_script.main(tiny_args + ["--arch", "vit", "--norm", "gn"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --arch vit takes --norm") and "\n" not in err
    assert not (tmp_path / "run").exists()


def _grads(module: nn.Module, forward, x: torch.Tensor, g: torch.Tensor) -> list[torch.Tensor]:
    module.zero_grad()
    x = x.detach().requires_grad_()
    forward(x).backward(g)
    return [x.grad, *(p.grad for p in module.parameters())]


@pytest.mark.parametrize("layout", ["nchw", "channels_last"])
def test_the_fast_forms_compute_what_the_plain_ones_do(layout):
    """The CNN's LN over (C, H, W) on channels-last maps, the ViT's fused self-attention and its BN over the
    (B*T, C) tokens give nn.LayerNorm's, nn.MultiheadAttention's and the transposed BatchNorm1d's values and
    gradients (float64)."""
    torch.manual_seed(0)
    x = torch.randn(4, 6, 5, 5, dtype=torch.float64)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    g = torch.randn(4, 6, 5, 5, dtype=torch.float64)
    fast = make_image_norm("ln", 6, 5).double()
    with torch.no_grad():
        fast.weight.normal_(), fast.bias.normal_()
    plain = lambda t: nn.functional.layer_norm(t, (6, 5, 5), fast.weight, fast.bias, fast.eps)  # noqa: E731
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(_grads(fast, fast, x, g), _grads(fast, plain, x, g)))

    tokens, g = torch.randn(3, 7, 8, dtype=torch.float64), torch.randn(3, 7, 8, dtype=torch.float64)
    attn = SelfAttention(8, 2).double()
    mha = lambda t: nn.MultiheadAttention.forward(attn, t, t, t, need_weights=False)[0]  # noqa: E731
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(_grads(attn, attn, tokens, g), _grads(attn, mha, tokens, g)))

    bn = TokenBatchNorm(nn.BatchNorm1d(8).double())
    transposed = SequenceNorm(bn.norm)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(_grads(bn, bn, tokens, g), _grads(bn, transposed, tokens, g)))
    assert torch.allclose(bn.norm.running_mean, tokens.mean(dim=(0, 1)) * (1 - 0.9**2), atol=1e-12)  # two momentum-0.1 updates
