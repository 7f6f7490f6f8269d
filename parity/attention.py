"""Multi-head attention weights between Keras's ``MultiHeadAttention`` and torch's ``nn.MultiheadAttention``.

Keras keeps one kernel per projection with the heads as an axis: query/key/value kernels
``(D, h, d)`` and biases ``(h, d)``, the output kernel ``(h, d, D)`` and bias ``(D,)``. torch packs
the three input projections into ``in_proj_weight`` ``(3*D, D)`` (q, k, v stacked; rows are output
features, head-major: row ``head * d + j``) and ``in_proj_bias`` ``(3*D,)``, and the output into
``out_proj.weight`` ``(D, D)``. torch's head size is ``D // h``, so a Keras layer maps only when
``key_dim == value_dim == D // h``. Both scale the scores by ``1 / sqrt(d)``. Copies and
transposes are exact, so a round trip is bitwise.

>>> import numpy as np
>>> D, h = 8, 2
>>> rng = np.random.default_rng(0)
>>> keras_w = {k: rng.standard_normal(s) for k, s in keras_shapes(D, h).items()}
>>> back = keras_from_torch(torch_from_keras(keras_w), h)
>>> all(np.array_equal(back[k], keras_w[k]) for k in keras_w)
True
"""

from __future__ import annotations

import numpy as np

PROJECTIONS = ("query", "key", "value")
# Keras's own order of MultiHeadAttention.get_weights() (with use_bias=True)
KERAS_ORDER = ("query/kernel", "query/bias", "key/kernel", "key/bias", "value/kernel", "value/bias",
               "attention_output/kernel", "attention_output/bias")


def keras_shapes(dim: int, heads: int) -> dict[str, tuple[int, ...]]:
    """The Keras array shapes of a ``MultiHeadAttention(heads, key_dim=dim // heads)`` on width ``dim``."""
    d = dim // heads
    shapes = {}
    for p in PROJECTIONS:
        shapes[f"{p}/kernel"], shapes[f"{p}/bias"] = (dim, heads, d), (heads, d)
    shapes["attention_output/kernel"], shapes["attention_output/bias"] = (heads, d, dim), (dim,)
    return shapes


def check_mappable(dim: int, heads: int, key_dim: int, value_dim: int | None = None) -> None:
    """Refuse a Keras layer that torch's MultiheadAttention cannot hold (its head size is dim // heads)."""
    value_dim = key_dim if value_dim is None else value_dim
    if dim % heads or key_dim != dim // heads or value_dim != key_dim:
        raise ValueError(f"MultiHeadAttention with {heads} heads, key_dim {key_dim}, value_dim {value_dim} on width "
                         f"{dim}: torch's nn.MultiheadAttention needs key_dim = value_dim = width / heads "
                         f"= {dim / heads:g}")


def torch_from_keras(w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Keras arrays (names as in ``KERAS_ORDER``) -> ``nn.MultiheadAttention`` state-dict arrays."""
    dim = w["query/kernel"].shape[0]
    in_w = [w[f"{p}/kernel"].reshape(dim, -1).T for p in PROJECTIONS]  # (D, h, d) -> (h*d, D): rows head-major
    in_b = [w[f"{p}/bias"].reshape(-1) for p in PROJECTIONS]
    out_kernel = w["attention_output/kernel"]  # (h, d, D)
    return {"in_proj_weight": np.concatenate(in_w, axis=0).copy(), "in_proj_bias": np.concatenate(in_b).copy(),
            "out_proj.weight": out_kernel.reshape(-1, out_kernel.shape[-1]).T.copy(),
            "out_proj.bias": w["attention_output/bias"].copy()}


def keras_from_torch(state: dict[str, np.ndarray], heads: int) -> dict[str, np.ndarray]:
    """``nn.MultiheadAttention`` state-dict arrays -> Keras arrays (names as in ``KERAS_ORDER``)."""
    in_w, in_b = state["in_proj_weight"], state["in_proj_bias"]
    dim = in_w.shape[1]
    d = dim // heads
    out = {}
    for i, p in enumerate(PROJECTIONS):
        out[f"{p}/kernel"] = in_w[i * dim:(i + 1) * dim].T.reshape(dim, heads, d).copy()
        out[f"{p}/bias"] = in_b[i * dim:(i + 1) * dim].reshape(heads, d).copy()
    out["attention_output/kernel"] = state["out_proj.weight"].T.reshape(heads, d, dim).copy()
    out["attention_output/bias"] = state["out_proj.bias"].copy()
    return out
