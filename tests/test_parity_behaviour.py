"""The normalization behaviours that must match between Keras and torch, one test each.

Small nets where the behaviour does not depend on size; one test on the real
[512, 256, 128, 64] MLP. Tolerances are parity.compare's: 1e-5 relative for float32 forward
passes, 1e-4 after the SGD steps.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401
from keras import layers

from lightning_mods.data import FashionMNISTDataModule
from lightning_mods.errors import UsageError
from lightning_mods.nets import build_net
from parity.compare import (FORWARD_RTOL, build_pair, check_batch, compare_pair, control_diff, diff, keras_logits,
                            keras_sgd_steps, logits_diff, lstm_bias_step, make_batches, moving_variance_step,
                            torch_logits, torch_sgd_steps)
from parity.conventions import NetSpec, matched_pair, raw_defaults_pair

SMALL = dict(hidden_units=[32, 16], groups=8)
SMALL_LSTM = dict(arch="lstm", lstm_units=16, groups=4)


def trained_pair(spec: NetSpec, steps: int = 5):
    """A pair after a few identical SGD steps, so BN's moving statistics are no longer (0, 1)."""
    pair = build_pair(*matched_pair(spec))
    batches = make_batches(steps, 32)
    torch_sgd_steps(pair.net, batches, 0.05)
    keras_sgd_steps(pair.model, batches, 0.05)
    return pair


@pytest.mark.parametrize("spec", [NetSpec(norm="bn", **SMALL), NetSpec(norm="bn", **SMALL_LSTM)], ids=["mlp", "lstm"])
def test_training_and_inference_predictions_differ_by_the_same_amount(spec):
    pair = trained_pair(spec)
    x = make_batches(1, 32, seed=99)[0][0]
    eval_t, eval_k = torch_logits(pair.net, x, False), keras_logits(pair.model, x, False)
    train_t, train_k = torch_logits(pair.net, x, True), keras_logits(pair.model, x, True)
    gap_t, gap_k = train_t - eval_t, train_k - eval_k
    assert diff(gap_k, 0 * gap_k).abs > 1e-2  # batch statistics vs moving ones: a visible gap ...
    assert diff(gap_t, gap_k).rel <= FORWARD_RTOL  # ... the same in both frameworks


@pytest.mark.parametrize("spec", [NetSpec(norm="bn", **SMALL), NetSpec(norm="bn", **SMALL_LSTM)], ids=["mlp", "lstm"])
def test_inference_one_sample_at_a_time_equals_one_large_batch(spec):
    pair = trained_pair(spec)
    x = make_batches(1, 16, seed=99)[0][0]
    for logits in (lambda v: torch_logits(pair.net, v, False), lambda v: keras_logits(pair.model, v, False)):
        one_by_one = np.concatenate([logits(x[i : i + 1]) for i in range(len(x))])
        assert diff(one_by_one, logits(x)).rel <= FORWARD_RTOL
    assert logits_diff(pair, x[:1], training=False).rel <= FORWARD_RTOL  # and across frameworks


@pytest.mark.parametrize("spec", [NetSpec(norm=n, **SMALL) for n in ("ln", "gn")]
                         + [NetSpec(norm=n, **SMALL_LSTM) for n in ("ln", "gn")],
                         ids=["mlp-ln", "mlp-gn", "lstm-ln", "lstm-gn"])
def test_layer_and_group_norm_are_identical_in_training_and_inference(spec):
    pair = trained_pair(spec, steps=2)
    x = make_batches(1, 8, seed=99)[0][0]
    assert np.array_equal(torch_logits(pair.net, x, True), torch_logits(pair.net, x, False))
    assert np.array_equal(keras_logits(pair.model, x, True), keras_logits(pair.model, x, False))
    assert np.array_equal(torch_logits(pair.net, x[:1], True), torch_logits(pair.net, x[:1], False))  # batch of 1 too


def test_batchnorm_training_on_one_sample_torch_raises_keras_returns_beta_project_refuses():
    x = np.random.default_rng(0).normal(size=(1, 6)).astype("float32")
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(6).train()(torch.from_numpy(x))
    bn = layers.BatchNormalization()
    bn.build((None, 6))
    beta = np.arange(6, dtype="float32")
    bn.beta.assign(beta)
    np.testing.assert_array_equal(bn(x, training=True).numpy(), beta[None])  # silently: the input is gone
    with pytest.raises(UsageError, match="batch size 1 with norm bn in training mode"):
        check_batch("bn", 1, training=True)
    pair = build_pair(*matched_pair(NetSpec(norm="bn", **SMALL)))
    with pytest.raises(UsageError, match="use a batch of 2 or more"):
        logits_diff(pair, make_batches(1, 1)[0][0], training=True)
    with pytest.raises(UsageError, match="--batch-size 1 with --norm bn"):
        FashionMNISTDataModule(data="synthetic", batch_size=1, norm="bn")
    for ok in (("bn", 1, False), ("bn", 2, True), ("ln", 1, True), ("gn", 1, True)):
        check_batch(*ok)


def test_raw_defaults_differ_and_the_mapped_pair_agrees():
    spec = NetSpec(norm="bn", **SMALL)
    raw = compare_pair(*raw_defaults_pair(spec), steps=5, control=False)
    assert raw.train.rel > 10 * FORWARD_RTOL  # epsilon 1e-5 vs 1e-3 changes the forward pass
    assert raw.moving.rel > 10 * 1e-4  # momentum 0.1 vs 0.01 (and the variance rule)
    assert compare_pair(*matched_pair(spec), steps=5, control=False).passed


@pytest.mark.parametrize("spec", [NetSpec(norm="bn", **SMALL), NetSpec(norm="bn", **SMALL_LSTM)], ids=["mlp", "lstm"])
def test_moving_variance_unbiased_gap_is_the_predicted_one_and_biased_follows_keras(spec):
    config, kwargs = matched_pair(spec)
    config.bn_variance = "unbiased"  # torch's default
    unbiased = moving_variance_step(config, kwargs)
    assert unbiased.residual.rel <= FORWARD_RTOL  # torch = Keras + m * var * (n/(n-1) - 1), per channel
    assert unbiased.raw.rel > 100 * unbiased.residual.rel  # and the gap is real, far above rounding
    config.bn_variance = "biased"
    assert moving_variance_step(config, kwargs).raw.rel <= FORWARD_RTOL
    if spec.arch == "mlp":  # in float32 too (the LSTM's raw pixels have a variance too small to show it there)
        config.bn_variance = "unbiased"
        assert moving_variance_step(config, kwargs, dtype="float32").raw.rel > 10 * FORWARD_RTOL


def test_torch_lstm_effective_bias_moves_twice_as_far_as_keras():
    config, kwargs = matched_pair(NetSpec(**SMALL_LSTM))
    step = lstm_bias_step(config, kwargs)
    assert step.residual.rel <= FORWARD_RTOL and step.raw.rel > 100 * step.residual.rel


# groups=4: GroupNorm over groups of 2 features (16 / 8) makes SGD chaotic (see the chaos control test)
CASES = [NetSpec(norm=n, placement=p, activation=a, hidden_units=[32, 16], groups=4)
         for (n, p), a in zip([(n, p) for n in ("none", "bn", "ln", "gn") for p in ("pre", "post")],
                              ["relu", "gelu", "silu"] * 3)]
CASES += [NetSpec(norm=n, **SMALL_LSTM) for n in ("none", "bn", "ln", "gn")]


@pytest.mark.parametrize("spec", CASES, ids=lambda s: f"{s.arch}-{s.norm}-{s.placement}-{s.activation}")
def test_matched_pair_agrees_in_both_modes_and_after_20_sgd_steps(spec):
    report = compare_pair(*matched_pair(spec), control=spec.arch == "mlp")  # the LSTM's is ~1e-15: skipped for time
    assert not report.chaotic, report  # the comparison means something here
    assert report.passed, report


def test_real_size_mlp_agrees():
    spec = NetSpec(norm="bn", placement="pre", activation="relu")  # [512, 256, 128, 64], Keras defaults
    report = compare_pair(*matched_pair(spec))
    assert report.passed, report
    assert report.moving.rel <= 1e-4 and report.train.rel <= FORWARD_RTOL


def test_chaos_control_groupnorm_over_pairs_of_features_amplifies_rounding():
    """GroupNorm with 8 groups on 16 features normalizes pairs of values: after 20 SGD steps,
    torch started 1 ulp (2e-16) away from itself is more than 1e-10 apart, a million times
    further than with groups of 4; trajectories of such nets cannot be compared tightly."""
    batches = [(x.astype("float64"), y) for x, y in make_batches(20, 32)]
    drift = {}
    for groups in (4, 8):
        config, _ = matched_pair(NetSpec(norm="gn", placement="post", activation="gelu", hidden_units=[32, 16],
                                         groups=groups))
        torch.manual_seed(0)
        drift[groups] = control_diff(build_net(config).double(), batches, 0.01).rel
    assert drift[4] < 1e-10 < drift[8]
