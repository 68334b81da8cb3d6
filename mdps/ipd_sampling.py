"""Vectorized rollouts of the Iterated Prisoner's Dilemma for a stack of policy pairs.

One call draws N games of T steps for each of R pairs (θ₁_r, θ₂_r), with a Python loop
over time steps only. Actions are 0 = cooperate, 1 = defect; states are seen from player
1's side (0 = start, 1 + 2·a₁ + a₂ after the joint action (a₁, a₂)); player 2 sees
`OPPONENT_VIEW[state]`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdps.ipd import N_STATES, OPPONENT_VIEW, REWARDS
from mdps.policy import sigmoid


@dataclass(frozen=True)
class GameTrajectories:
    """A batch of IPD games; leading axes (repetition R, game N), then time T.

    Attributes:
      states: `(R, N, T)` int, s_t from player 1's side (player 2's is `OPPONENT_VIEW[s_t]`).
      actions: `(2, R, N, T)` int, a_t of player 1 and player 2 (0 = C, 1 = D).
      rewards: `(2, R, N, T)` float, r_t of player 1 and player 2.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(R, N, T)."""
        return self.states.shape

    def player_states(self) -> np.ndarray:
        """`(2, R, N, T)` each player's own view of s_t."""
        return np.stack([self.states, OPPONENT_VIEW[self.states]])

    def swapped(self) -> "GameTrajectories":
        """The same games with the players' roles exchanged (player 2 seen as player 1)."""
        return GameTrajectories(OPPONENT_VIEW[self.states], self.actions[::-1].copy(), self.rewards[::-1].copy())


def sample_games(theta1s: np.ndarray, theta2s: np.ndarray, n_games: int, length: int,
                 rng: np.random.Generator) -> GameTrajectories:
    """Play N games of T steps for each pair (θ₁_r, θ₂_r); σ(θ[s]) = P(cooperate in s).

    Args:
      theta1s, theta2s: `(R, 5)` logits (or `(5,)`, treated as R = 1).
      n_games: N games per pair.
      length: T steps per game.
      rng: the only source of randomness (two uniforms per game and step, player 1's first).
    Returns:
      `GameTrajectories` with arrays `(R, N, T)` and `(2, R, N, T)`.
    """
    theta1s, theta2s = np.atleast_2d(np.asarray(theta1s, float)), np.atleast_2d(np.asarray(theta2s, float))
    if theta1s.shape[1:] != (N_STATES,) or theta2s.shape != theta1s.shape:
        raise ValueError(f"theta1s, theta2s: expected two arrays of shape (R, {N_STATES}), "
                         f"got {theta1s.shape} and {theta2s.shape}")
    for field, value in (("n_games", n_games), ("length", length)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{field}: expected a positive integer, got {value!r}")
    n_pairs = len(theta1s)
    cooperate = np.stack([sigmoid(theta1s), sigmoid(theta2s)])                # (2, R, 5)
    shape = (n_pairs, n_games, length)
    states = np.empty(shape, dtype=np.intp)
    actions = np.empty((2, *shape), dtype=np.intp)
    rows = np.arange(n_pairs)[:, None]
    state = np.zeros(shape[:2], dtype=np.intp)
    for t in range(length):
        uniforms = rng.random((2, *shape[:2]))
        own = (uniforms[0] >= cooperate[0][rows, state]).astype(np.intp)
        other = (uniforms[1] >= cooperate[1][rows, OPPONENT_VIEW[state]]).astype(np.intp)
        states[..., t], actions[0, ..., t], actions[1, ..., t] = state, own, other
        state = 1 + 2 * own + other
    outcomes = 2 * actions[0] + actions[1]
    return GameTrajectories(states, actions, REWARDS[:, outcomes])
