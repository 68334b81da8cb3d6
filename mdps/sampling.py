"""Vectorized trajectory sampling for a stack of softmax policies at once.

One call draws `N` trajectories of length `T` for each of `R` policies (one per
repetition, each possibly adapted differently), with a Python loop over time steps only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdps.tabular import TabularMDP, guide_table


@dataclass(frozen=True)
class Trajectories:
    """A batch of rollouts; leading axes are (repetition R, trajectory N), then time T.

    Attributes:
      states: `(R, N, T)` int, s_t.
      actions: `(R, N, T)` int, a_t.
      rewards: `(R, N, T)` float, r(s_t, a_t).
      final_states: `(R, N)` int, s_T (the state a truncated rollout bootstraps from).
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_states: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(R, N, T)."""
        return self.states.shape


def sample_categorical(cumulative: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF draw per row: the index of the first cumulative entry above u.

    Args:
      cumulative: `(..., K)` cumulative probabilities, last entry 1.
      uniforms: `(...)` U[0, 1) draws, one per row.
    Returns:
      `(...)` int indices in [0, K).
    """
    index = (cumulative <= uniforms[..., None]).sum(axis=-1)
    return np.minimum(index, cumulative.shape[-1] - 1)


def sample_rows(cumulative: np.ndarray, guide: np.ndarray, rows: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Inverse-CDF draws from row `rows` of a table, via its guide table.

    Identical to `sample_categorical(cumulative[rows], uniforms)`, but each draw starts
    at the guide entry and steps forward only while F[j] <= u (about one step on
    average), so it reads a few numbers per draw instead of a whole row.

    Args:
      cumulative: `(Q, K)` cumulative probabilities, last entry exactly 1.
      guide: `(Q, G)` from `guide_table(cumulative)`.
      rows: int array of row indices; uniforms: U[0, 1) draws of the same shape.
    Returns:
      int indices in [0, K), shape of `rows`.
    """
    width, buckets = cumulative.shape[-1], guide.shape[-1]
    flat = cumulative.ravel()
    start = rows * width
    index = (start + guide[rows, (uniforms * buckets).astype(np.intp)]).ravel()
    flat_uniforms = uniforms.ravel()
    pending = np.flatnonzero(flat[index] <= flat_uniforms)
    while pending.size:
        index[pending] += 1
        pending = pending[flat[index[pending]] <= flat_uniforms[pending]]
    return index.reshape(rows.shape) - start


def policy_sampling_tables(policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The cumulative table `(R·S, A)` of a stack of policies `(R, S, A)` (last entry exactly 1)
    and its guide table `(R·S, A)`: row r·S + s samples a ~ π_r(·|s) with `sample_rows`."""
    n_policies, n_states, n_actions = policy.shape
    cumulative_policy = np.cumsum(policy, axis=-1).reshape(n_policies * n_states, n_actions)
    cumulative_policy[:, -1] = 1.0
    return cumulative_policy, guide_table(cumulative_policy)


def draw_rollout_uniforms(rng: np.random.Generator, n_policies: int, n_trajectories: int,
                          length: int) -> tuple[np.ndarray, np.ndarray]:
    """All the uniforms of `sample_trajectories` at once, in its order: `(R, N)` for s_0, then
    `(T, 2, R, N)` (per step t: row 0 draws a_t, row 1 draws s_{t+1}). One call consumes the
    generator exactly as the T + 1 calls of `sample_trajectories` do (numpy fills arrays in
    C order from one stream), so a compiled rollout fed by these draws the same trajectories."""
    return rng.random((n_policies, n_trajectories)), rng.random((length, 2, n_policies, n_trajectories))


def sample_trajectories(mdp: TabularMDP, policy: np.ndarray, n_trajectories: int, length: int,
                        rng: np.random.Generator, *, rewards: np.ndarray | None = None) -> Trajectories:
    """Roll out `n_trajectories` episodes of `length` steps from ρ under each policy.

    For a finite-horizon MDP pass `length = mdp.horizon` for exact rollouts; a shorter or
    infinite-horizon rollout is truncated and the caller bootstraps from `final_states`.

    Args:
      mdp: the environment (dynamics P, start law ρ, rewards r).
      policy: `(R, S, A)` action probabilities, one policy per repetition (or `(S, A)`,
        treated as R = 1).
      n_trajectories: N trajectories per policy.
      length: T steps per trajectory.
      rng: the only source of randomness.
      rewards: optional `(S, A)` reward table used instead of `mdp.rewards`.
    Returns:
      `Trajectories` with arrays of shape `(R, N, T)` and `(R, N)`.
    """
    policy = np.asarray(policy, dtype=float)
    if policy.ndim == 2:
        policy = policy[None]
    if policy.shape[1:] != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"policy: expected shape (R, {mdp.n_states}, {mdp.n_actions}), got {policy.shape}")
    if n_trajectories < 1 or length < 1:
        raise ValueError(f"n_trajectories and length: expected positive integers, got {n_trajectories}, {length}")
    reward_table = mdp.rewards if rewards is None else np.asarray(rewards, dtype=float)
    n_policies, n_states, n_actions = policy.shape
    cumulative_policy, policy_guide = policy_sampling_tables(policy)
    transitions = mdp.cumulative_transitions.reshape(n_states * n_actions, n_states)
    cumulative_initial = np.cumsum(mdp.initial)
    cumulative_initial[-1] = 1.0
    shape = (n_policies, n_trajectories, length)
    states = np.empty(shape, dtype=np.intp)
    actions = np.empty(shape, dtype=np.intp)
    policy_row = np.arange(n_policies)[:, None] * n_states
    state = sample_categorical(cumulative_initial, rng.random(shape[:2]))
    for t in range(length):
        uniforms = rng.random((2, *shape[:2]))
        action = sample_rows(cumulative_policy, policy_guide, policy_row + state, uniforms[0])
        states[..., t], actions[..., t] = state, action
        state = sample_rows(transitions, mdp.transition_guide, state * n_actions + action, uniforms[1])
    return Trajectories(states, actions, reward_table[states, actions], state)
