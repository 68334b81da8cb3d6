"""One compiled kernel per batch: rollouts, returns, baselines, the family's weights and the score sums.

The numpy path (`surrogates.draw_batch` + `Surrogate`) materialises a batch as `(R, N, T)`
arrays and makes a dozen passes over them. Here one `numba` kernel walks the R x N
trajectories one at a time, holding each in T-long buffers:

  1. rollout: s_0 ~ ρ, a_t ~ π_r(·|s_t), s_{t+1} ~ P(·|s_t, a_t) by inverse CDF with guide
     tables, from uniforms that numpy drew in the order `mdps.sample_trajectories` draws
     them (`draw_rollout_uniforms`), so the trajectories are the same;
  2. R_t = r_t + γ R_{t+1} with R_T = V̂_T(s_T) (truncated, with a critic), b_t = V̂_t(s_t),
     A_t = R_t - b_t;
  3. β_t, ω_k = Σ_{t≥k} μ^{t-k} β_t and, given v, u_k(v) = Σ_{t≥k} μ^{t-k} β_t (W_t·v) and
     the LIRPG coefficients γᵗ (W'_t·v), read from the family table
     (`surrogates.family_rule`);
  4. the indicator totals Σ ω e_{(s,a)}, Σ u e_{(s,a)}, Σ γᵗ W' e_{(s,a)} and the state
     totals Σ ω e_s, accumulated in the step order of `np.bincount`.

The O(R·S·A) finishes are the numpy ones of `estimators.scores` (`scores_from_totals`,
`log_policy_curvature`), the critic's Bellman solves stay in numpy (`critic_values`), and
every floating-point operation of steps 1-4 is the numpy path's, in the same order: the
estimates are bit-identical to the numpy path on the same random stream
(`tests/test_fused_kernel.py`). A batch drawn once can be re-rolled from its stored
uniforms, which is how a shared inner/Hessian batch is used twice without keeping its
trajectories.

numba is imported lazily and guarded: without it `AVAILABLE` is False and the estimators
fall back to the numpy path (same numbers, slower). `cache=True` compiles once per
machine (the cache lives next to this file, in `__pycache__`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from estimators.scores import log_policy_curvature, policy_dots, scores_from_totals
from estimators.surrogates import (ADVANTAGES, CURVATURE_ONLY, FULL_HESSIAN, NO_HESSIAN, REWARDS, FamilyRule,
                                   critic_values)
from mdps import TabularMDP, softmax_policy
from mdps.sampling import draw_rollout_uniforms, policy_sampling_tables

try:
    from numba import njit
    AVAILABLE = True
except ImportError:  # pragma: no cover - CI installs numba
    AVAILABLE = False

KERNELS: tuple[str, ...] = ("compiled", "numpy")   # the values of `MetaProblem.kernel`


def check_kernel(kernel: str) -> str:
    """`kernel` if it is one of `KERNELS`, else a ValueError naming the field."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    return kernel


def use_compiled(kernel: str) -> bool:
    """True when `kernel` is `compiled` and numba is installed (else the numpy path runs)."""
    return check_kernel(kernel) == "compiled" and AVAILABLE


# ---------------------------------------------------------------------------- the kernel
def _trace_forward(values, decay, out):
    """out_t = x_t + λ out_{t-1}: numpy's cumsum (λ = 1), identity (λ = 0), lfilter otherwise."""
    length = values.shape[0]
    if decay == 0.0:
        for t in range(length):
            out[t] = values[t]
        return
    out[0] = values[0]
    if decay == 1.0:
        for t in range(1, length):
            out[t] = out[t - 1] + values[t]
    else:
        for t in range(1, length):
            out[t] = decay * out[t - 1] + values[t]


def _trace_reverse(values, decay, out):
    """out_k = x_k + λ out_{k+1}, as `scores.reverse_trace`."""
    length = values.shape[0]
    if decay == 0.0:
        for t in range(length):
            out[t] = values[t]
        return
    out[length - 1] = values[length - 1]
    if decay == 1.0:
        for t in range(length - 2, -1, -1):
            out[t] = out[t + 1] + values[t]
    else:
        for t in range(length - 2, -1, -1):
            out[t] = decay * out[t + 1] + values[t]


def _batch_totals(cumulative_policy, policy_guide, transitions, transition_guide, cumulative_initial, reward_table,
                  values, truncated, discounts, gamma, initial_uniforms, step_uniforms,
                  outer, decay, hessian, mixed_decay, vectors, vector_dots,
                  gradient_totals, state_totals, hessian_totals, mixed_totals):
    """Roll out every trajectory and add its terms to the totals (arrays of size 0 are skipped).

    Shapes: cumulative_policy, policy_guide `(R·S, A)`; transitions, transition_guide
    `(S·A, S)`; cumulative_initial `(S,)`; reward_table `(S, A)`; values `(R, L, S)` (L = 0:
    no critic); discounts `(T,)`; initial_uniforms `(R, N)`; step_uniforms `(T, 2, R, N)`;
    vectors `(R, S, A)`, vector_dots `(R, S)`; totals `(R, S, A)` / `(R, S)` or empty.
    """
    n_policies, n_trajectories = initial_uniforms.shape
    length = discounts.shape[0]
    n_states, n_actions = reward_table.shape
    policy_buckets, transition_buckets = policy_guide.shape[1], transition_guide.shape[1]
    with_values = values.shape[1] > 0
    time_dependent = values.shape[1] > 1
    want_gradient = gradient_totals.size > 0
    want_states = state_totals.size > 0
    want_hessian = hessian_totals.size > 0 and hessian == 0   # FULL_HESSIAN
    want_mixed = mixed_totals.size > 0
    states = np.empty(length, np.intp)
    actions = np.empty(length, np.intp)
    rewards = np.empty(length)
    weights = np.empty(length)        # β_t
    step_weights = np.empty(length)   # ω_t
    dots = np.empty(length)
    traced = np.empty(length)
    products = np.empty(length)
    for r in range(n_policies):
        for n in range(n_trajectories):
            # ---- rollout (mdps.sampling: sample_categorical, then sample_rows per step)
            uniform = initial_uniforms[r, n]
            state = 0
            for j in range(n_states):
                if cumulative_initial[j] <= uniform:
                    state += 1
            if state > n_states - 1:
                state = n_states - 1
            for t in range(length):
                uniform = step_uniforms[t, 0, r, n]
                row = r * n_states + state
                action = policy_guide[row, int(uniform * policy_buckets)]
                while cumulative_policy[row, action] <= uniform:
                    action += 1
                states[t], actions[t], rewards[t] = state, action, reward_table[state, action]
                uniform = step_uniforms[t, 1, r, n]
                row = state * n_actions + action
                state = transition_guide[row, int(uniform * transition_buckets)]
                while transitions[row, state] <= uniform:
                    state += 1
            # ---- β_t from returns and baselines (surrogates.draw_batch, outer_weights)
            if outer == REWARDS:
                for t in range(length):
                    weights[t] = discounts[t] * rewards[t]
            else:
                running = 0.0
                if with_values and truncated:
                    running = values[r, length if time_dependent else 0, state]
                for t in range(length - 1, -1, -1):
                    running = rewards[t] + gamma * running
                    baseline = values[r, t if time_dependent else 0, states[t]] if with_values else 0.0
                    weights[t] = discounts[t] * (running - baseline)         # c_t
                if outer != ADVANTAGES:                                       # d_t = c_t - c_{t+1}
                    for t in range(length - 1):
                        weights[t] = weights[t] - weights[t + 1]
            _trace_reverse(weights, decay, step_weights)                      # ω
            for t in range(length):
                if want_gradient:
                    gradient_totals[r, states[t], actions[t]] += step_weights[t]
                if want_states:
                    state_totals[r, states[t]] += step_weights[t]
            if not (want_hessian or want_mixed):
                continue
            for t in range(length):                                           # z_t·v
                dots[t] = vectors[r, states[t], actions[t]] - vector_dots[r, states[t]]
            if want_hessian:
                _trace_forward(dots, decay, traced)                           # W_t·v
                for t in range(length):
                    traced[t] = weights[t] * traced[t]
                _trace_reverse(traced, decay, products)                       # u_k
                for t in range(length):
                    hessian_totals[r, states[t], actions[t]] += products[t]
            if want_mixed:
                _trace_forward(dots, mixed_decay, traced)                     # W'_t·v
                for t in range(length):
                    mixed_totals[r, states[t], actions[t]] += discounts[t] * traced[t]


if AVAILABLE:
    _trace_forward = njit(cache=True, nogil=True)(_trace_forward)
    _trace_reverse = njit(cache=True, nogil=True)(_trace_reverse)
    _batch_totals = njit(cache=True, nogil=True)(_batch_totals)


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
    policy = softmax_policy(thetas)
    cumulative_policy, policy_guide = policy_sampling_tables(policy)
    n_policies = thetas.shape[0]
    initial_uniforms, step_uniforms = draw_rollout_uniforms(rng, n_policies, n_trajectories, length)
    noise_draw = (rng.standard_normal((n_policies, mdp.n_states)) if critic == "noisy"
                  else np.zeros((n_policies, mdp.n_states)))
    values = critic_values(mdp, thetas, critic if needs_critic else "none", rewards=reward_table,
                           noise_scale=critic_noise, noise_draw=noise_draw)
    if values is None:
        values = np.zeros((n_policies, 0, mdp.n_states))
    discounts = mdp.gamma ** np.arange(length)
    return DrawnBatch(mdp, policy, cumulative_policy, policy_guide, reward_table, np.ascontiguousarray(values),
                      truncated, discounts, initial_uniforms, step_uniforms)


def compiled_products(batch: DrawnBatch, rule: FamilyRule, *, gradient: bool = True, vectors: np.ndarray | None = None,
                      hessian: bool = False, mixed: bool = False) -> tuple:
    """Roll the batch out in the kernel and return (ĝ, Ĥv, ∂_η(ĝ·v)), each `(R, S, A)` or None.

    The same numbers as `Surrogate(draw_batch(...), family).gradient()`,
    `.hessian_vector_product(v)` and `.mixed_vector_product(v)` on the same draws.

    Args:
      batch: from `draw_compiled_batch` (may be rolled out any number of times).
      rule: the family's row of the family table.
      gradient: compute ĝ.
      vectors: `(R, S, A)` v (needed for `hessian` and `mixed`).
      hessian: compute Ĥv; mixed: compute the LIRPG mixed term.
    """
    policy, mdp = batch.policy, batch.mdp
    shape, empty3, empty2 = policy.shape, np.zeros((0, 0, 0)), np.zeros((0, 0))
    if (hessian or mixed) and vectors is None:
        raise ValueError("vectors: required for the Hessian-vector product and the mixed term")
    if vectors is not None:
        vectors = np.ascontiguousarray(vectors, dtype=float)
        if vectors.shape != shape:
            raise ValueError(f"vectors: expected shape {shape}, got {vectors.shape}")
    hessian = hessian and rule.hessian != NO_HESSIAN
    gradient_totals = np.zeros(shape) if gradient else empty3
    state_totals = np.zeros(shape[:2]) if hessian else empty2
    hessian_totals = np.zeros(shape) if hessian and rule.hessian == FULL_HESSIAN else empty3
    mixed_totals = np.zeros(shape) if mixed else empty3
    vector_dots = policy_dots(policy, vectors) if vectors is not None else empty2
    _batch_totals(batch.cumulative_policy, batch.policy_guide, mdp.cumulative_transitions.reshape(mdp.dim, -1),
                  mdp.transition_guide, _cumulative_initial(mdp), batch.reward_table, batch.values, batch.truncated,
                  batch.discounts, mdp.gamma, batch.initial_uniforms, batch.step_uniforms,
                  rule.outer, float(rule.decay), rule.hessian, float(rule.mixed_decay),
                  empty3 if vectors is None else vectors, vector_dots,
                  gradient_totals, state_totals, hessian_totals, mixed_totals)
    n_trajectories = batch.n_trajectories
    result_gradient = scores_from_totals(gradient_totals, policy) / n_trajectories if gradient else None
    result_hessian = None
    if hessian:
        result_hessian = log_policy_curvature(policy, state_totals / n_trajectories, vectors)
        if rule.hessian != CURVATURE_ONLY:
            result_hessian = result_hessian + scores_from_totals(hessian_totals, policy) / n_trajectories
    elif vectors is not None and rule.hessian == NO_HESSIAN:
        result_hessian = np.zeros(shape)
    result_mixed = mixed_totals / n_trajectories if mixed else None
    return result_gradient, result_hessian, result_mixed


def _cumulative_initial(mdp: TabularMDP) -> np.ndarray:
    cumulative = np.cumsum(mdp.initial)
    cumulative[-1] = 1.0
    return cumulative


def compile_kernel() -> float:
    """Compile (or load from the on-disk cache) every specialisation used; returns the seconds it took."""
    import time

    from mdps import random_mdp
    from estimators.surrogates import family_rule

    start = time.perf_counter()
    if AVAILABLE:
        mdp = random_mdp(3, 2, seed=0)
        batch = draw_compiled_batch(mdp, np.zeros((1, 3, 2)), 1, 2, np.random.default_rng(0), rewards=None,
                                    critic="exact", critic_noise=1.0, needs_critic=True)
        compiled_products(batch, family_rule("loaded", 0.5), vectors=np.ones((1, 3, 2)), hessian=True, mixed=True)
    return time.perf_counter() - start
