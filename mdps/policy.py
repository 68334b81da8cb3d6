"""Softmax tabular policies: probabilities and their directional derivatives; the logistic sigmoid
(the IPD's memory-one policies, the derivative of a softplus learning rate).

Parameters `theta` are an `(S, A)` table; flattening is row-major, so `theta[s, a]` is
coordinate `s * A + a` of every flat vector and every `(S*A, S*A)` matrix.
"""
from __future__ import annotations

import numpy as np


def softmax_policy(theta: np.ndarray) -> np.ndarray:
    """π(a|s) = exp θ[s,a] / Σ_b exp θ[s,b], row-wise and numerically stable.

    Args:
      theta: `(..., S, A)` logits; leading axes are batch axes (one policy each).
    Returns:
      `(..., S, A)` probabilities, rows summing to one.
    """
    shifted = theta - _row_maxima(theta)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def _row_maxima(theta: np.ndarray) -> np.ndarray:
    """`(..., S, 1)` max_a θ[s,a], the same values as `theta.max(axis=-1, keepdims=True)`: for a
    few actions as A − 1 elementwise maxima of columns (numpy's reduction over a short last
    axis costs ~30 ns per row, ~6x more; a maximum is exact in any order)."""
    n_actions = theta.shape[-1]
    if n_actions > 16:
        return theta.max(axis=-1, keepdims=True)
    top = theta[..., 0].copy()
    for a in range(1, n_actions):
        np.maximum(top, theta[..., a], out=top)
    return top[..., None]


def policy_tangent(policy: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """Directional derivative of the softmax: dπ[s,a] = π[s,a] (u[s,a] - Σ_b π[s,b] u[s,b]).

    Args:
      policy: `(S, A)` probabilities π.
      direction: `(..., S, A)` tangent directions u of θ (leading axes are directions).
    Returns:
      `(..., S, A)` derivative of π along each direction.
    """
    centred = direction - (policy * direction).sum(axis=-1, keepdims=True)
    return policy * centred


def sigmoid(x: np.ndarray) -> np.ndarray:
    """σ(x) = 1 / (1 + e^{−x}) = d softplus(x)/dx, numerically stable (e^{−|x|} never overflows).

    Args:
      x: any shape.
    Returns:
      σ(x), the same shape, in (0, 1).
    """
    x = np.asarray(x, dtype=float)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))

