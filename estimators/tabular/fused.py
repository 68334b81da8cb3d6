"""One compiled kernel per batch: rollouts, returns, baselines, the family's weights and the score sums.

The numpy path (`surrogates.draw_batch` + `Surrogate`) materialises a batch as `(R, N, T)`
arrays and makes a dozen passes over them. Here one `numba` kernel takes one repetition
at a time: its N rollouts advance together (time outer, so the uniforms are read in the
order they were drawn) into `(N, T)` index buffers, then each trajectory is processed
alone in T-long buffers:

  1. rollout: s_0 ~ ρ, a_t ~ π_r(·|s_t), s_{t+1} ~ P(·|s_t, a_t) by inverse CDF with guide
     tables, from uniforms that numpy drew in the order `mdps.sample_trajectories` draws
     them (`draw_rollout_uniforms`), so the trajectories are the same;
  2. R_t = r_t + γ R_{t+1} with R_T = V̂_T(s_T) (truncated, with a critic), b_t = V̂_t(s_t),
     A_t = R_t - b_t; or, for GAE(λ) (λ < 1, `estimators.tabular.advantages`), δ_t = r_t +
     γ V̂_{t+1}(s_{t+1}) − V̂_t(s_t) with the same bootstrap and A_t = δ_t + γλ A_{t+1};
  3. β_t, ω_k = Σ_{t≥k} μ^{t-k} β_t and, given v, u_k(v) = Σ_{t≥k} μ^{t-k} β_t (W_t·v) and
     the LIRPG coefficients γᵗ (W'_t·v), read from the family table
     (`surrogates.family_rule`); with GAE or a differentiated critic
     (`surrogates.mixed_through_td`) the TD coefficients c_j = γʲ Σ_{t≤j} λ^{j−t} x_t,
     x_t = W'_t·v − W'_{t−1}·v, instead;
  4. the indicator totals Σ ω e_{(s,a)}, Σ u e_{(s,a)}, Σ γᵗ W' e_{(s,a)} (or Σ c e_{(s,a)})
     and the state totals Σ ω e_s, accumulated in the step order of `np.bincount`; for the
     differentiated critic the `(R, L, S)` critic state weights Σ c_j (γ e_{s_{j+1}} − e_{s_j})
     in the order of `np.add.at` in `advantages.critic_state_weights`. Their one transposed
     solve per repetition (O(R·S²) after the factorisation) stays in numpy
     (`advantages.critic_reward_vector_product`), the same call as the numpy path's.

The O(R·S·A) finishes are the numpy ones of `estimators.scores` (`scores_from_totals`,
`log_policy_curvature`), and every floating-point operation of steps 1-4 is the numpy
path's, in the same order. The policy's sampling tables are built in the kernel with
the same numbers. Only the critic (exact or noisy) is computed differently: its Bellman
solve (Gaussian elimination with partial pivoting, one per repetition, one when all
repetitions share θ) and its finite-horizon recursion sum in another order than
LAPACK and `einsum`. So the estimates are bit-identical to the numpy path on the same
random stream for the critic `none` and for `dice` (which reads no critic), and agree to
rounding (≤ 1e-12 relative, ~1e-14 measured) with the `exact` and `noisy` critics
(`tests/test_fused_kernel.py`; GAE and the differentiated critic included: given the same
V̂, every product is bit-identical). A batch drawn once can be re-rolled from its stored
uniforms, which is how a shared inner/Hessian batch is used twice without keeping its
trajectories.

The exact parts of Liu et al.'s split (`e`: ∇V and the Hessian- and occupancy-vector
products at each repetition's own θ_k) are closed forms, not batches, but on an infinite
horizon they cost four Bellman solves per repetition: `compiled_exact` computes them in
the kernel (`fused_kernels.exact_parts`, one LU with partial pivoting per policy serving
M and Mᵀ), agreeing with the `TabularMDP` methods (LAPACK) to rounding (~1e-15), so a
split with such a part is equal to the numpy path within 1e-12, not bit for bit.

The kernels live in `estimators.tabular.kernels`, imported on first use (numba takes ~1.5 s
to import, which commands that sample nothing should not pay). Without numba `estimators.problem.AVAILABLE`
is False and the estimators fall back to the numpy path (same numbers, slower).
`cache=True` compiles once per machine (~15 s) and every later process loads the
compiled code from the disk cache (~0.6 s).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.tabular.advantages import critic_reward_vector_product
from estimators import problem as kernel_choice
from estimators.scores import log_policy_curvature, policy_dots, scores_from_totals
from estimators.tabular.surrogates import (CURVATURE_ONLY, DIFFERENCES, FULL_HESSIAN, NO_HESSIAN, REWARDS, FamilyRule,
                                   mixed_through_td, uses_gae)
from mdps import TabularMDP, softmax_policy
from mdps.sampling import draw_rollout_uniforms

# ---------------------------------------------------------------------------- drawn batches
@dataclass(frozen=True, eq=False)
class DrawnBatch:
    """What a batch is made of before it is rolled out: the policy tables, the critic and the uniforms.

    Attributes:
      mdp: the dynamics.
      policy: `(R, S, A)` π_r; cumulative_policy, policy_guide: `(R·S, A)` its sampling tables.
      reward_table: `(S, A)` rewards of the returns (r, or r + η for the inner loop).
      values: `(R, L, S)` critic V̂ (L = 0 when the family reads no critic or there is none).
      truncated: whether the rollouts bootstrap from V̂_T(s_T).
      discounts: `(T,)` γᵗ.
      initial_uniforms: `(R, N)`; step_uniforms: `(T, 2, R, N)` (see `draw_rollout_uniforms`).
    """

    mdp: TabularMDP
    policy: np.ndarray
    cumulative_policy: np.ndarray
    policy_guide: np.ndarray
    reward_table: np.ndarray
    values: np.ndarray
    truncated: bool
    discounts: np.ndarray
    initial_uniforms: np.ndarray
    step_uniforms: np.ndarray

    @property
    def n_trajectories(self) -> int:
        return self.initial_uniforms.shape[1]


def draw_compiled_batch(mdp: TabularMDP, thetas: np.ndarray, n_trajectories: int, length: int,
                        rng: np.random.Generator, *, rewards: np.ndarray | None, critic: str, critic_noise: float,
                        needs_critic: bool) -> DrawnBatch:
    """Draw a batch as `surrogates.draw_batch` does (same draws from `rng`, same critic), without rolling it out.

    Args: as `draw_batch` with a `TabularMDP`, T = `length` (already capped at H).
    """
    truncated = mdp.horizon is None or length < mdp.horizon
    reward_table = mdp.rewards if rewards is None else np.asarray(rewards, dtype=float)
    thetas = np.asarray(thetas, dtype=float)
    policy = softmax_policy(thetas)
    from estimators.tabular import kernels as fused_kernels

    cumulative_policy, policy_guide = fused_kernels.policy_tables(policy)
    n_policies = thetas.shape[0]
    initial_uniforms, step_uniforms = draw_rollout_uniforms(rng, n_policies, n_trajectories, length)
    noise_draw = (rng.standard_normal((n_policies, mdp.n_states)) if critic == "noisy"
                  else np.zeros((n_policies, mdp.n_states)))
    if critic == "none" or not needs_critic:
        values = np.zeros((n_policies, 0, mdp.n_states))
    else:
        common = bool(np.all(thetas == thetas[:1]))
        values = fused_kernels.critic_values(policy, mdp.transitions, reward_table, mdp.gamma, mdp.horizon or 0,
                                             common, noise_draw, float(critic_noise), critic == "noisy")
    discounts = mdp.gamma ** np.arange(length)
    return DrawnBatch(mdp, policy, cumulative_policy, policy_guide, reward_table, values, truncated, discounts,
                      initial_uniforms, step_uniforms)


@dataclass(frozen=True)
class Totals:
    """The raw sums of one roll-out of a `DrawnBatch` (see `fused_kernels.batch_totals`), None where not asked.

    Attributes:
      gradient: `(R, S, A)` Σ w·ω_t e_{(s_t, a_t)}.
      states: `(R, S)` Σ w·ω_t e_{s_t}.
      hessian: `(R, S, A)` Σ u_t(v) e_{(s_t, a_t)}.
      mixed: `(R, S, A)` Σ (w·γᵗ)(W'_t·v) e_{(s_t, a_t)}.
      counts: `(R, S, A)` visits of (s, a).
      lsf: `(R, S, A)` Σ_m w (ĝ_m·v) Σ_t e_{(s_t, a_t)}.
      critic: `(R, L, S)` the critic state weights Σ_j w·c_j (γ e_{(j+1, s_{j+1})} − e_{(j, s_j)})
        of the differentiated critic (`advantages.critic_state_weights` before its 1/N).
    """

    gradient: np.ndarray | None
    states: np.ndarray | None
    hessian: np.ndarray | None
    mixed: np.ndarray | None
    counts: np.ndarray | None
    lsf: np.ndarray | None
    critic: np.ndarray | None = None


def roll_out_totals(batch: DrawnBatch, rule: FamilyRule, *, pre_weight: float = 1.0, vectors: np.ndarray | None = None,
                    gradient: bool = False, states: bool = False, hessian: bool = False, mixed: bool = False,
                    counts: bool = False, lsf: bool = False, gae_lambda: float = 1.0,
                    differentiate_critic: bool = False) -> Totals:
    """Roll the batch out in the kernel and return the sums asked for (`Totals`).

    Args:
      batch: from `draw_compiled_batch` (may be rolled out any number of times).
      rule: the family's row of the family table (β, μ, Hessian kind, mixed decay).
      pre_weight: w, the weight of every trajectory inside the sums (1 for the split).
      vectors: `(R, S, A)` v (needed for `hessian`, `mixed` and `lsf`).
      gae_lambda: GAE(λ) advantages when the family reads A_t and λ < 1 (`surrogates.uses_gae`).
      differentiate_critic: with `mixed`, also accumulate the critic state weights (`Totals.critic`;
        only when the batch has a critic and the mixed term goes through TD coefficients,
        `surrogates.mixed_through_td`).
    """
    from estimators.tabular import kernels as fused_kernels   # imports numba (once per process)

    policy, mdp = batch.policy, batch.mdp
    shape = policy.shape
    if (hessian or mixed or lsf) and vectors is None:
        raise ValueError("vectors: required for the Hessian-vector product, the mixed and the LSF terms")
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors, dtype=float)
        if vectors.shape != shape:
            raise ValueError(f"vectors: expected shape {shape}, got {vectors.shape}")
    hessian = hessian and rule.hessian == FULL_HESSIAN
    td_mixed = mixed_through_td(rule, gae_lambda, differentiate_critic)
    critic = mixed and td_mixed and differentiate_critic and batch.values.shape[1] > 0

    def totals(wanted: bool, size: tuple[int, ...]) -> np.ndarray:
        return np.zeros(size) if wanted else np.zeros((0,) * len(size))

    sums = Totals(totals(gradient, shape), totals(states, shape[:2]), totals(hessian, shape), totals(mixed, shape),
                  totals(counts, shape), totals(lsf, shape), totals(critic, batch.values.shape))
    fused_kernels.batch_totals(
        batch.cumulative_policy, batch.policy_guide, mdp.cumulative_transitions.reshape(mdp.dim, -1),
        mdp.transition_guide, _cumulative_initial(mdp), batch.reward_table, batch.values, batch.truncated,
        batch.discounts, mdp.gamma, batch.initial_uniforms, batch.step_uniforms,
        rule.outer == REWARDS, rule.outer == DIFFERENCES, float(rule.decay), rule.hessian == FULL_HESSIAN,
        float(rule.mixed_decay), mdp.gamma * float(gae_lambda) if uses_gae(rule, gae_lambda) else -1.0, td_mixed,
        float(gae_lambda),
        np.zeros((0, 0, 0)) if vectors is None else vectors,
        np.zeros((0, 0)) if vectors is None else policy_dots(policy, vectors), float(pre_weight),
        sums.gradient, sums.states, sums.hessian, sums.mixed, sums.counts, sums.lsf, sums.critic)
    return Totals(*(total if total.size else None for total in (sums.gradient, sums.states, sums.hessian, sums.mixed,
                                                                 sums.counts, sums.lsf, sums.critic)))


def compiled_products(batch: DrawnBatch, rule: FamilyRule, *, gradient: bool = True, vectors: np.ndarray | None = None,
                      hessian: bool = False, mixed: bool = False, gae_lambda: float = 1.0,
                      critic_mdp: TabularMDP | None = None) -> tuple:
    """(ĝ, Ĥv, ∂_η(ĝ·v)) of a family on the batch, each `(R, S, A)` or None when not asked.

    The same numbers as `Surrogate(draw_batch(...), family, gae_lambda=..., critic_mdp=...)`'s
    `.gradient()`, `.hessian_vector_product(v)` and `.mixed_vector_product(v)` on the same draws.
    With `critic_mdp` (the critic of r + η differentiated in η) the kernel returns the critic
    state weights and the one transposed solve per repetition runs here, in numpy
    (`advantages.critic_reward_vector_product`, the numpy path's own function).
    """
    curvature = hessian and rule.hessian != NO_HESSIAN
    sums = roll_out_totals(batch, rule, vectors=vectors, gradient=gradient, states=curvature, hessian=curvature,
                           mixed=mixed, gae_lambda=gae_lambda, differentiate_critic=critic_mdp is not None)
    policy, n_trajectories = batch.policy, batch.n_trajectories
    result_gradient = scores_from_totals(sums.gradient, policy) / n_trajectories if gradient else None
    result_hessian = None
    if curvature:
        result_hessian = log_policy_curvature(policy, sums.states / n_trajectories, vectors)
        if rule.hessian != CURVATURE_ONLY:
            result_hessian = result_hessian + scores_from_totals(sums.hessian, policy) / n_trajectories
    elif hessian:
        result_hessian = np.zeros(policy.shape)
    result_mixed = sums.mixed / n_trajectories if mixed else None
    if sums.critic is not None:
        result_mixed = result_mixed + critic_reward_vector_product(critic_mdp, policy, sums.critic / n_trajectories)
    return result_gradient, result_hessian, result_mixed


# ---------------------------------------------------------------------------- exact parts
def compiled_exact(mdp: TabularMDP, thetas: np.ndarray, common: bool,
                   vectors: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """The exact parts of a split in the kernel (`fused_kernels.exact_parts`), infinite horizon:
    ∇V(θ_r) `(R, S, A)` and, given `vectors` v_r, (∇²V(θ_r) v_r, (∂occ/∂θ)(θ_r) v_r) (else None).

    The numbers of `mdp.batch_values_and_gradients(thetas)[2]` and `mdp.batch_tangents(thetas,
    vectors[:, None])` to rounding (one LU per policy instead of LAPACK's solves: ~1e-15).
    `common`: every row of `thetas` is the same policy (one factorisation).
    """
    from estimators.tabular import kernels as fused_kernels

    if mdp.horizon is not None:
        raise ValueError("mdp: the compiled exact parts are for infinite-horizon MDPs; use the numpy methods")
    products = vectors is not None
    directions = np.ascontiguousarray(vectors, dtype=float) if products else np.zeros((0, 0, 0))
    gradients, hessian, occupancy = fused_kernels.exact_parts(
        np.ascontiguousarray(thetas, dtype=float), directions, mdp.transitions, mdp.rewards, mdp.initial,
        float(mdp.gamma), bool(common), products)
    return gradients, (hessian if products else None), (occupancy if products else None)


def _cumulative_initial(mdp: TabularMDP) -> np.ndarray:
    cumulative = np.cumsum(mdp.initial)
    cumulative[-1] = 1.0
    return cumulative


def compile_kernel() -> float:
    """Compile (or load from the on-disk cache) every specialisation used; returns the seconds it took."""
    import time

    from mdps import random_mdp
    from estimators.tabular.surrogates import family_rule

    start = time.perf_counter()
    if kernel_choice.AVAILABLE:
        mdp = random_mdp(3, 2, seed=0)
        batch = draw_compiled_batch(mdp, np.zeros((1, 3, 2)), 1, 2, np.random.default_rng(0), rewards=None,
                                    critic="exact", critic_noise=1.0, needs_critic=True)
        compiled_products(batch, family_rule("loaded", 0.5), vectors=np.ones((1, 3, 2)), hessian=True, mixed=True)
        compiled_exact(mdp, np.zeros((1, 3, 2)), True, np.ones((1, 3, 2)))
    return time.perf_counter() - start
