"""Exact (ideal-target) meta-gradients through K exact inner policy-gradient steps.

Inner loop: θ_{k+1} = θ_k + α ∇V_in(θ_k). The meta-gradient is accumulated in reverse,
one Hessian-vector product per step, so it costs O(K) gradient-sized solves and never
forms an `S*A x S*A` matrix.
"""
from __future__ import annotations

import numpy as np

from mdps.tabular import TabularMDP


def inner_loop(mdp: TabularMDP, theta: np.ndarray, *, steps: int, lr: float) -> list[np.ndarray]:
    """Exact gradient ascent θ_{k+1} = θ_k + α ∇V(θ_k).

    Returns:
      The K + 1 iterates `[θ_0, ..., θ_K]`, each `(S, A)`.
    """
    _check_steps_and_lr(steps, lr)
    iterates = [np.asarray(theta, dtype=float)]
    for _ in range(steps):
        iterates.append(iterates[-1] + lr * mdp.gradient(iterates[-1]))
    return iterates


def meta_gradient(mdp: TabularMDP, theta: np.ndarray, *, steps: int, lr: float,
                  outer_mdp: TabularMDP | None = None) -> np.ndarray:
    """∇_{θ_0} V_out(θ_K) for the `init` (MAML) meta-parameter.

    ∇ = (I + α H_in(θ_0)) ⋯ (I + α H_in(θ_{K-1})) ∇V_out(θ_K), accumulated as
    v ← v + α H_in(θ_k) v for k = K-1, ..., 0 (each H symmetric).

    Args:
      mdp: inner-loop MDP (its value drives the inner steps).
      theta: `(S, A)` initial parameters θ_0, the meta-parameter.
      steps: K >= 0 inner steps.
      lr: inner learning rate α.
      outer_mdp: MDP of the outer objective; defaults to `mdp`.
    Returns:
      `(S, A)` the exact meta-gradient.
    """
    outer_mdp = mdp if outer_mdp is None else outer_mdp
    iterates = inner_loop(mdp, theta, steps=steps, lr=lr)
    vector = outer_mdp.gradient(iterates[-1])
    for iterate in reversed(iterates[:-1]):
        vector = vector + lr * mdp.hessian_vector_product(iterate, vector)
    return vector


def intrinsic_meta_gradient(mdp: TabularMDP, theta: np.ndarray, intrinsic: np.ndarray, *,
                            steps: int, lr: float) -> np.ndarray:
    """∇_η V_r(θ_K) for the `intrinsic` (LIRPG) meta-parameter η `(S, A)`.

    Inner steps ascend V_{r+η}; the outer objective is V_r. With v_K = ∇V_r(θ_K):
      ∇_η += α (∂occ/∂θ(θ_k)) v_{k+1}   (mixed term ∂_η ∇_θ V_{r+η}, since
                                         ∇_θ V_{r+η} = (∂occ/∂θ)ᵀ (r + η))
      v_k  = v_{k+1} + α H_{r+η}(θ_k) v_{k+1},      for k = K-1, ..., 0.

    Args:
      mdp: the MDP with the extrinsic reward r.
      theta: `(S, A)` fixed initial parameters θ_0.
      intrinsic: `(S, A)` intrinsic reward η (the meta-parameter).
      steps, lr: K and α of the inner loop.
    Returns:
      `(S, A)` the exact meta-gradient with respect to η.
    """
    inner_mdp = mdp.with_rewards(mdp.rewards + np.asarray(intrinsic, dtype=float))
    iterates = inner_loop(inner_mdp, theta, steps=steps, lr=lr)
    vector = mdp.gradient(iterates[-1])
    meta = np.zeros_like(vector)
    for iterate in reversed(iterates[:-1]):
        hessian_vector, occupancy_vector = inner_mdp.tangents(iterate, vector[None])
        meta = meta + lr * occupancy_vector[0]
        vector = vector + lr * hessian_vector[0]
    return meta


def _check_steps_and_lr(steps: int, lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
    if not np.isfinite(lr):
        raise ValueError(f"lr: expected a finite number, got {lr!r}")
