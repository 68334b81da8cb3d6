"""Derivatives of state values with respect to the reward table (occupancy measures from any state).

∂V_t(s)/∂r(s', a') = Σ_{k≥t} γ^{k−t} Pr(s_k = s' | s_t = s) π(a'|s'): the discounted occupancy
of (s', a') from s at time t. A weighted sum of such derivatives costs one transposed Bellman
solve (infinite horizon) or one forward recursion (finite horizon), never an S x S inverse.
"""
from __future__ import annotations

import numpy as np

from mdps.policy import softmax_policy
from mdps.tabular import TabularMDP


def value_reward_vector_product(mdp: TabularMDP, thetas: np.ndarray, state_weights: np.ndarray) -> np.ndarray:
    """Σ_{t,s} w_{t,s} ∂V_t(s)/∂r for a stack of R policies.

    Infinite horizon: V = (I − γP_π)⁻¹ r_π, so Σ_s w_s ∂V(s)/∂r(s', a') = y_{s'} π(a'|s') with
    y = (I − γP_π)⁻ᵀ w. Finite horizon H: m_0 = w_0, m_k = γ m_{k−1} P_π + w_k (k < H), and the
    product is Σ_k m_k(s') π(a'|s').

    Args:
      mdp: the dynamics.
      thetas: `(R, S, A)` logits.
      state_weights: `(R, L, S)` weights w with L = 1 (infinite horizon) or L = H + 1 (finite
        horizon: row t weighs V_t; the terminal row H is ignored, V_H = 0), as `batch_time_values`.
    Returns:
      `(R, S, A)`.
    """
    thetas = np.asarray(thetas, dtype=float)
    weights = np.asarray(state_weights, dtype=float)
    if mdp.horizon is None:
        if weights.shape[1] != 1:
            raise ValueError(f"state_weights: expected shape (R, 1, S) for an infinite horizon, got {weights.shape}")
        policy, occupancy = mdp.bellman_solve(thetas, weights[:, 0], transposed=True)          # (R, S)
        return occupancy[..., None] * policy
    policy = softmax_policy(thetas)
    if weights.shape[1] != mdp.horizon + 1:
        raise ValueError(f"state_weights: expected shape (R, {mdp.horizon + 1}, S), got {weights.shape}")
    transitions = np.einsum("rsa,sat->rst", policy, mdp.transitions)
    running = weights[:, 0]
    total = running.copy()
    for k in range(1, mdp.horizon):
        running = mdp.gamma * np.einsum("rs,rst->rt", running, transitions) + weights[:, k]
        total += running
    return total[..., None] * policy
