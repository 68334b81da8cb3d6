"""numba kernels of the IPD DiCE-LOLA estimators (`estimators.ipd.lola`), imported on first compiled use.

Each kernel is the numpy path's computation written as loops over (row m, game n, step t),
with trajectories held in T-long buffers instead of `(M, N, T)` arrays and every sum taken in
the order the numpy path takes it (np.cumsum along t, np.bincount over (m, n, t)), so the
numbers agree with it bit for bit where no `exp` of a non-zero argument enters (every
on-policy batch: its log-ratios are exactly 0) and to a few ulps otherwise
(`tests/test_lola.py`).

- `game_rollouts`: N games of T steps per row from pre-drawn uniforms `(T, 2, M, N)` (the
  stream `mdps.sample_games` consumes, drawn in one call), with both players' rewards and
  the behaviour log-probabilities l^μ_t = log π¹(a¹_t) + log π²(a²_t).
- `surrogate_sums`: the sums of a player's DiCE surrogate on a batch (`lola.GameSurrogate`):
  Σ ω_t z^i_t, Σ ω_t e_{s^i_t} and, for D directions w, Σ u_t(w) z^i_t, per (row, player, state).
- `fresh_surrogate_sums`: the same for a fresh on-policy batch, rolled out game by game from
  its uniforms in the same pass and never stored (inner, Hessian and outer batches used where
  they were drawn; ~half the time of rollouts plus sums, which write and read `(M, N, T)` arrays).
Both add each game through `_add_game`: one implementation of the surrogate's sums.
- `fresh_value_residual_sums`: the sums of the learned values' regression on fresh games, rolled
  out in the same pass.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from estimators.trace_kernels import trace_forward, trace_reverse


@njit(cache=True)
def game_rollouts(uniforms, cooperate_own, cooperate_other, log_own, log_other, rewards_table, opponent_view):
    """Games and their behaviour log-probabilities.

    Args:
      uniforms: `(T, 2, M, N)`: player 1 defects at (t, m, n) when u[t, 0] >= σ(θ₁[s_t]),
        player 2 when u[t, 1] >= σ(θ₂[s²_t]).
      cooperate_own, cooperate_other: `(M, 5)` σ(θ) of each row's two players.
      log_own, log_other: `(M, 5, 2)` log π(C), log π(D) per state.
      rewards_table: `(2, 4)` r_p of outcome 2·a¹ + a².
      opponent_view: `(5,)` player 2's view of a state.
    Returns:
      states `(M, N, T)`, actions `(2, M, N, T)`, rewards `(2, M, N, T)`, log-probabilities `(M, N, T)`.
    """
    length, _, n_rows, n_games = uniforms.shape
    states = np.empty((n_rows, n_games, length), np.intp)
    actions = np.empty((2, n_rows, n_games, length), np.intp)
    rewards = np.empty((2, n_rows, n_games, length))
    log_probs = np.empty((n_rows, n_games, length))
    state, row_states, row_outcomes = _new_row(n_games, length)
    for m in range(n_rows):
        _roll_out_row(uniforms, m, cooperate_own, cooperate_other, opponent_view, state, row_states, row_outcomes)
        for n in range(n_games):
            for t in range(length):
                s, outcome = row_states[n, t], row_outcomes[n, t]
                own, other = outcome // 2, outcome % 2
                states[m, n, t] = s
                actions[0, m, n, t] = own
                actions[1, m, n, t] = other
                rewards[0, m, n, t] = rewards_table[0, outcome]
                rewards[1, m, n, t] = rewards_table[1, outcome]
                log_probs[m, n, t] = log_own[m, s, own] + log_other[m, opponent_view[s], other]
    return states, actions, rewards, log_probs


@njit(cache=True)
def surrogate_sums(states, actions, rewards, behaviour_log_probs, baselines, log_own, log_other, cooperate_own,
                   cooperate_other, discounts, directions, opponent_view):
    """The bincount sums of a DiCE surrogate's gradient and Hessian-vector products.

    Per game, with l_t the target log-probability of both actions, the step ratios
    ρ_t = e^{l_t − l^μ_t} and their running product ρ_{0:t} = Π_{k≤t} ρ_k (np.cumprod):
    β_t = γᵗ r_t ρ_{0:t},  β'_t = γᵗ b_t ρ_t,
    ω_t = Σ_{k≥t} β_k − β'_t,  z^i_t = 1[a^i_t = C] − σ_i(s^i_t), and for a direction w:
    d_t = Σ_i z^i_t w_i[s^i_t],  u_t = Σ_{k≥t} β_k Σ_{j≤k} d_j − β'_t d_t.

    Args:
      states: `(M, N, T)`; actions: `(2, M, N, T)`; rewards: `(M, N, T)` the player's r_t;
      behaviour_log_probs: `(M, N, T)` l^μ_t.
      baselines: `(M, L, 5)` b by (row, step, state), L = T or 1 (the same b at every step).
      log_own, log_other: `(M, 5, 2)` log π(C), log π(D) of the target policies.
      cooperate_own, cooperate_other: `(M, 5)` σ of the target policies.
      discounts: `(T,)` γᵗ. directions: `(D, M, 2, 5)` w (D may be 0).
      opponent_view: `(5,)`.
    Returns:
      `(M, 2, 5)` Σ ω_t z^i_t e_{s^i_t}, `(M, 2, 5)` Σ ω_t e_{s^i_t}, `(D, M, 2, 5)` Σ u_t z^i_t e_{s^i_t}.
    """
    n_rows, n_games, length = states.shape
    sums = _new_sums(n_rows, directions.shape[0])
    game, work = _new_game(length), _new_work(length)
    game_states, own_actions, other_actions, game_rewards, log_ratios = game
    for m in range(n_rows):
        for n in range(n_games):
            for t in range(length):
                s = states[m, n, t]
                own, other = actions[0, m, n, t], actions[1, m, n, t]
                game_states[t], own_actions[t], other_actions[t] = s, own, other
                game_rewards[t] = rewards[m, n, t]
                log_ratios[t] = ((log_own[m, s, own] + log_other[m, opponent_view[s], other])
                                 - behaviour_log_probs[m, n, t])
            _add_game(sums, m, game, work, baselines, cooperate_own, cooperate_other, discounts, directions,
                      opponent_view, False)
    return sums[0], sums[1], sums[2]


@njit(cache=True)
def fresh_surrogate_sums(uniforms, cooperate_own, cooperate_other, rewards_table, player, baselines, discounts,
                         directions, opponent_view):
    """`surrogate_sums` of a fresh batch at the target pair, rolled out from `uniforms` in the
    same pass and never stored (`game_rollouts`' games, one at a time).

    The batch is on-policy, so every log-ratio l_t − l^μ_t is exactly 0, as on the numpy path
    (the same log-probabilities subtracted), and the weights are exactly γᵗ r_t and γᵗ b_t.

    Args:
      uniforms: `(T, 2, M, N)` as for `game_rollouts`; rewards_table: `(2, 4)`; player: whose rewards.
      the others: as for `surrogate_sums`.
    Returns:
      as `surrogate_sums`.
    """
    length, _, n_rows, n_games = uniforms.shape
    sums = _new_sums(n_rows, directions.shape[0])
    game, work = _new_game(length), _new_work(length)
    game_states, own_actions, other_actions, game_rewards, log_ratios = game
    log_ratios[:] = 0.0
    state, row_states, row_outcomes = _new_row(n_games, length)
    for m in range(n_rows):
        _roll_out_row(uniforms, m, cooperate_own, cooperate_other, opponent_view, state, row_states, row_outcomes)
        for n in range(n_games):
            for t in range(length):
                outcome = row_outcomes[n, t]
                game_states[t], own_actions[t], other_actions[t] = row_states[n, t], outcome // 2, outcome % 2
                game_rewards[t] = rewards_table[player, outcome]
            _add_game(sums, m, game, work, baselines, cooperate_own, cooperate_other, discounts, directions,
                      opponent_view, True)
    return sums[0], sums[1], sums[2]


@njit(cache=True)
def fresh_value_residual_sums(uniforms, cooperate_own, cooperate_other, rewards_table, values, opponent_view):
    """Σ_{n,t} (r¹_t − v[s_t]) e_{s_t} per row over N fresh games rolled out from `uniforms`
    (`game_rollouts`' games, never stored), added in the order of np.bincount over (m, n, t).

    Args:
      uniforms: `(T, 2, M, N)` as for `game_rollouts`; cooperate_own, cooperate_other: `(M, 5)`.
      rewards_table: `(2, 4)`; values: `(M, 5)` v of the row's own player; opponent_view: `(5,)`.
    Returns:
      `(M, 5)`.
    """
    length, _, n_rows, n_games = uniforms.shape
    sums = np.zeros((n_rows, 5))
    state, row_states, row_outcomes = _new_row(n_games, length)
    for m in range(n_rows):
        _roll_out_row(uniforms, m, cooperate_own, cooperate_other, opponent_view, state, row_states, row_outcomes)
        for n in range(n_games):
            for t in range(length):
                s = row_states[n, t]
                sums[m, s] += rewards_table[0, row_outcomes[n, t]] - values[m, s]
    return sums


@njit(cache=True)
def _new_row(n_games, length):
    """The buffers of `_roll_out_row`: one row's games side by side (the uniforms are read in their order)."""
    return np.empty(n_games, np.int8), np.empty((n_games, length), np.int8), np.empty((n_games, length), np.int8)


@njit(cache=True)
def _roll_out_row(uniforms, m, cooperate_own, cooperate_other, opponent_view, state, row_states, row_outcomes):
    """Row m's N games side by side from `uniforms` `(T, 2, M, N)`, read in their order, into
    `(N, T)` int8 buffers of states and outcomes 2·a¹ + a² (`state`: an `(N,)` buffer)."""
    length, n_games = uniforms.shape[0], uniforms.shape[3]
    state[:] = 0
    for t in range(length):
        for n in range(n_games):
            s = state[n]
            own = 1 if uniforms[t, 0, m, n] >= cooperate_own[m, s] else 0
            other = 1 if uniforms[t, 1, m, n] >= cooperate_other[m, opponent_view[s]] else 0
            row_states[n, t] = s
            row_outcomes[n, t] = 2 * own + other
            state[n] = 1 + 2 * own + other


@njit(cache=True)
def _new_sums(n_rows, n_directions):
    return np.zeros((n_rows, 2, 5)), np.zeros((n_rows, 2, 5)), np.zeros((n_directions, n_rows, 2, 5))


@njit(cache=True)
def _new_game(length):
    return (np.empty(length, np.intp), np.empty(length, np.intp), np.empty(length, np.intp), np.empty(length),
            np.empty(length))


@njit(cache=True)
def _new_work(length):
    return (np.empty(length, np.intp), np.empty(length, np.intp), np.empty(length), np.empty(length),
            np.empty(length), np.empty(length), np.empty(length), np.empty(length), np.empty(length))


@njit(cache=True)
def _add_game(sums, m, game, work, baselines, cooperate_own, cooperate_other, discounts, directions, opponent_view,
              on_policy):
    """Add one game of row m (its states, actions, rewards and log-ratios in T-long buffers) to
    the sums, in step order (the order of np.cumsum and np.bincount on the numpy path); `work`
    holds the T-long buffers of the weights (`_new_work`)."""
    gradient, weight_sums, products = sums
    game_states, own_actions, other_actions, game_rewards, log_ratios = game
    length = game_states.shape[0]
    time_dependent = baselines.shape[1] > 1
    own_states, other_states, own_scores, other_scores, reward_weights, baseline_weights, step_weights, dots, \
        outer = work
    ratio = 1.0                                            # ρ_{0:t} = Π_{k≤t} ρ_k, as np.cumprod
    for t in range(length):
        s = game_states[t]
        other_view = opponent_view[s]
        own_states[t], other_states[t] = s, other_view
        reward_weights[t] = discounts[t] * game_rewards[t]
        baseline_weights[t] = discounts[t] * baselines[m, t if time_dependent else 0, s]
        if not on_policy:                                  # on-policy every ratio is exp(0) = 1, exactly
            step_ratio = np.exp(log_ratios[t])             # ρ_t = π/μ of both actions
            ratio *= step_ratio
            reward_weights[t] *= ratio
            baseline_weights[t] *= step_ratio
        own_scores[t] = (1.0 if own_actions[t] == 0 else 0.0) - cooperate_own[m, s]
        other_scores[t] = (1.0 if other_actions[t] == 0 else 0.0) - cooperate_other[m, other_view]
    trace_reverse(reward_weights, 1.0, step_weights)       # Σ_{k≥t} β_k, as the reversed np.cumsum
    for t in range(length):
        step_weights[t] -= baseline_weights[t]
        gradient[m, 0, own_states[t]] += step_weights[t] * own_scores[t]
        gradient[m, 1, other_states[t]] += step_weights[t] * other_scores[t]
        weight_sums[m, 0, own_states[t]] += step_weights[t]
        weight_sums[m, 1, other_states[t]] += step_weights[t]
    for d in range(directions.shape[0]):
        for t in range(length):
            dots[t] = (own_scores[t] * directions[d, m, 0, own_states[t]]
                       + other_scores[t] * directions[d, m, 1, other_states[t]])
        trace_forward(dots, 1.0, outer)                    # Σ_{j≤t} d_j
        for t in range(length):
            outer[t] *= reward_weights[t]
        trace_reverse(outer, 1.0, outer)                   # in place: reads x_t before writing it
        for t in range(length):
            outer[t] -= baseline_weights[t] * dots[t]
            products[d, m, 0, own_states[t]] += outer[t] * own_scores[t]
            products[d, m, 1, other_states[t]] += outer[t] * other_scores[t]
