"""--dropout and --norm-logits: the old nets unchanged at their defaults, the same dropout
convention in torch and Keras, and the norm on the logits doing what BN does. (Weight transfer
and eval-mode parity of these nets: tests/test_parity_transfer.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from keras_ref import build_mlp
from lightning_mods.nets import MLP

RATE = 0.3


def test_defaults_build_exactly_the_old_net():
    old, new = MLP(hidden=[32, 16], norm="bn"), MLP(hidden=[32, 16], norm="bn", dropout=0.0, norm_logits=False)
    assert str(old) == str(new) and list(old.state_dict()) == list(new.state_dict())
    assert [layer.name for layer in build_mlp(hidden_units=[32, 16]).layers] == \
           [layer.name for layer in build_mlp(hidden_units=[32, 16], dropout=0.0, norm_logits=False).layers]


def _dropout_in_out_torch(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    net = MLP(hidden=[4096], norm="none", dropout=RATE).train()
    seen = []
    dropout = next(m for m in net.modules() if isinstance(m, torch.nn.Dropout))
    dropout.register_forward_hook(lambda m, inp, out: seen.append((inp[0], out)))
    torch.manual_seed(0)
    net(x)
    return seen[0]


def test_both_frameworks_use_inverted_dropout_at_the_same_place():
    x = torch.rand(16, 28, 28)
    before, after = _dropout_in_out_torch(x)
    alive = before > 0  # after ReLU: only the positive units can be seen to be dropped
    dropped = (after[alive] == 0).float().mean().item()
    kept = after[alive] != 0
    assert abs(dropped - RATE) < 0.02
    assert torch.allclose(after[alive][kept], before[alive][kept] / (1 - RATE))

    model = build_mlp(hidden_units=[4096], norm="none", dropout=RATE)
    names = [layer.name for layer in model.layers]
    assert names.index("dropout_0") == names.index("act_0") + 1 and names.index("dropout_0") < names.index("logits")
    ones = np.ones((16, 4096), "float32")
    out = np.asarray(model.get_layer("dropout_0")(ones, training=True))
    assert abs((out == 0).mean() - RATE) < 0.02
    assert np.allclose(out[out != 0], 1 / (1 - RATE))
    assert np.array_equal(np.asarray(model.get_layer("dropout_0")(ones, training=False)), ones)


def test_bn_on_the_logits_standardizes_them_over_the_batch_in_training():
    net = MLP(hidden=[32, 16], norm="bn", norm_logits=True).train()
    bn = net.layers[-1]
    assert isinstance(bn, torch.nn.BatchNorm1d) and net.layers[-2].bias is None
    with torch.no_grad():
        bn.weight.copy_(torch.linspace(0.5, 2.0, 10))
        bn.bias.copy_(torch.linspace(-1.0, 1.0, 10))
        logits = net(torch.rand(256, 28, 28))
    assert torch.allclose(logits.mean(0), bn.bias, atol=1e-4)
    assert torch.allclose(logits.var(0, unbiased=False), bn.weight**2, rtol=0.05)  # x var / (var + eps): eps is small


@pytest.mark.parametrize("kwargs", [dict(dropout=1.0), dict(dropout=-0.1), dict(norm="none", norm_logits=True)])
def test_keras_builder_refuses_what_torch_refuses(kwargs):
    with pytest.raises(ValueError):
        build_mlp(hidden_units=[32, 16], **kwargs)
