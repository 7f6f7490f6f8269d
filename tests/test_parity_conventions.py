"""The conventions table matches the installed libraries, and a matched pair follows it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import parity  # noqa: F401
from keras import layers

from lightning_mods.norms import SequenceNorm
from parity.conventions import TABLE, NetSpec, format_table, matched_pair, raw_defaults_pair


def test_the_table_states_every_convention_the_issue_names():
    for name in ("bn_momentum", "bn_epsilon", "ln_epsilon", "gn_epsilon", "bn_variance", "init",
                 "dense_kernel", "lstm_gates", "lstm_recurrent", "lstm_bias"):
        assert name in TABLE
    assert format_table().count("\n") == len(TABLE) + 1


def test_the_table_defaults_are_the_libraries_defaults():
    bn, ln, gn = layers.BatchNormalization(), layers.LayerNormalization(), layers.GroupNormalization()
    assert (bn.momentum, bn.epsilon) == (TABLE["bn_momentum"].keras_default, TABLE["bn_epsilon"].keras_default)
    assert ln.epsilon == TABLE["ln_epsilon"].keras_default and gn.epsilon == TABLE["gn_epsilon"].keras_default
    tbn, tln, tgn = nn.BatchNorm1d(4), nn.LayerNorm(4), nn.GroupNorm(2, 4)
    assert (tbn.momentum, tbn.eps) == (TABLE["bn_momentum"].torch_default, TABLE["bn_epsilon"].torch_default)
    assert tln.eps == TABLE["ln_epsilon"].torch_default and tgn.eps == TABLE["gn_epsilon"].torch_default


@pytest.mark.parametrize("arch", ["mlp", "lstm"])
def test_matched_pair_maps_keras_values_through_the_table(arch):
    config, kwargs = matched_pair(NetSpec(arch=arch, norm="bn", bn_momentum=0.9, epsilon=1e-4))
    assert config.bn_momentum == pytest.approx(0.1) and config.eps == 1e-4 and config.bn_variance == "biased"
    assert kwargs["bn_momentum"] == 0.9 and kwargs["epsilon"] == 1e-4
    assert ("units" in kwargs) == (arch == "lstm") and config.arch == arch


def test_raw_defaults_pair_leaves_each_side_at_its_own_defaults():
    config, kwargs = raw_defaults_pair(NetSpec(norm="bn"))
    assert (config.bn_momentum, config.eps, config.bn_variance) == (0.1, 1e-5, "unbiased")
    assert (kwargs["bn_momentum"], kwargs["epsilon"]) == (0.99, 1e-3)


def groupnorm_reference(x: np.ndarray, groups: int, eps: float) -> np.ndarray:
    """GroupNorm of (B, T, C) features by hand: per sample, over T and the C/groups features of a group."""
    b, t, c = x.shape
    g = x.reshape(b, t, groups, c // groups)
    mean, var = g.mean(axis=(1, 3), keepdims=True), g.var(axis=(1, 3), keepdims=True)
    return ((g - mean) / np.sqrt(var + eps)).reshape(b, t, c)


@pytest.mark.parametrize("groups", [1, 4, 7, 28])
def test_groupnorm_on_a_sequence_is_the_same_computation_in_both(groups):
    """Keras GroupNormalization(axis=-1) on (B, T, C) and torch GroupNorm on (B, C, T) both
    normalize each sample over T and the channels of a group."""
    x = np.random.default_rng(0).normal(size=(3, 28, 28)) * 2 + 1
    expected = groupnorm_reference(x, groups, 1e-3)
    keras_out = layers.GroupNormalization(groups=groups, epsilon=1e-3, dtype="float64")(x).numpy()
    torch_out = SequenceNorm(nn.GroupNorm(groups, 28, eps=1e-3).double())(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(keras_out, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(torch_out, expected, rtol=0, atol=1e-12)


def test_batchnorm_on_a_sequence_averages_over_batch_and_time_in_both():
    x = np.random.default_rng(1).normal(size=(4, 28, 28)) * 3 - 1
    expected = (x - x.mean(axis=(0, 1))) / np.sqrt(x.var(axis=(0, 1)) + 1e-3)
    keras_out = layers.BatchNormalization(epsilon=1e-3, dtype="float64")(x, training=True).numpy()
    torch_bn = SequenceNorm(nn.BatchNorm1d(28, eps=1e-3).double().train())
    np.testing.assert_allclose(keras_out, expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(torch_bn(torch.from_numpy(x)).detach().numpy(), expected, rtol=0, atol=1e-12)
