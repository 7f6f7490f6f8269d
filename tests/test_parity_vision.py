"""Parity rows of the CNN, BN-LeNet and ViT against their Keras twins, and the layout traps.

Tolerances are parity.compare's (1e-5 forward in float32, 1e-4 after the float64 SGD steps); a row
is held to them only where its torch-vs-itself control stays within 1e-4 (no chaos). The full rows
(20 steps, batch 32) are ``python scripts/parity.py``'s.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
from lightning_mods.nets import build_net
from parity.compare import FORWARD_RTOL, SGD_RTOL, diff, keras_logits, make_batches, torch_logits
from parity.compare_vision import build_keras, compare_vision, vision_pair, vision_rows
from parity.transfer_vision import paired_layers, set_keras_arrays, torch_arrays, torch_to_keras

ROWS = vision_rows()
STEPS = 5  # scripts/parity.py runs the 20 steps at batch 32; here fewer, on batches of 4, to stay fast


@pytest.mark.parametrize("name,config,kwargs", ROWS, ids=[r[0] for r in ROWS])
def test_parity_row(name, config, kwargs):
    report = compare_vision(config, kwargs, steps=STEPS, batch_size=4)
    assert report.control is not None and report.control.within(SGD_RTOL), f"{name}: chaotic control {report.control}"
    for what, d, tol in report.checks():
        assert d is None or d.within(tol), f"{name} {what}: {d} > {tol}"


def _fresh_pair(arch, norm, **kw):
    config, kwargs = vision_pair(arch, norm, **kw)
    torch.manual_seed(0)
    net = build_net(config)
    model = build_keras(arch, kwargs)
    torch_to_keras(net, model)
    return net, model


def test_flatten_order_is_a_real_trap():
    """Copying the Dense after Flatten WITHOUT the (C, H, W) -> (H, W, C) row permutation breaks parity."""
    net, model = _fresh_pair("cnn", "none")
    x = make_batches(1, 4)[0][0]
    assert diff(torch_logits(net, x, False), keras_logits(model, x, False)).within(FORWARD_RTOL)
    kind, module, layer, flat = [p for p in paired_layers(net, model) if p[3] is not None][0]
    assert kind == "dense" and flat == (64, 3, 3)
    set_keras_arrays(kind, layer, torch_arrays(kind, module, None))  # the naive copy
    assert not diff(torch_logits(net, x, False), keras_logits(model, x, False)).within(1e-2)


def test_layernorm_conventions_have_their_own_gamma_shapes():
    net, model = _fresh_pair("cnn", "ln")
    (_, module, layer, _) = [p for p in paired_layers(net, model) if p[0] == "ln"][0]
    assert tuple(module.weight.shape) == (16, 28, 28) and tuple(layer.gamma.shape) == (28, 28, 16)
    net_c, model_c = _fresh_pair("cnn", "ln", ln_axes="c")
    (_, module, layer, _) = [p for p in paired_layers(net_c, model_c) if p[0] == "ln"][0]
    assert tuple(module.weight.shape) == (16,) and tuple(layer.gamma.shape) == (16,)


def test_vit_attention_goes_through_the_one_mapping():
    net, model = _fresh_pair("vit", "ln")
    mha = [(m, layer) for kind, m, layer, _ in paired_layers(net, model) if kind == "mha"]
    assert len(mha) == 2
    module, layer = mha[0]
    q_kernel = np.array(layer.get_weights()[0])
    assert q_kernel.shape == (64, 4, 16)
    np.testing.assert_array_equal(q_kernel.reshape(64, 64).T, module.in_proj_weight[:64].detach().numpy())
