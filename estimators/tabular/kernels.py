"""The numba kernels of `estimators.tabular.fused` (imported only when the compiled path runs); the
traces they share with the IPD kernels are `estimators.trace_kernels`.

Every function here is `@njit(cache=True)`: compiled once per machine and loaded from the
on-disk cache (next to this file, in `__pycache__`, or numba's user cache when that is
not writable) by every later process. What they compute, and why the numbers equal the
numpy path's, is in the docstring of `estimators.tabular.fused`.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from estimators.trace_kernels import trace_forward, trace_reverse


@njit(cache=True, nogil=True)
def batch_totals(cumulative_policy, policy_guide, transitions, transition_guide, cumulative_initial, reward_table,
                  values, truncated, discounts, gamma, initial_uniforms, step_uniforms,
                  from_rewards, differences, decay, full_hessian, mixed_decay, gae_decay, td_mixed, gae_lambda,
                  vectors, vector_dots, pre_weight,
                  gradient_totals, state_totals, hessian_totals, mixed_totals, count_totals, lsf_totals,
                  critic_totals):
    """Roll out every trajectory and add its terms to the totals (arrays of size 0 are skipped).

    Totals at (r, s_t, a_t) (state totals at (r, s_t)), with w = `pre_weight` (1 for the
    split, whose finishes divide by N; 1/N for the practical paths, which weight each
    trajectory before the sums): gradient w·ω_t; state w·ω_t; hessian u_t(v) from w·β_t;
    mixed (w·γᵗ)(W'_t·v), or w·c_t with the TD coefficients c_j = γʲ Σ_{t≤j} λ^{j−t} x_t,
    x_t = W'_t·v − W'_{t−1}·v, when `td_mixed` (`advantages.td_coefficients`; λ = `gae_lambda`);
    count 1; lsf w·Σ_j ω_j (z_j·v) (the trajectory's ĝ_m·v, LSF); critic (R, L, S): −w·c_j at
    (r, t_j, s_j) and γ w·c_j at (r, t_{j+1}, s_{j+1}) (s_T; 0 at an episode's end), as
    `advantages.critic_state_weights` adds them (all the − terms of a repetition, then the + terms).

    Shapes: cumulative_policy, policy_guide `(R·S, A)`; transitions, transition_guide
    `(S·A, S)`; cumulative_initial `(S,)`; reward_table `(S, A)`; values `(R, L, S)` (L = 0:
    no critic); discounts `(T,)`; initial_uniforms `(R, N)`; step_uniforms `(T, 2, R, N)`;
    vectors `(R, S, A)`, vector_dots `(R, S)`; totals `(R, S, A)` / `(R, S)` or empty. The
    family's row (`surrogates.FamilyRule`) arrives as flags: β_t = γᵗ r_t (`from_rewards`),
    else c_t = γᵗ A_t, differenced when `differences`; μ = `decay`; u-terms when `full_hessian`.
    A_t = R_t − b_t when `gae_decay` < 0, else GAE: A_t = δ_t + (γλ) A_{t+1}, γλ = `gae_decay`,
    δ_t = r_t + γ V̂_{t+1}(s_{t+1}) − V̂_t(s_t) with V̂_T(s_T) the bootstrap (`advantages.gae_advantages`).
    """
    n_policies, n_trajectories = initial_uniforms.shape
    length = discounts.shape[0]
    n_states, n_actions = reward_table.shape
    policy_buckets, transition_buckets = policy_guide.shape[1], transition_guide.shape[1]
    count_actions = n_actions <= 8      # few actions: counting beats the guide table's unpredictable scan
    with_values = values.shape[1] > 0
    time_dependent = values.shape[1] > 1
    want_gradient = gradient_totals.size > 0
    want_states = state_totals.size > 0
    want_hessian = hessian_totals.size > 0 and full_hessian
    want_mixed = mixed_totals.size > 0
    want_counts = count_totals.size > 0
    want_lsf = lsf_totals.size > 0
    want_critic = critic_totals.size > 0 and want_mixed and td_mixed and with_values
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
    increments = np.empty(length)
    coefficients = np.empty((n_trajectories if want_critic else 0, length))   # c_j of a repetition's trajectories
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
                if count_actions:   # a ~ π(·|s) = #{j : F[j] <= u}: branch-free, the same index as the scan
                    action = 0
                    for j in range(n_actions - 1):
                        action += cumulative_policy[row, j] <= uniform
                else:
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
            if from_rewards:
                for t in range(length):
                    weights[t] = discounts[t] * rewards[t]
            elif gae_decay < 0.0:
                running = 0.0
                if with_values and truncated:
                    running = values[r, length if time_dependent else 0, state]
                for t in range(length - 1, -1, -1):
                    running = rewards[t] + gamma * running
                    baseline = values[r, t if time_dependent else 0, states[t]] if with_values else 0.0
                    weights[t] = discounts[t] * (running - baseline)         # c_t
            else:                                                             # GAE(λ)
                following = 0.0                                               # V̂_{t+1}(s_{t+1})
                if with_values and truncated:
                    following = values[r, length if time_dependent else 0, state]
                running = 0.0
                for t in range(length - 1, -1, -1):
                    baseline = values[r, t if time_dependent else 0, states[t]] if with_values else 0.0
                    delta = rewards[t] + gamma * following - baseline        # δ_t
                    running = delta + gae_decay * running                    # A_t
                    weights[t] = discounts[t] * running                      # c_t
                    following = baseline
            if differences:                                                   # d_t = c_t - c_{t+1}
                for t in range(length - 1):
                    weights[t] = weights[t] - weights[t + 1]
            trace_reverse(weights, decay, step_weights)                      # ω
            for t in range(length):
                if want_gradient:
                    gradient_totals[r, states[t], actions[t]] += pre_weight * step_weights[t]
                if want_states:
                    state_totals[r, states[t]] += pre_weight * step_weights[t]
                if want_counts:
                    count_totals[r, states[t], actions[t]] += 1.0
            if not (want_hessian or want_mixed or want_lsf):
                continue
            for t in range(length):                                           # z_t·v
                dots[t] = vectors[r, states[t], actions[t]] - vector_dots[r, states[t]]
            if want_hessian:
                trace_forward(dots, decay, traced)                           # W_t·v
                for t in range(length):
                    traced[t] = (pre_weight * weights[t]) * traced[t]
                trace_reverse(traced, decay, products)                       # u_k
                for t in range(length):
                    hessian_totals[r, states[t], actions[t]] += products[t]
            if want_mixed:
                trace_forward(dots, mixed_decay, traced)                     # W'_t·v
                if td_mixed:
                    increments[0] = traced[0]                         # x_t = W'_t·v − W'_{t−1}·v
                    for t in range(1, length):
                        increments[t] = traced[t] - traced[t - 1]
                    trace_forward(increments, gae_lambda, products)
                    for t in range(length):
                        coefficient = pre_weight * (discounts[t] * products[t])   # c_t
                        mixed_totals[r, states[t], actions[t]] += coefficient
                        if want_critic:
                            coefficients[n, t] = coefficient
                else:
                    for t in range(length):
                        mixed_totals[r, states[t], actions[t]] += (pre_weight * discounts[t]) * traced[t]
            if want_lsf:
                total = 0.0
                for t in range(length):
                    total += step_weights[t] * dots[t]
                total = pre_weight * total
                for t in range(length):
                    lsf_totals[r, states[t], actions[t]] += total
        if want_critic:   # Σ_j c_j (γ ∂V̂_{j+1}(s_{j+1}) − ∂V̂_j(s_j)): the − terms first, then the + terms
            for n in range(n_trajectories):
                for t in range(length):
                    critic_totals[r, t if time_dependent else 0, all_states[n, t]] += -coefficients[n, t]
            for n in range(n_trajectories):
                for t in range(length):
                    following_state = all_states[n, t + 1] if t + 1 < length else final_states[n]
                    scale = gamma * coefficients[n, t] if (truncated or t + 1 < length) else 0.0
                    critic_totals[r, t + 1 if time_dependent else 0, following_state] += scale


@njit(cache=True, nogil=True)
def policy_tables(policy):
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


@njit(cache=True, nogil=True)
def bellman_system(policy, transitions, rewards, gamma, matrix, right):
    """M = I − γ P_π into `matrix` `(S, S)` and r_π into `right` `(S,)`, for one policy `(S, A)`."""
    n_states, n_actions = policy.shape
    for s in range(n_states):
        total = 0.0
        for j in range(n_states):
            matrix[s, j] = 0.0
        for a in range(n_actions):
            weight = policy[s, a]
            total += weight * rewards[s, a]
            for j in range(n_states):
                matrix[s, j] += weight * transitions[s, a, j]
        for j in range(n_states):
            matrix[s, j] = -gamma * matrix[s, j]
        matrix[s, s] += 1.0
        right[s] = total


@njit(cache=True, nogil=True)
def solve_in_place(matrix, right):
    """x with M x = b by Gaussian elimination with partial pivoting (M and b overwritten; x in b):
    `lu_in_place`, then `lu_solve_in_place` (the same operations as eliminating b alongside)."""
    pivots = np.empty(right.shape[0], np.intp)
    lu_in_place(matrix, pivots)
    lu_solve_in_place(matrix, pivots, right, False)


@njit(cache=True, nogil=True)
def critic_values(policy, transitions, reward_table, gamma, horizon, common, noise_draw, noise_scale, noisy):
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
            bellman_system(policy[r], transitions, reward_table, gamma, matrix, values[r, 0])
            solve_in_place(matrix, values[r, 0])
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


@njit(cache=True, nogil=True)
def lu_in_place(matrix, pivots):
    """LU factorisation with partial pivoting, LAPACK's layout: P M = L U with L unit lower
    (below the diagonal) and U upper (on and above it) in `matrix`; row k swapped with pivots[k]."""
    size = matrix.shape[0]
    for column in range(size):
        pivot = column
        for row in range(column + 1, size):
            if abs(matrix[row, column]) > abs(matrix[pivot, column]):
                pivot = row
        pivots[column] = pivot
        if pivot != column:
            for j in range(size):
                matrix[column, j], matrix[pivot, j] = matrix[pivot, j], matrix[column, j]
        for row in range(column + 1, size):
            factor = matrix[row, column] / matrix[column, column]
            matrix[row, column] = factor
            if factor != 0.0:
                for j in range(column + 1, size):
                    matrix[row, j] -= factor * matrix[column, j]


@njit(cache=True, nogil=True)
def lu_solve_in_place(lu, pivots, right, transposed):
    """x with M x = b (or Mᵀ x = b when `transposed`) from `lu_in_place`'s factors; x in b."""
    size = right.shape[0]
    if not transposed:                     # L U x = P b (every swap first: L's rows were swapped with them)
        for k in range(size):
            if pivots[k] != k:
                right[k], right[pivots[k]] = right[pivots[k]], right[k]
        for k in range(size):
            for row in range(k + 1, size):
                right[row] -= lu[row, k] * right[k]
        for row in range(size - 1, -1, -1):
            total = right[row]
            for j in range(row + 1, size):
                total -= lu[row, j] * right[j]
            right[row] = total / lu[row, row]
    else:                                  # Uᵀ Lᵀ (P x) = b
        for row in range(size):
            total = right[row]
            for j in range(row):
                total -= lu[j, row] * right[j]
            right[row] = total / lu[row, row]
        for row in range(size - 1, -1, -1):
            total = right[row]
            for j in range(row + 1, size):
                total -= lu[j, row] * right[j]
            right[row] = total
        for k in range(size - 1, -1, -1):
            if pivots[k] != k:
                right[k], right[pivots[k]] = right[pivots[k]], right[k]


@njit(cache=True, nogil=True)
def expected_next(transitions, values, out):
    """out[s, a] = Σ_j P(j|s, a) values[j]: `(S, A, S)`, `(S,)` -> `(S, A)` in place."""
    n_states, n_actions = out.shape
    for s in range(n_states):
        for a in range(n_actions):
            total = 0.0
            for j in range(n_states):
                total += transitions[s, a, j] * values[j]
            out[s, a] = total


@njit(cache=True, nogil=True)
def exact_parts(thetas, directions, transitions, rewards, initial, gamma, common, products):
    """`TabularMDP.batch_values_and_gradients` (the gradient) and `batch_tangents` (one direction
    per policy) of an infinite-horizon MDP in the kernel: one LU of M_r = I − γ P_{π_r} per policy
    (one for all when `common`) serves the four solves.

      V = M⁻¹ r_π,  d = M⁻ᵀ ρ,  Q = r + γ P V,  ∇V[s,a] = d_s π_sa (Q_sa − V_s);
      along u (dπ = π (u − Σ_b π u)): M dV = Σ_a dπ Q,  dQ = γ P dV,  Mᵀ dd = γ Σ_{s,a} d_s dπ_sa P_sa·,
      H u = dd π A + d dπ A + d π (dQ − dV),  (∂occ/∂θ) u = dd π + d dπ.

    Args:
      thetas: `(R, S, A)` logits (when `common`, row 0 stands for all).
      directions: `(R, S, A)` u_r (read only when `products`).
      transitions, rewards, initial, gamma: the MDP (P `(S, A, S)`, r `(S, A)`, ρ `(S,)`).
    Returns:
      `(R, S, A)` ∇V(θ_r), and when `products` `(R, S, A)` H u_r and (∂occ/∂θ) u_r (else empty).
    Numpy's LAPACK solves sum in another order: agreement to rounding (~1e-15).
    """
    n_policies, n_states, n_actions = thetas.shape
    gradients = np.empty((n_policies, n_states, n_actions))
    hessian_products = np.empty((n_policies if products else 0, n_states, n_actions))
    occupancy_products = np.empty((n_policies if products else 0, n_states, n_actions))
    policy = np.empty((n_states, n_actions))
    q_values = np.empty((n_states, n_actions))
    lu = np.empty((n_states, n_states))
    pivots = np.empty(n_states, np.intp)
    values, visits = np.empty(n_states), np.empty(n_states)
    tangent, next_tangent = np.empty((n_states, n_actions)), np.empty((n_states, n_actions))
    value_t, visits_t = np.empty(n_states), np.empty(n_states)
    for r in range(n_policies):
        if r == 0 or not common:
            for s in range(n_states):              # softmax, as mdps.policy.softmax_policy
                top = thetas[r, s, 0]
                for a in range(1, n_actions):
                    top = max(top, thetas[r, s, a])
                total = 0.0
                for a in range(n_actions):
                    policy[s, a] = np.exp(thetas[r, s, a] - top)
                    total += policy[s, a]
                for a in range(n_actions):
                    policy[s, a] = policy[s, a] / total
            bellman_system(policy, transitions, rewards, gamma, lu, values)
            visits[:] = initial
            lu_in_place(lu, pivots)
            lu_solve_in_place(lu, pivots, values, False)
            lu_solve_in_place(lu, pivots, visits, True)
            expected_next(transitions, values, q_values)
            for s in range(n_states):
                for a in range(n_actions):
                    q_values[s, a] = rewards[s, a] + gamma * q_values[s, a]
        for s in range(n_states):
            for a in range(n_actions):
                gradients[r, s, a] = visits[s] * policy[s, a] * (q_values[s, a] - values[s])
        if not products:
            continue
        for s in range(n_states):                  # dπ, Σ_a dπ Q, and the right side of Mᵀ dd
            mean = 0.0
            for a in range(n_actions):
                mean += policy[s, a] * directions[r, s, a]
            flow = 0.0
            for a in range(n_actions):
                tangent[s, a] = policy[s, a] * (directions[r, s, a] - mean)
                flow += tangent[s, a] * q_values[s, a]
            value_t[s] = flow
            visits_t[s] = 0.0
        for s in range(n_states):
            for a in range(n_actions):
                weight = gamma * visits[s] * tangent[s, a]
                for j in range(n_states):
                    visits_t[j] += weight * transitions[s, a, j]
        lu_solve_in_place(lu, pivots, value_t, False)
        lu_solve_in_place(lu, pivots, visits_t, True)
        expected_next(transitions, value_t, next_tangent)
        for s in range(n_states):
            for a in range(n_actions):
                advantage = q_values[s, a] - values[s]
                hessian_products[r, s, a] = (visits_t[s] * policy[s, a] * advantage
                                             + visits[s] * tangent[s, a] * advantage
                                             + visits[s] * policy[s, a] * (gamma * next_tangent[s, a] - value_t[s]))
                occupancy_products[r, s, a] = visits_t[s] * policy[s, a] + visits[s] * tangent[s, a]
    return gradients, hessian_products, occupancy_products
