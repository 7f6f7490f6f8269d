"""Weights torch -> Keras -> torch and Keras -> torch -> Keras are bitwise round trips, and a
transferred pair computes the same function."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401
from parity.compare import build_keras, diff, keras_logits, make_batches, torch_logits
from parity.conventions import NetSpec, matched_pair
from parity.transfer import keras_to_torch, named_arrays, paired_layers, torch_to_keras
from lightning_mods.nets import build_net

SPECS = [NetSpec(norm=n, placement=p, hidden_units=[32, 16], groups=8) for n, p in
         [("bn", "pre"), ("ln", "post"), ("gn", "pre"), ("none", "pre")]]
SPECS += [NetSpec(arch="lstm", norm=n, lstm_units=16, groups=4) for n in ("bn", "gn", "ln")]
# --dropout and --norm-logits: Dropout carries no weights; the norm on the logits pairs like any other
SPECS += [NetSpec(norm=n, placement=p, hidden_units=[32, 16], groups=2, dropout=0.3, norm_logits=True)
          for n, p in [("bn", "pre"), ("ln", "post"), ("gn", "pre")]]


def spec_id(spec) -> str:
    return f"{spec.arch}-{spec.norm}-{spec.placement}" + ("-dropout-normlogits" if spec.norm_logits else "")


def randomize_torch(net):
    """Random values everywhere, running statistics and both LSTM biases included (weights
    centred on 0, running variances in [0.5, 1.5))."""
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, t in list(net.named_parameters()) + [(n, b) for n, b in net.named_buffers() if "running" in n]:
            offset = 0.5 if name.endswith("running_var") else -0.5
            t.copy_((torch.rand(t.shape, generator=g) + offset) * (1.0 if "running" in name else 0.2))


def assert_bitwise(a: dict, b: dict):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype == np.float32, key
        assert np.array_equal(a[key], b[key]), key


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_keras_torch_keras_is_bitwise(spec):
    config, kwargs = matched_pair(spec)
    source = build_keras(config, kwargs)
    for v in source.weights:  # random moving statistics too
        v.assign(np.random.default_rng(3).uniform(0.5, 1.5, v.shape).astype("float32"))
    net, back = build_net(config), build_keras(config, kwargs)
    keras_to_torch(source, net)
    torch_to_keras(net, back)
    assert_bitwise(named_arrays(net, source)[1], named_arrays(net, back)[1])


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_torch_keras_torch_is_bitwise(spec):
    config, kwargs = matched_pair(spec)
    net = build_net(config)
    randomize_torch(net)
    if config.arch == "lstm":  # Keras holds ONE bias: the round trip keeps b_ih + b_hh, puts it in b_ih
        with torch.no_grad():
            net.lstm.bias_hh_l0.zero_()
    model, back = build_keras(config, kwargs), build_net(config)
    torch_to_keras(net, model)
    keras_to_torch(model, back)
    for (name, a), b in zip(net.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name


def test_lstm_two_biases_become_their_sum():
    config, kwargs = matched_pair(NetSpec(arch="lstm", lstm_units=8))
    net = build_net(config)
    randomize_torch(net)
    model = build_keras(config, kwargs)
    torch_to_keras(net, model)
    expected = (net.lstm.bias_ih_l0 + net.lstm.bias_hh_l0).detach().numpy()
    assert np.array_equal(model.get_layer("lstm").cell.bias.numpy(), expected)
    keras_to_torch(model, net)
    assert np.array_equal(net.lstm.bias_ih_l0.detach().numpy(), expected)
    assert not net.lstm.bias_hh_l0.any()


def test_layouts_are_transposed_and_gates_keep_their_order():
    config, kwargs = matched_pair(NetSpec(arch="lstm", lstm_units=8))
    net, model = build_net(config), build_keras(config, kwargs)
    torch_to_keras(net, model)
    cell = model.get_layer("lstm").cell
    assert cell.kernel.shape == (28, 32) and tuple(net.lstm.weight_ih_l0.shape) == (32, 28)
    assert np.array_equal(cell.kernel.numpy(), net.lstm.weight_ih_l0.detach().numpy().T)
    assert np.array_equal(cell.recurrent_kernel.numpy(), net.lstm.weight_hh_l0.detach().numpy().T)
    assert np.array_equal(model.get_layer("logits").kernel.numpy(), net.head.weight.detach().numpy().T)
    # Keras's unit_forget_bias and lightning_mods.init put 1 on the SAME block, the second (f)
    assert np.array_equal(cell.bias.numpy()[8:16], np.ones(8, "float32"))


@pytest.mark.parametrize("spec", SPECS, ids=spec_id)
def test_a_transferred_pair_computes_the_same_logits(spec):
    config, kwargs = matched_pair(spec)
    net = build_net(config)
    randomize_torch(net)  # random running statistics: inference mode uses them
    model = build_keras(config, kwargs)
    torch_to_keras(net, model)
    x = make_batches(1, 16)[0][0]
    assert diff(torch_logits(net, x, training=False), keras_logits(model, x, training=False)).rel <= 1e-5


def test_mismatched_nets_are_refused():
    a, _ = matched_pair(NetSpec(norm="bn", hidden_units=[8]))
    b, kwargs = matched_pair(NetSpec(norm="ln", hidden_units=[8]))
    with pytest.raises(ValueError, match="the nets differ"):
        paired_layers(build_net(a), build_keras(b, kwargs))
