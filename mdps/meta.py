"""Exact (ideal-target) meta-gradients through K exact inner policy-gradient steps.

Inner loop: θ_{k+1} = θ_k + α_k ∇V_in(θ_k). Outer objective, one of
  `final`:    J = V_out(θ_K)                       (the value after learning),
  `lifetime`: J = (1/K) Σ_{k<K} V_out(θ_k)          (the reward collected while learning),
both written J = Σ_{k=0..K} w_k V_out(θ_k) with the weights of `objective_weights`.

Every meta-gradient is accumulated in reverse, one Hessian-vector product per step:
  v_K = w_K ∇V_out(θ_K);   v_k = w_k ∇V_out(θ_k) + v_{k+1} + α_k H_in(θ_k) v_{k+1},
so it costs O(K) gradient-sized solves and never forms an `S*A x S*A` matrix. v_k is
dJ/dθ_k; the meta-parameters read it off:
  `init` (θ_0):                 dJ/dθ_0 = v_0,
  `intrinsic` (η, reward r+η):  dJ/dη = Σ_k α_k (∂occ/∂θ)(θ_k) v_{k+1},
  `lr_schedule` (α_k = softplus(η_{phase(k)})):  dJ/dη_p = Σ_{k: phase(k)=p} σ(η_p) ∇V_in(θ_k)·v_{k+1}.
"""
from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from mdps.policy import sigmoid
from mdps.tabular import TabularMDP

Objective = Literal["final", "lifetime"]
OBJECTIVES: tuple[str, ...] = ("final", "lifetime")


def objective_weights(steps: int, objective: Objective) -> np.ndarray:
    """Weights w_k of V_out(θ_k), k = 0..K, in J = Σ_k w_k V_out(θ_k).

    `final`: w = e_K. `lifetime`: w_k = 1/K for k < K and w_K = 0 (θ_K is never acted with).
    Returns:
      `(K + 1,)` weights.
    """
    _check_steps_and_lr(steps, 0.0)
    weights = np.zeros(steps + 1)
    if objective == "final":
        weights[-1] = 1.0
    elif objective == "lifetime":
        if steps < 1:
            raise ValueError("steps: the lifetime objective needs at least one inner step")
        weights[:-1] = 1.0 / steps
    else:
        raise ValueError(f"objective: expected one of {OBJECTIVES}, got {objective!r}")
    return weights


def softplus(x: np.ndarray) -> np.ndarray:
    """log(1 + eˣ), computed stably."""
    return np.logaddexp(0.0, np.asarray(x, dtype=float))


def schedule_phases(steps: int, cutoff: int) -> np.ndarray:
    """phase(k) = 0 for k < cutoff, 1 otherwise, `(K,)` int (Vuorio et al.: cutoff = K // 10)."""
    if isinstance(cutoff, bool) or not isinstance(cutoff, (int, np.integer)) or cutoff < 0:
        raise ValueError(f"cutoff: expected a non-negative integer, got {cutoff!r}")
    return (np.arange(steps) >= cutoff).astype(int)


def learning_rate_schedule(eta: np.ndarray, steps: int, cutoff: int) -> np.ndarray:
    """α_k = softplus(η_{phase(k)}), `(K,)`; η `(2,)`."""
    eta = _check_eta(eta)
    return softplus(eta)[schedule_phases(steps, cutoff)]


def inner_loop(mdp: TabularMDP, theta: np.ndarray, *, steps: int,
               lr: float | Sequence[float] | np.ndarray) -> list[np.ndarray]:
    """Exact gradient ascent θ_{k+1} = θ_k + α_k ∇V(θ_k).

    Args:
      lr: one learning rate α for every step, or `(K,)` rates α_k.
    Returns:
      The K + 1 iterates `[θ_0, ..., θ_K]`, each `(S, A)`.
    """
    rates = _learning_rates(steps, lr)
    iterates = [np.asarray(theta, dtype=float)]
    for rate in rates:
        iterates.append(iterates[-1] + rate * mdp.gradient(iterates[-1]))
    return iterates


def reverse_adjoints(inner_mdp: TabularMDP, outer_mdp: TabularMDP, iterates: list[np.ndarray],
                     rates: np.ndarray, weights: np.ndarray, *,
                     occupancy: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The reverse accumulation of the module docstring.

    v_K = w_K ∇V_out(θ_K);  v_k = w_k ∇V_out(θ_k) + v_{k+1} + α_k H_in(θ_k) v_{k+1}.

    Args:
      inner_mdp, outer_mdp: the MDPs of the inner steps and of the outer objective.
      iterates: θ_0..θ_K, each `(S, A)`; rates: `(K,)` α_k; weights: `(K + 1,)` w_k.
      occupancy: also return (∂occ/∂θ)(θ_k) v_{k+1} (for the intrinsic meta-parameter).
    Returns:
      v_0 `(S, A)`, the adjoints v_1..v_K `(K, S, A)` (row k holds v_{k+1}), and the
      occupancy products `(K, S, A)` (row k at θ_k) or None.
    """
    steps = len(rates)
    adjoints = np.zeros((steps, *np.shape(iterates[0])))
    products = np.zeros_like(adjoints) if occupancy else None
    vector = weights[-1] * outer_mdp.gradient(iterates[-1])
    for k in range(steps - 1, -1, -1):
        adjoints[k] = vector
        if occupancy:
            hessian_vector, occupancy_vector = inner_mdp.tangents(iterates[k], vector[None])
            hessian_vector, products[k] = hessian_vector[0], occupancy_vector[0]
        else:
            hessian_vector = inner_mdp.hessian_vector_product(iterates[k], vector)
        vector = vector + rates[k] * hessian_vector
        if weights[k]:
            vector = vector + weights[k] * outer_mdp.gradient(iterates[k])
    return vector, adjoints, products


def meta_gradient(mdp: TabularMDP, theta: np.ndarray, *, steps: int, lr: float | Sequence[float],
                  outer_mdp: TabularMDP | None = None, objective: Objective = "final") -> np.ndarray:
    """dJ/dθ_0 for the `init` (MAML) meta-parameter.

    `final`: ∇ = (I + α_0 H_in(θ_0)) ⋯ (I + α_{K-1} H_in(θ_{K-1})) ∇V_out(θ_K); in general the
    reverse accumulation of the module docstring (each H symmetric).

    Args:
      mdp: inner-loop MDP (its value drives the inner steps).
      theta: `(S, A)` initial parameters θ_0, the meta-parameter.
      steps: K >= 0 inner steps.
      lr: inner learning rate α, or `(K,)` rates α_k.
      outer_mdp: MDP of the outer objective; defaults to `mdp`.
      objective: `final` V_out(θ_K) or `lifetime` (1/K) Σ_{k<K} V_out(θ_k).
    Returns:
      `(S, A)` the exact meta-gradient.
    """
    outer_mdp = mdp if outer_mdp is None else outer_mdp
    rates = _learning_rates(steps, lr)
    iterates = inner_loop(mdp, theta, steps=steps, lr=rates)
    weights = objective_weights(steps, objective)
    return reverse_adjoints(mdp, outer_mdp, iterates, rates, weights)[0]


def intrinsic_meta_gradient(mdp: TabularMDP, theta: np.ndarray, intrinsic: np.ndarray, *,
                            steps: int, lr: float | Sequence[float], objective: Objective = "final") -> np.ndarray:
    """dJ/dη for the `intrinsic` (LIRPG) meta-parameter η `(S, A)`.

    Inner steps ascend V_{r+η}; the outer objective is J of V_r. With v_{k+1} = dJ/dθ_{k+1}:
      ∇_η += α_k (∂occ/∂θ(θ_k)) v_{k+1}   (mixed term ∂_η ∇_θ V_{r+η}, since
                                           ∇_θ V_{r+η} = (∂occ/∂θ)ᵀ (r + η)).

    Args:
      mdp: the MDP with the extrinsic reward r.
      theta: `(S, A)` fixed initial parameters θ_0.
      intrinsic: `(S, A)` intrinsic reward η (the meta-parameter).
      steps, lr: K and α (or `(K,)` α_k) of the inner loop.
      objective: `final` or `lifetime`.
    Returns:
      `(S, A)` the exact meta-gradient with respect to η.
    """
    inner_mdp = mdp.with_rewards(mdp.rewards + np.asarray(intrinsic, dtype=float))
    rates = _learning_rates(steps, lr)
    iterates = inner_loop(inner_mdp, theta, steps=steps, lr=rates)
    weights = objective_weights(steps, objective)
    _, _, products = reverse_adjoints(inner_mdp, mdp, iterates, rates, weights, occupancy=True)
    return np.tensordot(rates, products, axes=1)


def learning_rate_meta_gradient(mdp: TabularMDP, theta0: np.ndarray, eta: np.ndarray, *, steps: int,
                                cutoff: int, objective: Objective = "final",
                                outer_mdp: TabularMDP | None = None) -> np.ndarray:
    """dJ/dη for the `lr_schedule` meta-parameter: α_k = softplus(η_0) for k < cutoff, softplus(η_1) after.

    dJ/dα_k = ∇V_in(θ_k) · v_{k+1} (θ_{k+1} = θ_k + α_k ∇V_in(θ_k)), so
    dJ/dη_p = σ(η_p) Σ_{k: phase(k) = p} ∇V_in(θ_k) · v_{k+1}, with v the reverse adjoints of
    the module docstring (one Hessian-vector product per step).

    Args:
      mdp: inner-loop MDP.
      theta0: `(S, A)` fixed initial parameters θ_0.
      eta: `(2,)` the schedule parameters η.
      steps: K >= 1 inner steps.
      cutoff: number of steps in phase 0 (Vuorio et al.: K // 10).
      objective: `final` V_out(θ_K) or `lifetime` (1/K) Σ_{k<K} V_out(θ_k).
      outer_mdp: MDP of the outer objective; defaults to `mdp`.
    Returns:
      `(2,)` the exact meta-gradient dJ/dη.
    """
    outer_mdp = mdp if outer_mdp is None else outer_mdp
    eta = _check_eta(eta)
    rates = learning_rate_schedule(eta, steps, cutoff)
    phases = schedule_phases(steps, cutoff)
    iterates = inner_loop(mdp, theta0, steps=steps, lr=rates)
    weights = objective_weights(steps, objective)
    _, adjoints, _ = reverse_adjoints(mdp, outer_mdp, iterates, rates, weights)
    inner_gradients = np.stack([mdp.gradient(theta) for theta in iterates[:-1]]).reshape(steps, -1)
    rate_gradients = (inner_gradients * adjoints.reshape(steps, -1)).sum(axis=1)        # dJ/dα_k
    return sigmoid(eta) * np.bincount(phases, rate_gradients, minlength=2)


def learning_rate_objective(mdp: TabularMDP, theta0: np.ndarray, eta: np.ndarray, *, steps: int,
                            cutoff: int, objective: Objective = "final",
                            outer_mdp: TabularMDP | None = None) -> float:
    """J(η) = Σ_k w_k V_out(θ_k) with the exact inner loop under the schedule α_k(η)."""
    outer_mdp = mdp if outer_mdp is None else outer_mdp
    iterates = inner_loop(mdp, theta0, steps=steps, lr=learning_rate_schedule(eta, steps, cutoff))
    weights = objective_weights(steps, objective)
    return float(sum(w * outer_mdp.value(theta) for w, theta in zip(weights, iterates) if w))


def _learning_rates(steps: int, lr) -> np.ndarray:
    """`(K,)` α_k from one rate or a sequence of K rates."""
    if np.ndim(lr) == 0:
        _check_steps_and_lr(steps, lr)
        return np.full(steps, float(lr))
    rates = np.asarray(lr, dtype=float)
    _check_steps_and_lr(steps, 0.0)
    if rates.shape != (steps,) or not np.all(np.isfinite(rates)):
        raise ValueError(f"lr: expected a finite number or {steps} finite rates, got shape {rates.shape}")
    return rates


def _check_eta(eta) -> np.ndarray:
    eta = np.asarray(eta, dtype=float)
    if eta.shape != (2,) or not np.all(np.isfinite(eta)):
        raise ValueError(f"eta: expected 2 finite numbers (the two phases of the schedule), got {eta!r}")
    return eta


def _check_steps_and_lr(steps: int, lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
    if not np.isfinite(lr):
        raise ValueError(f"lr: expected a finite number, got {lr!r}")
