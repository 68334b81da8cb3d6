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

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from estimators.tabular.fused import draw_compiled_batch, roll_out_totals

from estimators.problem import use_compiled
from estimators.tabular.problem import MetaProblem
from estimators.scores import (flat_indices, forward_trace, indicator_sums, log_policy_curvature, reverse_trace,
                               score_dots, score_sums, scores_from_totals, start_discounted_returns, state_sums)
from estimators.tabular.surrogates import CURVATURE_ONLY, FULL_HESSIAN, family_rule
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
    def start_discounted_returns(self) -> np.ndarray:
        """γᵗ R_t = Σ_{j≥t} γʲ r_j, `(R or 1, M, T)`."""
        return start_discounted_returns(self.discounted_rewards)

    def flat_indices(self, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Flat (r, s_t) and (r, s_t, a_t) indices `(R, M, T)` of the steps for R = len(policy)."""
        return flat_indices(self.states, self.actions, *policy.shape)


# ----------------------------------------------------------------------------- kernels
def inner_gradient(policy: np.ndarray, batch: WeightedBatch) -> np.ndarray:
    """ĝ = Σ_m w_m Σ_t γᵗ R_t z_t, `(R, S, A)`."""
    _, flat_state_actions = batch.flat_indices(policy)
    return score_sums(policy, flat_state_actions, batch.weights[..., None] * batch.start_discounted_returns)


def jacobian_transpose_product(policy: np.ndarray, batch: WeightedBatch, vectors: np.ndarray,
                               jacobian: Jacobian) -> np.ndarray:
    """Ĵᵀ v for the Jacobian estimate `jacobian` of ĝ (see module docstring), `(R, S, A)`."""
    flat_states, flat_state_actions = batch.flat_indices(policy)
    weighted_returns = batch.weights[..., None] * batch.start_discounted_returns
    product = log_policy_curvature(policy, state_sums(flat_states, weighted_returns, *policy.shape[:2]), vectors)
    if jacobian == "naive":
        return product
    dots = score_dots(policy, flat_states, flat_state_actions, vectors)                 # (R, M, T)
    if jacobian == "dice":   # Σ_t γᵗ r_t G_t (G_t·v) = Σ_k z_k Σ_{t≥k} γᵗ r_t (G_t·v)
        inner = batch.weights[..., None] * batch.discounted_rewards * forward_trace(dots, 1.0)
        return product + score_sums(policy, flat_state_actions, reverse_trace(inner, 1.0))
    if jacobian == "lsf":    # Σ_m w_m s_m (ĝ_m·v)
        per_trajectory = (batch.start_discounted_returns * dots).sum(axis=-1, keepdims=True)
        return product + score_sums(policy, flat_state_actions, batch.weights[..., None] * per_trajectory)
    raise ValueError(f"jacobian: expected 'naive', 'dice' or 'lsf', got {jacobian!r}")


def batch_score(policy: np.ndarray, batch: WeightedBatch) -> np.ndarray:
    """s = Σ_{m∈b} Σ_t z_{m,t} = ∇_θ log p(b; θ), `(R, S, A)`."""
    _, flat_state_actions = batch.flat_indices(policy)
    return score_sums(policy, flat_state_actions, batch.counts[..., None])


def intrinsic_vector_jacobian_product(policy: np.ndarray, batch: WeightedBatch, vectors: np.ndarray) -> np.ndarray:
    """(∂ĝ/∂η)ᵀ v = Σ_m w_m Σ_j γʲ e_{(s_j, a_j)} (G_j·v), `(R, S, A)` (η enters via r + η)."""
    flat_states, flat_state_actions = batch.flat_indices(policy)
    cumulative = forward_trace(score_dots(policy, flat_states, flat_state_actions, vectors), 1.0)
    return indicator_sums(flat_state_actions, batch.weights[..., None] * batch.gamma_powers * cumulative, policy.shape)


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


def draw_weighted_batch(problem: MetaProblem, thetas: np.ndarray, n_trajectories: int,
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
    return reverse_step(adjoint, outer_value, settings, lr,
                        jacobian_transpose_product(policy, batch, adjoint, settings.jacobian),
                        batch_score(policy, batch) if settings.correction else None,
                        intrinsic_vector_jacobian_product(policy, batch, adjoint))


def reverse_step(adjoint: np.ndarray, outer_value: np.ndarray, settings: PracticalPass, lr: float,
                 jacobian_product: np.ndarray, score: np.ndarray | None,
                 intrinsic_product: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """λ_{k-1} = λ_k + α Ĵ_kᵀ λ_k + λ_c (V_out − b) s_k, and α (∂ĝ_k/∂η)ᵀ λ_k, from the three batch sums."""
    previous = adjoint + lr * jacobian_product
    if settings.correction:
        previous = previous + settings.correction * outer_value[:, None, None] * score
    return previous, lr * intrinsic_product


def practical_estimates(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                        batch: int, settings: PracticalPass) -> np.ndarray:
    """R independent sampled-path estimates of ∇_φ E[V_out(θ_K)], `(R, S, A)`.

    The batches run in one compiled kernel each (`estimators.tabular.fused`) unless `problem.kernel`
    is `numpy`; both paths draw the same numbers from `rng`. The compiled sums are in the
    numpy path's order (bit-identical) except LSF's per-trajectory ĝ_m·v, which numpy sums
    pairwise over T (agreement to rounding).
    """
    check_practical_problem(problem)
    if use_compiled(problem.kernel):
        forward, backward = _compiled_steps(problem, batch, settings)
    else:
        forward, backward = _numpy_steps(problem, batch, settings)
    thetas = np.broadcast_to(np.asarray(problem.theta0, float), (repetitions, *problem.shape)).copy()
    policies, batches = [], []
    for _ in range(problem.steps):
        policy = softmax_policy(thetas)
        step_batch, gradient = forward(thetas, policy, rng)
        policies.append(policy)
        batches.append(step_batch)
        thetas = thetas + problem.lr * gradient
    values, _, adjoint = problem.mdp.batch_values_and_gradients(thetas)
    outer_value = values - _baseline(problem, settings)
    window = problem.steps if settings.window is None else min(settings.window, problem.steps)
    meta_intrinsic = np.zeros_like(adjoint)
    for k in range(problem.steps - 1, problem.steps - 1 - window, -1):
        adjoint, intrinsic_part = backward(policies[k], batches[k], adjoint, outer_value)
        meta_intrinsic += intrinsic_part
    return adjoint if problem.meta_parameter == "init" else meta_intrinsic


def _numpy_steps(problem: MetaProblem, batch: int, settings: PracticalPass):
    """(forward, backward) of the numpy path: `WeightedBatch` and its kernels."""
    def forward(thetas, policy, rng):
        step_batch = draw_weighted_batch(problem, thetas, batch, rng)
        return step_batch, inner_gradient(policy, step_batch)

    def backward(policy, step_batch, adjoint, outer_value):
        return backward_step(policy, step_batch, adjoint, outer_value, settings, problem.lr)

    return forward, backward


def _compiled_steps(problem: MetaProblem, batch: int, settings: PracticalPass):
    """(forward, backward) of the compiled path: the dice row of the family table (β_t = γᵗ r_t,
    μ = 1, so ω_t = γᵗ R_t) with every trajectory weighted 1/N inside the sums."""
    hessian = {"naive": CURVATURE_ONLY, "dice": FULL_HESSIAN, "lsf": CURVATURE_ONLY}.get(settings.jacobian)
    if hessian is None:
        raise ValueError(f"jacobian: expected 'naive', 'dice' or 'lsf', got {settings.jacobian!r}")
    rule = replace(family_rule("dice"), hessian=hessian)
    weight = 1.0 / batch
    rewards = problem.inner_mdp.rewards

    def forward(thetas, policy, rng):
        drawn = draw_compiled_batch(problem.mdp, thetas, batch, problem.rollout_length, rng, rewards=rewards,
                                    critic="none", critic_noise=1.0, needs_critic=False)
        return drawn, scores_from_totals(roll_out_totals(drawn, rule, pre_weight=weight, gradient=True).gradient,
                                         policy)

    def backward(policy, drawn, adjoint, outer_value):
        sums = roll_out_totals(drawn, rule, pre_weight=weight, vectors=adjoint, states=True,
                               hessian=settings.jacobian == "dice", mixed=problem.meta_parameter == "intrinsic",
                               counts=bool(settings.correction), lsf=settings.jacobian == "lsf")
        jacobian_product = log_policy_curvature(policy, sums.states, adjoint)
        for extra in (sums.hessian, sums.lsf):
            if extra is not None:
                jacobian_product = jacobian_product + scores_from_totals(extra, policy)
        score = scores_from_totals(sums.counts, policy) if settings.correction else None
        intrinsic = sums.mixed if sums.mixed is not None else np.zeros_like(adjoint)
        return reverse_step(adjoint, outer_value, settings, problem.lr, jacobian_product, score, intrinsic)

    return forward, backward


def _baseline(problem: MetaProblem, settings: PracticalPass) -> float:
    if settings.baseline == "none":
        return 0.0
    if settings.baseline == "initial_value":
        return problem.mdp.value(np.asarray(problem.theta0, float))
    raise ValueError(f"baseline: expected 'none' or 'initial_value', got {settings.baseline!r}")
