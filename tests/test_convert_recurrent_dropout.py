"""Keras's ``recurrent_dropout`` in the converted LSTM/GRU (``lightning_mods.recurrent_loop``): given
the same masks, the torch step loop computes what Keras's cell computes in training; without masks
it is ``nn.LSTM``/``nn.GRU`` itself; the module draws fresh masks per batch in training only."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import parity  # noqa: F401  (torch side, then Keras side)
import keras
from keras import layers as L

from lightning_mods.recurrent_loop import gru_loop, lstm_loop
from parity.convert.keras_to_torch import to_torch

LOOPS = {"lstm": (L.LSTM, lstm_loop, 4), "gru": (L.GRU, gru_loop, 3)}


def converted(kind: str):
    keras.utils.set_random_seed(0)
    cls = LOOPS[kind][0]
    model = keras.Sequential([keras.Input((6, 3)), cls(5, dropout=0.3, recurrent_dropout=0.2, return_sequences=True,
                                                       bias_initializer="random_normal", name="rnn")])
    spec, net = to_torch(model)
    return model, net


def mask_set(rng, gates: int, shape, rate: float) -> list[np.ndarray]:
    return [(rng.random(shape) >= rate).astype("float32") / (1 - rate) for _ in range(gates)]


@pytest.mark.parametrize("kind", list(LOOPS))
def test_the_loop_computes_keras_s_cell_with_the_same_masks(kind):
    model, net = converted(kind)
    _, loop, gates = LOOPS[kind]
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 3)).astype("float32")
    in_masks, state_masks = mask_set(rng, gates, (4, 3), 0.3), mask_set(rng, gates, (4, 5), 0.2)
    cell = model.get_layer("rnn").cell
    cell._dropout_mask = [keras.ops.convert_to_tensor(m) for m in in_masks]  # Keras uses cached masks as they are
    cell._recurrent_dropout_mask = [keras.ops.convert_to_tensor(m) for m in state_masks]
    expected = keras.ops.convert_to_numpy(model(x, training=True))
    module = net.weighted["rnn"]
    ours = loop(module, torch.from_numpy(x), [torch.from_numpy(m) for m in in_masks],
                [torch.from_numpy(m) for m in state_masks]).detach().numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-6)
    shuffled = loop(module, torch.from_numpy(x), [torch.from_numpy(m) for m in in_masks[::-1]],
                    [torch.from_numpy(m) for m in state_masks]).detach().numpy()
    assert np.abs(shuffled - expected).max() > 1e-3  # the masks' gate order matters, and is Keras's


@pytest.mark.parametrize("kind", list(LOOPS))
def test_without_masks_the_loop_is_torch_s_own_kernel(kind):
    _, net = converted(kind)
    _, loop, gates = LOOPS[kind]
    module = net.weighted["rnn"].double()
    x = torch.from_numpy(np.random.default_rng(1).normal(size=(4, 6, 3)))
    np.testing.assert_allclose(loop(module, x, [None] * gates, [None] * gates).detach().numpy(),
                               module(x)[0].detach().numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("kind", list(LOOPS))
def test_training_draws_masks_inference_does_not(kind):
    _, net = converted(kind)
    x = torch.from_numpy(np.random.default_rng(2).normal(size=(8, 6, 3)).astype("float32"))
    net.eval()
    with torch.no_grad():
        inference = net(x)
        net.train()
        first, second = net(x), net(x)
    assert not torch.equal(first, second) and not torch.equal(first, inference)
    assert torch.equal(net.eval()(x), inference)
