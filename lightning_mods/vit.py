"""A small Vision Transformer (``--arch vit``): 7x7 patches of a 28x28 image are 16 tokens.

Patch embedding (Linear 49 -> width) + learned position embedding -> pre-norm encoder blocks
(x + MHA(norm(x)), x + MLP(norm(x)); the attention holds torch's ``nn.MultiheadAttention``
parameters) -> norm -> mean over the tokens -> Linear(10). Norms from the one factory on
``(B, T, C)`` tokens: ``ln`` per token over C (the standard), ``bn`` per channel over the batch AND
the tokens (Keras ``BatchNormalization()`` on ``(B, T, C)``), ``none``. ``keep`` (token indices)
evaluates on fewer tokens.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from lightning_mods.errors import UsageError
from lightning_mods.norms import make_activation, make_norm

IMAGE_SIDE = 28
NUM_CLASSES = 10
PATCH = 7
TOKENS = (IMAGE_SIDE // PATCH) ** 2  # 16
VIT_NORMS = ("none", "bn", "ln")


class TokenBatchNorm(nn.Module):
    """A BatchNorm1d over the batch AND the tokens: ``(B, T, C)`` -> ``(B*T, C)`` -> norm -> ``(B, T, C)``.

    The statistics of ``norms.SequenceNorm`` (per channel over B and T), as a plain 2-d BatchNorm
    with no transposes to copy: a third of the ViT-BN training step went to them. (``SequenceNorm``
    itself is left as it is: the LSTM experiments' saved runs were computed with its summation order.)
    """

    def __init__(self, norm: nn.Module) -> None:
        super().__init__()
        self.norm = norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.reshape(-1, x.shape[-1])).reshape(x.shape)


def _norm(norm: str, width: int, **norm_kwargs) -> nn.Module:
    layer = make_norm(norm, width, **norm_kwargs)
    return TokenBatchNorm(layer) if norm == "bn" else layer


def patches(x: torch.Tensor) -> torch.Tensor:
    """``(B, 28, 28)`` -> ``(B, 16, 49)``: 7x7 patches in row-major order, pixels row-major in each
    (the same order as Keras's reshape/transpose in ``keras_ref/vit.py``)."""
    b = x.shape[0]
    x = x.reshape(b, IMAGE_SIDE // PATCH, PATCH, IMAGE_SIDE // PATCH, PATCH)
    return x.permute(0, 1, 3, 2, 4).reshape(b, TOKENS, PATCH * PATCH)


class PositionEmbedding(nn.Module):
    """Adds a learned ``(1, tokens, width)`` embedding (N(0, 0.02) at the start), one per token position."""

    def __init__(self, tokens: int, width: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, tokens, width) * 0.02)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.weight


class SelfAttention(nn.MultiheadAttention):
    """torch's ``nn.MultiheadAttention`` (the same parameters, names and initialisation: the packed
    ``in_proj_weight`` (3C, C) for q, k, v and ``out_proj``), called as self-attention without masks:
    ``forward(x)``, one packed projection, ``F.scaled_dot_product_attention`` and ``out_proj``. The
    general forward checks and reshapes for masks, key/value sizes and layouts this net never has.

    >>> attn = SelfAttention(8, 2)
    >>> x = torch.randn(3, 5, 8)
    >>> bool(torch.allclose(attn(x), nn.MultiheadAttention.forward(attn, x, x, x, need_weights=False)[0], atol=1e-6))
    True
    """

    def __init__(self, width: int, heads: int) -> None:
        super().__init__(width, heads, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, T, C)
        b, t, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias).reshape(b, t, 3, self.num_heads, self.head_dim)
        # (B, heads, T, head_dim) views of the (B, T, heads, head_dim) slices: no copy forward, and backward
        # puts the three gradients back side by side instead of permuting a (3, B, heads, T, head_dim) stack.
        q, k, v = (part.transpose(1, 2) for part in qkv.unbind(2))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, t, c))


class EncoderBlock(nn.Module):
    """Pre-norm: x + MHA(n1(x)); x + Dense(act(Dense(n2(x))))."""

    def __init__(self, width: int, heads: int, mlp_width: int, norm: str, activation: str, **norm_kwargs) -> None:
        super().__init__()
        self.norm1 = _norm(norm, width, **norm_kwargs)
        self.attn = SelfAttention(width, heads)
        self.norm2 = _norm(norm, width, **norm_kwargs)
        self.mlp = nn.Sequential(nn.Linear(width, mlp_width), make_activation(activation), nn.Linear(mlp_width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h)
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """The small ViT; ``forward(x, keep)`` uses only the tokens ``keep`` (indices into the 16).

    >>> ViT(norm="bn")(torch.zeros(2, 28, 28)).shape
    torch.Size([2, 10])
    """

    def __init__(self, norm: str = "ln", placement: str = "pre", activation: str = "relu", width: int = 64,
                 depth: int = 2, heads: int = 4, mlp_width: int = 128, **norm_kwargs) -> None:
        super().__init__()
        if norm not in VIT_NORMS:
            raise UsageError(f"--arch vit takes --norm {', '.join(VIT_NORMS)}, not {norm!r}; GroupNorm is for "
                             "the CNN (--arch cnn)")
        if placement != "pre":
            raise UsageError(f"--arch vit has pre-norm blocks only, not --placement {placement}; leave --placement out")
        self.embed = nn.Linear(PATCH * PATCH, width)
        self.position = PositionEmbedding(TOKENS, width)
        self.blocks = nn.ModuleList(EncoderBlock(width, heads, mlp_width, norm, activation, **norm_kwargs)
                                    for _ in range(depth))
        self.norm = _norm(norm, width, **norm_kwargs)
        self.head = nn.Linear(width, NUM_CLASSES)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None) -> torch.Tensor:
        tokens = self.position(self.embed(patches(x)))  # (B, 16, width)
        if keep is not None:
            tokens = tokens[:, keep]
        for block in self.blocks:
            tokens = block(tokens)
        return self.head(self.norm(tokens).mean(dim=1))
