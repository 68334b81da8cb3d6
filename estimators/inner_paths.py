"""Paths of sampled inner steps: REINFORCE batches, their derivative kernels, the reverse pass.

Inner step (REINFORCE with rewards-to-go, no baseline, truncated rollouts of length T):
  θ_k = θ_{k-1} + α ĝ(θ_{k-1}; b_k),   ĝ = Σ_m w_m Σ_t γᵗ R_{m,t} z_{m,t},
where batch b_k holds trajectories m with weights w_m (1/N when sampled) and
R_t = Σ_{j≥t} γ^{j-t} r_j. The outer objective V_out(θ_K) is exact.

Every estimator here is one reverse pass over a path of batches (λ is the adjoint of θ):
  λ_K = ∇V_out(θ_K);   λ_{k-1} = λ_k + α Ĵ_kᵀ λ_k + λ_c (V_out(θ_K) − b) s_k,
with s_k = Σ_{m∈b_k} Σ_t z_{m,t} the batch score and Ĵ_k the Jacobian estimate:
  `naive`  ∇_θ ĝ with samples held fixed = Σ w Σ γᵗ R_t ∇²log π_t     (autodiff through ĝ)
  `dice`   naive + Σ w Σ γᵗ r_t G_t G_tᵀ                              (DiCE Hessian, same batch)
  `lsf`    naive + Σ w s_m ĝ_mᵀ                                      (Tang 2022)
`sf` = naive with λ_c = 1: unbiased for the practical target. The exact target is the
same pass averaged over *every* path, weighted by its probability (enumeration), or
a high-repetition `sf` run with its standard error (reference).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from estimators.problem import MetaProblem
from mdps import sample_trajectories, softmax_policy

Jacobian = Literal["naive", "dice", "lsf"]


@dataclass(frozen=True)
class WeightedBatch:
    """Trajectories of one inner step for R paths; trajectory axes broadcast over R.

    Attributes:
      states, actions: `(R or 1, M, T)` int.
      discounted_rewards: `(R or 1, M, T)` γᵗ r_t (inner reward).
      weights: `(R, M)` weight of each trajectory in the batch mean ĝ.
      counts: `(R, M)` copies of each trajectory in the batch (its score multiplicity).
      gamma_powers: `(T,)` γᵗ.
    """

    states: np.ndarray
    actions: np.ndarray
    discounted_rewards: np.ndarray
    weights: np.ndarray
    counts: np.ndarray
    gamma_powers: np.ndarray

    @property
    def discounted_returns(self) -> np.ndarray:
        """γᵗ R_t = Σ_{j≥t} γʲ r_j, `(R or 1, M, T)`."""
        return np.flip(np.cumsum(np.flip(self.discounted_rewards, -1), -1), -1)


# ----------------------------------------------------------------------------- kernels
def _index(batch: WeightedBatch, n_paths: int, n_states: int, n_actions: int):
    shape = (n_paths, *batch.states.shape[1:])
    path = np.arange(n_paths)[:, None, None]
    state_index = np.broadcast_to(path * n_states + batch.states, shape)
    pair_index = state_index * n_actions + batch.actions
    return shape, path, state_index, pair_index


def scatter_scores(policy: np.ndarray, batch: WeightedBatch, coefficients: np.ndarray) -> np.ndarray:
    """Σ_{m,t} c_{m,t} z_{m,t}, with z_t = e_{a_t} − π(·|s_t) on row s_t.

    Args:
      policy: `(R, S, A)`; coefficients: `(R, M, T)`.
    Returns:
      `(R, S, A)`.
    """
    n_paths, n_states, n_actions = policy.shape
    shape, _, state_index, pair_index = _index(batch, n_paths, n_states, n_actions)
    coefficients = np.broadcast_to(coefficients, shape).ravel()
    indicator = np.bincount(pair_index.ravel(), coefficients, n_paths * n_states * n_actions)
    per_state = np.bincount(state_index.ravel(), coefficients, n_paths * n_states)
    return indicator.reshape(policy.shape) - per_state.reshape(n_paths, n_states, 1) * policy


def scatter_indicators(policy: np.ndarray, batch: WeightedBatch, coefficients: np.ndarray) -> np.ndarray:
    """Σ_{m,t} c_{m,t} e_{(s_t, a_t)}, `(R, S, A)`."""
    n_paths, n_states, n_actions = policy.shape
    shape, _, _, pair_index = _index(batch, n_paths, n_states, n_actions)
    coefficients = np.broadcast_to(coefficients, shape).ravel()
    return np.bincount(pair_index.ravel(), coefficients, n_paths * n_states * n_actions).reshape(policy.shape)


def scatter_log_policy_hvp(policy: np.ndarray, batch: WeightedBatch, coefficients: np.ndarray,
                           vectors: np.ndarray) -> np.ndarray:
    """Σ_{m,t} c_{m,t} ∇²log π(a_t|s_t) v = −W_s π_s ⊙ (v_s − π_s·v_s), W_s = Σ_{s_t = s} c.

    O(M·T) scatter plus O(S·A) per path. Shapes as in `scatter_scores`; vectors `(R, S, A)`.
    """
    n_paths, n_states, n_actions = policy.shape
    shape, _, state_index, _ = _index(batch, n_paths, n_states, n_actions)
    weights = np.bincount(state_index.ravel(), np.broadcast_to(coefficients, shape).ravel(), n_paths * n_states)
    centred = vectors - (policy * vectors).sum(axis=-1, keepdims=True)
    return -weights.reshape(n_paths, n_states, 1) * policy * centred


def score_dot(policy: np.ndarray, batch: WeightedBatch, vectors: np.ndarray) -> np.ndarray:
    """z_{m,t} · v for every step, `(R, M, T)`."""
    n_paths = policy.shape[0]
    _, path, _, _ = _index(batch, n_paths, *policy.shape[1:])
    policy_dot = (policy * vectors).sum(axis=-1)                       # (R, S)
    return vectors[path, batch.states, batch.actions] - policy_dot[path, batch.states]


def inner_gradient(policy: np.ndarray, batch: WeightedBatch) -> np.ndarray:
    """ĝ = Σ_m w_m Σ_t γᵗ R_t z_t, `(R, S, A)`."""
    return scatter_scores(policy, batch, batch.weights[..., None] * batch.discounted_returns)


def jacobian_transpose_product(policy: np.ndarray, batch: WeightedBatch, vectors: np.ndarray,
                               jacobian: Jacobian) -> np.ndarray:
    """Ĵᵀ v for the Jacobian estimate `jacobian` of ĝ (see module docstring), `(R, S, A)`."""
    weighted_returns = batch.weights[..., None] * batch.discounted_returns
    product = scatter_log_policy_hvp(policy, batch, weighted_returns, vectors)
    if jacobian == "naive":
        return product
    dots = score_dot(policy, batch, vectors)                          # (R, M, T)
    if jacobian == "dice":   # Σ_t γᵗ r_t G_t (G_t·v) = Σ_k z_k Σ_{t≥k} γᵗ r_t (G_t·v)
        inner = batch.weights[..., None] * batch.discounted_rewards * np.cumsum(dots, axis=-1)
        return product + scatter_scores(policy, batch, np.flip(np.cumsum(np.flip(inner, -1), -1), -1))
    if jacobian == "lsf":    # Σ_m w_m s_m (ĝ_m·v)
        per_trajectory = (batch.discounted_returns * dots).sum(axis=-1, keepdims=True)
        return product + scatter_scores(policy, batch, batch.weights[..., None] * per_trajectory)
    raise ValueError(f"jacobian: expected 'naive', 'dice' or 'lsf', got {jacobian!r}")


def batch_score(policy: np.ndarray, batch: WeightedBatch) -> np.ndarray:
    """s = Σ_{m∈b} Σ_t z_{m,t} = ∇_θ log p(b; θ), `(R, S, A)`."""
    return scatter_scores(policy, batch, np.broadcast_to(batch.counts[..., None], batch.counts.shape + batch.states.shape[-1:]))


def intrinsic_vector_jacobian_product(policy: np.ndarray, batch: WeightedBatch, vectors: np.ndarray) -> np.ndarray:
    """(∂ĝ/∂η)ᵀ v = Σ_m w_m Σ_j γʲ e_{(s_j, a_j)} (G_j·v), `(R, S, A)` (η enters via r + η)."""
    cumulative = np.cumsum(score_dot(policy, batch, vectors), axis=-1)
    return scatter_indicators(policy, batch, batch.weights[..., None] * batch.gamma_powers * cumulative)


# ------------------------------------------------------------------- forward / backward
@dataclass(frozen=True)
class PracticalPass:
    """How to turn one path of batches into a meta-gradient estimate.

    Attributes:
      jacobian: `naive`, `dice` or `lsf` (module docstring).
      correction: λ_c, the weight of the sampling-correction term (1 = unbiased with `naive`).
      window: reverse through the last `window` inner steps only (None = all K).
      baseline: `none` (b = 0) or `initial_value` (b = V_out(θ_0), a constant).
    """

    jacobian: Jacobian = "naive"
    correction: float = 1.0
    window: int | None = None
    baseline: Literal["none", "initial_value"] = "none"


def check_practical_problem(problem: MetaProblem) -> None:
    """Refuse a problem the practical-target estimators cannot serve (a critic other than `none`)."""
    if problem.critic != "none":
        raise ValueError("critic: the practical target needs critic 'none' (a baseline that "
                         f"depends on φ would need its own derivative), got {problem.critic!r}")


def discount_powers(problem: MetaProblem) -> np.ndarray:
    """`(T,)` γᵗ for t = 0..T-1 (T the rollout length)."""
    return problem.mdp.gamma ** np.arange(problem.rollout_length)


def sampled_batch(problem: MetaProblem, thetas: np.ndarray, n_trajectories: int,
                  rng: np.random.Generator) -> WeightedBatch:
    """N fresh rollouts of length T per path under π_θ (inner reward), weights 1/N."""
    rollouts = sample_trajectories(problem.mdp, softmax_policy(thetas), n_trajectories,
                                   problem.rollout_length, rng, rewards=problem.inner_mdp.rewards)
    gamma_powers = discount_powers(problem)
    ones = np.ones(rollouts.states.shape[:2])
    return WeightedBatch(rollouts.states, rollouts.actions, gamma_powers * rollouts.rewards,
                         ones / n_trajectories, ones, gamma_powers)


def backward_step(policy: np.ndarray, batch: WeightedBatch, adjoint: np.ndarray, outer_value: np.ndarray,
                  settings: PracticalPass, lr: float) -> tuple[np.ndarray, np.ndarray]:
    """One reverse step: (λ_{k-1}, α (∂ĝ_k/∂η)ᵀ λ_k) from λ_k and (V_out(θ_K) − b).

    Args:
      policy: `(R, S, A)` π_{θ_{k-1}}; adjoint: `(R, S, A)` λ_k; outer_value: `(R,)` V_out − b.
    """
    previous = adjoint + lr * jacobian_transpose_product(policy, batch, adjoint, settings.jacobian)
    if settings.correction:
        previous = previous + settings.correction * outer_value[:, None, None] * batch_score(policy, batch)
    return previous, lr * intrinsic_vector_jacobian_product(policy, batch, adjoint)


def practical_estimates(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                        batch: int, settings: PracticalPass) -> np.ndarray:
    """R independent sampled-path estimates of ∇_φ E[V_out(θ_K)], `(R, S, A)`."""
    check_practical_problem(problem)
    thetas = np.broadcast_to(np.asarray(problem.theta0, float), (repetitions, *problem.shape)).copy()
    policies, batches = [], []
    for _ in range(problem.steps):
        policy = softmax_policy(thetas)
        step_batch = sampled_batch(problem, thetas, batch, rng)
        policies.append(policy)
        batches.append(step_batch)
        thetas = thetas + problem.lr * inner_gradient(policy, step_batch)
    values, _, adjoint = problem.mdp.batch_values_and_gradients(thetas)
    outer_value = values - _baseline(problem, settings)
    window = problem.steps if settings.window is None else min(settings.window, problem.steps)
    meta_intrinsic = np.zeros_like(adjoint)
    for k in range(problem.steps - 1, problem.steps - 1 - window, -1):
        adjoint, intrinsic_part = backward_step(policies[k], batches[k], adjoint, outer_value, settings, problem.lr)
        meta_intrinsic += intrinsic_part
    return adjoint if problem.meta_parameter == "init" else meta_intrinsic


def _baseline(problem: MetaProblem, settings: PracticalPass) -> float:
    if settings.baseline == "none":
        return 0.0
    if settings.baseline == "initial_value":
        return problem.mdp.value(np.asarray(problem.theta0, float))
    raise ValueError(f"baseline: expected 'none' or 'initial_value', got {settings.baseline!r}")
