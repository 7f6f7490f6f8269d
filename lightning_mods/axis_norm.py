"""A Keras norm on axes other than the last (``BatchNormalization(axis=1)``, ``LayerNormalization(axis=[1, 2, 3])``,
``GroupNormalization(axis=1)``), for converted models: the normalized axes are moved last, in Keras's order, the
norm runs as it does for ``axis=-1``, and the axes go back. Keras's gamma and beta have the shape of the normalized
axes in that order, which is what torch's LayerNorm over those trailing axes holds.
"""

from __future__ import annotations

import torch
from torch import nn


class AxisNorm(nn.Module):
    """``norm`` (a features-last norm: LayerNorm over the trailing axes, or a SequenceNorm) applied over ``axes``
    (positive, the batch axis excluded).

    >>> ln = AxisNorm(nn.LayerNorm((3, 4)), [1, 2])
    >>> x = torch.randn(2, 3, 4, 5)
    >>> ref = nn.functional.layer_norm(x.movedim((1, 2), (2, 3)), (3, 4)).movedim((2, 3), (1, 2))
    >>> torch.allclose(ln(x), ref, atol=1e-6)
    True
    """

    def __init__(self, norm: nn.Module, axes: list[int]) -> None:
        super().__init__()
        self.norm, self.axes = norm, [int(a) for a in axes]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = list(range(x.dim() - len(self.axes), x.dim()))
        return self.norm(x.movedim(self.axes, last)).movedim(last, self.axes)

    def extra_repr(self) -> str:
        return f"axes={self.axes}"
