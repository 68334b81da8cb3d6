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
     A_t = R_t - b_t;
  3. β_t, ω_k = Σ_{t≥k} μ^{t-k} β_t and, given v, u_k(v) = Σ_{t≥k} μ^{t-k} β_t (W_t·v) and
     the LIRPG coefficients γᵗ (W'_t·v), read from the family table
     (`surrogates.family_rule`);
  4. the indicator totals Σ ω e_{(s,a)}, Σ u e_{(s,a)}, Σ γᵗ W' e_{(s,a)} and the state
     totals Σ ω e_s, accumulated in the step order of `np.bincount`.

The O(R·S·A) finishes are the numpy ones of `estimators.scores` (`scores_from_totals`,
`log_policy_curvature`), and every floating-point operation of steps 1-4 is the numpy
path's, in the same order. The policy's sampling tables are built in the kernel with
the same numbers. Only the critic (exact or noisy) is computed differently: its Bellman
solve (Gaussian elimination with partial pivoting, one per repetition, one when all
repetitions share θ) and its finite-horizon recursion sum in another order than
LAPACK and `einsum`. So the estimates are bit-identical to the numpy path on the same
random stream for the critic `none` and for `dice` (which reads no critic), and agree to
rounding (≤ 1e-12 relative, ~1e-14 measured) with the `exact` and `noisy` critics
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
from estimators.surrogates import ADVANTAGES, CURVATURE_ONLY, FULL_HESSIAN, NO_HESSIAN, REWARDS, FamilyRule
from mdps import TabularMDP, softmax_policy
from mdps.sampling import draw_rollout_uniforms

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
    # one repetition's N trajectories are rolled out together (time outer, so the uniforms
    # are read in the order they were drawn), then processed one trajectory at a time
    all_states = np.empty((n_trajectories, length), np.intp)
    all_actions = np.empty((n_trajectories, length), np.intp)
    final_states = np.empty(n_trajectories, np.intp)
    weights = np.empty(length)        # β_t
    step_weights = np.empty(length)   # ω_t
    rewards = np.empty(length)
    dots = np.empty(length)
    traced = np.empty(length)
    products = np.empty(length)
    for r in range(n_policies):
        # ---- rollouts (mdps.sampling: sample_categorical for s_0, then sample_rows per step)
        for n in range(n_trajectories):
            uniform = initial_uniforms[r, n]
            state = 0
            for j in range(n_states):
                if cumulative_initial[j] <= uniform:
                    state += 1
            final_states[n] = min(state, n_states - 1)
        for t in range(length):
            for n in range(n_trajectories):
                state = final_states[n]
                uniform = step_uniforms[t, 0, r, n]
                row = r * n_states + state
                action = policy_guide[row, int(uniform * policy_buckets)]
                while cumulative_policy[row, action] <= uniform:
                    action += 1
                all_states[n, t], all_actions[n, t] = state, action
                uniform = step_uniforms[t, 1, r, n]
                row = state * n_actions + action
                state = transition_guide[row, int(uniform * transition_buckets)]
                while transitions[row, state] <= uniform:
                    state += 1
                final_states[n] = state
        for n in range(n_trajectories):
            states, actions, state = all_states[n], all_actions[n], final_states[n]
            for t in range(length):
                rewards[t] = reward_table[states[t], actions[t]]
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


def _policy_tables(policy):
    """`mdps.sampling.policy_sampling_tables` in the kernel (same numbers): cumulative rows and guide tables."""
    n_policies, n_states, n_actions = policy.shape
    cumulative = np.empty((n_policies * n_states, n_actions))
    guide = np.zeros((n_policies * n_states, n_actions), np.intp)
    for r in range(n_policies):
        for s in range(n_states):
            row = r * n_states + s
            total = policy[r, s, 0]
            cumulative[row, 0] = total
            for a in range(1, n_actions):
                total = total + policy[r, s, a]
                cumulative[row, a] = total
            cumulative[row, n_actions - 1] = 1.0
            for k in range(n_actions):
                grid = k / n_actions
                count = 0
                for a in range(n_actions):
                    if cumulative[row, a] <= grid:
                        count += 1
                guide[row, k] = count
    return cumulative, guide


def _solve_in_place(matrix, right):
    """x with M x = b by Gaussian elimination with partial pivoting (M and b overwritten; x in b)."""
    size = right.shape[0]
    for column in range(size):
        pivot = column
        for row in range(column + 1, size):
            if abs(matrix[row, column]) > abs(matrix[pivot, column]):
                pivot = row
        if pivot != column:
            for j in range(size):
                matrix[column, j], matrix[pivot, j] = matrix[pivot, j], matrix[column, j]
            right[column], right[pivot] = right[pivot], right[column]
        for row in range(column + 1, size):
            factor = matrix[row, column] / matrix[column, column]
            if factor != 0.0:
                for j in range(column + 1, size):
                    matrix[row, j] -= factor * matrix[column, j]
                right[row] -= factor * right[column]
    for row in range(size - 1, -1, -1):
        total = right[row]
        for j in range(row + 1, size):
            total -= matrix[row, j] * right[j]
        right[row] = total / matrix[row, row]


def _critic_values(policy, transitions, reward_table, gamma, horizon, common, noise_draw, noise_scale, noisy):
    """`surrogates.critic_values` (exact or noisy) in the kernel: `(R, L, S)`, L = 1 (H = 0: infinite) or H + 1.

    V_r solves (I - γ P_{π_r}) V = r_{π_r} (infinite horizon) or the backward recursion
    V_t = Σ_a π (r + γ P V_{t+1}), V_H = 0; noisy adds noise·ε_r·‖V_t‖₂/S. The same maths
    as numpy's, in another summation order (LAPACK and einsum there): agreement to rounding.
    """
    n_policies, n_states, n_actions = policy.shape
    rows = 1 if horizon == 0 else horizon + 1
    values = np.zeros((n_policies, rows, n_states))
    matrix = np.empty((n_states, n_states))
    solved = 1 if common else n_policies
    for r in range(solved):
        if horizon == 0:
            for s in range(n_states):
                total = 0.0
                for j in range(n_states):
                    matrix[s, j] = 0.0
                for a in range(n_actions):
                    weight = policy[r, s, a]
                    total += weight * reward_table[s, a]
                    for j in range(n_states):
                        matrix[s, j] += weight * transitions[s, a, j]
                for j in range(n_states):
                    matrix[s, j] = -gamma * matrix[s, j]
                matrix[s, s] += 1.0
                values[r, 0, s] = total
            _solve_in_place(matrix, values[r, 0])
        else:
            for t in range(horizon - 1, -1, -1):
                for s in range(n_states):
                    total = 0.0
                    for a in range(n_actions):
                        future = 0.0
                        for j in range(n_states):
                            future += transitions[s, a, j] * values[r, t + 1, j]
                        total += policy[r, s, a] * (reward_table[s, a] + gamma * future)
                    values[r, t, s] = total
    for r in range(solved, n_policies):
        values[r] = values[0]
    if noisy:
        for r in range(n_policies):
            for t in range(rows):
                squares = 0.0
                for s in range(n_states):
                    squares += values[r, t, s] * values[r, t, s]
                norm = np.sqrt(squares)
                for s in range(n_states):
                    values[r, t, s] = values[r, t, s] + noise_scale * noise_draw[r, s] * norm / n_states
    return values


if AVAILABLE:
    _trace_forward = njit(cache=True, nogil=True)(_trace_forward)
    _trace_reverse = njit(cache=True, nogil=True)(_trace_reverse)
    _batch_totals = njit(cache=True, nogil=True)(_batch_totals)
    _policy_tables = njit(cache=True, nogil=True)(_policy_tables)
    _solve_in_place = njit(cache=True, nogil=True)(_solve_in_place)
    _critic_values = njit(cache=True, nogil=True)(_critic_values)


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
    cumulative_policy, policy_guide = _policy_tables(policy)
    n_policies = thetas.shape[0]
    initial_uniforms, step_uniforms = draw_rollout_uniforms(rng, n_policies, n_trajectories, length)
    noise_draw = (rng.standard_normal((n_policies, mdp.n_states)) if critic == "noisy"
                  else np.zeros((n_policies, mdp.n_states)))
    if critic == "none" or not needs_critic:
        values = np.zeros((n_policies, 0, mdp.n_states))
    else:
        common = bool(np.all(thetas == thetas[:1]))
        values = _critic_values(policy, mdp.transitions, reward_table, mdp.gamma, mdp.horizon or 0, common,
                                noise_draw, float(critic_noise), critic == "noisy")
    discounts = mdp.gamma ** np.arange(length)
    return DrawnBatch(mdp, policy, cumulative_policy, policy_guide, reward_table, values, truncated, discounts,
                      initial_uniforms, step_uniforms)


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
