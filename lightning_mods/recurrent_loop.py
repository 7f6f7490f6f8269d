"""Keras's ``recurrent_dropout`` for a converted LSTM or GRU: the step loop Keras runs then
(``implementation=1``), with the weights of the ``nn.LSTM``/``nn.GRU`` that holds them.

With ``recurrent_dropout`` set, Keras draws, once per batch, one input mask per gate (when
``dropout`` is set too) and one state mask per gate, each of zeros and ``1 / (1 - rate)``, and
applies them at every step (``DropoutRNNCell``): ``x * input_mask[g] @ W_g + h * state_mask[g] @ U_g``.
Without those masks (inference, or rates at 0) the loop is ``nn.LSTM``/``nn.GRU``'s own computation.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


Masks = list  # one tensor (or None: no dropout) per gate


def _masks(like: torch.Tensor, gates: int, rate: float) -> Masks:
    if rate <= 0:
        return [None] * gates
    return [torch.empty_like(like).bernoulli_(1 - rate) / (1 - rate) for _ in range(gates)]


def draw(x: torch.Tensor, units: int, gates: int, dropout: float, recurrent_dropout: float) -> tuple[Masks, Masks]:
    """A batch's input masks ``(B, features)`` and state masks ``(B, units)``, one per gate."""
    return _masks(x[:, 0], gates, dropout), _masks(x.new_empty(x.shape[0], units), gates, recurrent_dropout)


def _masked(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    return x if mask is None else x * mask


def lstm_loop(lstm: nn.LSTM, x: torch.Tensor, in_masks: Masks, state_masks: Masks) -> torch.Tensor:
    """Every step's output ``(B, T, units)``; gates i, f, g(=c), o as torch and Keras order them."""
    w, u = lstm.weight_ih_l0.chunk(4), lstm.weight_hh_l0.chunk(4)
    b = (lstm.bias_ih_l0 + lstm.bias_hh_l0).chunk(4)
    h = x.new_zeros(x.shape[0], lstm.hidden_size)
    c = torch.zeros_like(h)
    outputs = []
    for t in range(x.shape[1]):
        z = [F.linear(_masked(x[:, t], in_masks[g]), w[g], b[g]) + F.linear(_masked(h, state_masks[g]), u[g])
             for g in range(4)]
        c = torch.sigmoid(z[1]) * c + torch.sigmoid(z[0]) * torch.tanh(z[2])
        h = torch.sigmoid(z[3]) * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs, dim=1)


def gru_loop(gru: nn.GRU, x: torch.Tensor, in_masks: Masks, state_masks: Masks) -> torch.Tensor:
    """Every step's output ``(B, T, units)``; torch's gates r, z, n (Keras's z, r, h: masks by Keras's
    order, ``in_masks[0]`` on z), reset after the product."""
    w, u = gru.weight_ih_l0.chunk(3), gru.weight_hh_l0.chunk(3)
    bi, bh = gru.bias_ih_l0.chunk(3), gru.bias_hh_l0.chunk(3)
    h = x.new_zeros(x.shape[0], gru.hidden_size)
    keras_order = (1, 0, 2)  # torch's block g takes Keras's mask keras_order[g]
    outputs = []
    for t in range(x.shape[1]):
        xs = [F.linear(_masked(x[:, t], in_masks[keras_order[g]]), w[g], bi[g]) for g in range(3)]
        hs = [F.linear(_masked(h, state_masks[keras_order[g]]), u[g], bh[g]) for g in range(3)]
        r, z = torch.sigmoid(xs[0] + hs[0]), torch.sigmoid(xs[1] + hs[1])
        n = torch.tanh(xs[2] + r * hs[2])
        h = z * h + (1 - z) * n
        outputs.append(h)
    return torch.stack(outputs, dim=1)
