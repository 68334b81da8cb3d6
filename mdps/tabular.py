"""Tabular MDPs with a softmax policy: exact value, gradient, Hessian and HVPs.

Everything is closed form in numpy/scipy. Second derivatives are forward-mode
derivatives of the gradient formula along a batch of directions, pushed through the
Bellman linear solves (infinite horizon, one LU factorisation reused) or through the
backward/forward recursions (finite horizon).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import lu_factor, lu_solve

from mdps.policy import policy_tangent, softmax_policy

_PROBABILITY_TOLERANCE = 1e-8


@dataclass(frozen=True)
class _Solution:
    """Exact quantities of one policy, as a function of the time index when H is finite.

    Infinite horizon: `values (1, S)`, `q_values (1, S, A)`, `visits (1, S)` with
    visits = ρᵀ(I - γP_π)⁻¹. Finite horizon: `values (H, S)` with V_t the value with
    H - t steps to go, `q_values (H, S, A)`, `visits (H, S)` = γᵗ d_t (discounted).
    """

    policy: np.ndarray
    values: np.ndarray
    q_values: np.ndarray
    visits: np.ndarray
    factor: tuple | None  # LU factors of (I - γP_π) for the infinite horizon


class TabularMDP:
    """A finite MDP `M = (P, r, ρ, γ, H)` under a softmax policy with logits θ `(S, A)`.

    V(θ) = ρᵀ(I - γP_π)⁻¹ r_π for `horizon=None`, else E[Σ_{t<H} γᵗ r(s_t, a_t)].

    Args:
      transitions: `(S, A, S)` P[s, a, s'], each row a probability vector.
      rewards: `(S, A)` mean reward r[s, a].
      initial: `(S,)` initial state distribution ρ.
      gamma: discount in [0, 1).
      horizon: None (infinite, discounted) or a positive int H.
    """

    def __init__(self, transitions, rewards, initial, gamma: float, horizon: int | None = None):
        self.transitions = _validated_transitions(transitions)
        n_states, n_actions, _ = self.transitions.shape
        self.rewards = _validated_array("rewards", rewards, (n_states, n_actions))
        self.initial = _validated_distribution("initial", initial, n_states)
        if not isinstance(gamma, (int, float, np.floating)) or not 0.0 <= float(gamma) < 1.0:
            raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1):
            raise ValueError(f"horizon: expected None or a positive integer, got {horizon!r}")
        self.gamma = float(gamma)
        self.horizon = None if horizon is None else int(horizon)
        self.n_states, self.n_actions = n_states, n_actions

    def __repr__(self) -> str:
        return (f"TabularMDP(S={self.n_states}, A={self.n_actions}, gamma={self.gamma}, "
                f"horizon={self.horizon})")

    @property
    def dim(self) -> int:
        """Number of policy parameters S * A."""
        return self.n_states * self.n_actions

    @cached_property
    def cumulative_transitions(self) -> np.ndarray:
        """`(S, A, S)` cumulative sums of P over s', last entry exactly 1 (for sampling)."""
        cumulative = np.cumsum(self.transitions, axis=-1)
        cumulative[..., -1] = 1.0
        return cumulative

    @cached_property
    def transition_guide(self) -> np.ndarray:
        """`(S*A, S)` guide table of the rows of `cumulative_transitions` (fast sampling)."""
        from mdps.sampling import guide_table

        return guide_table(self.cumulative_transitions.reshape(self.dim, self.n_states))

    def with_rewards(self, rewards: np.ndarray) -> "TabularMDP":
        """The same dynamics with another reward table (e.g. r + η for LIRPG)."""
        return TabularMDP(self.transitions, rewards, self.initial, self.gamma, self.horizon)

    # ------------------------------------------------------------------ exact solution
    def solve(self, theta: np.ndarray) -> _Solution:
        """Values, Q-values and discounted state visits of π_θ (see `_Solution`)."""
        theta = self._check_theta(theta)
        policy = softmax_policy(theta)
        if self.horizon is None:
            return self._solve_infinite(policy)
        return self._solve_finite(policy)

    def _solve_infinite(self, policy: np.ndarray) -> _Solution:
        policy_transitions = np.einsum("sa,sat->st", policy, self.transitions)
        factor = lu_factor(np.eye(self.n_states) - self.gamma * policy_transitions)
        values = lu_solve(factor, (policy * self.rewards).sum(axis=1))
        q_values = self.rewards + self.gamma * self.transitions @ values
        visits = lu_solve(factor, self.initial, trans=1)
        return _Solution(policy, values[None], q_values[None], visits[None], factor)

    def _solve_finite(self, policy: np.ndarray) -> _Solution:
        horizon, n_states = self.horizon, self.n_states
        values = np.zeros((horizon + 1, n_states))
        q_values = np.zeros((horizon, n_states, self.n_actions))
        for t in range(horizon - 1, -1, -1):
            q_values[t] = self.rewards + self.gamma * self.transitions @ values[t + 1]
            values[t] = (policy * q_values[t]).sum(axis=1)
        visits = np.zeros((horizon, n_states))
        visits[0] = self.initial
        for t in range(1, horizon):
            visits[t] = self.gamma * np.einsum("s,sa,sat->t", visits[t - 1], policy, self.transitions)
        return _Solution(policy, values[:horizon], q_values, visits, None)

    def state_values(self, theta: np.ndarray) -> np.ndarray:
        """V_π(s) `(S,)`: the value from each state (from t = 0 when H is finite)."""
        return self.solve(theta).values[0]

    def time_state_values(self, theta: np.ndarray) -> np.ndarray:
        """`(H, S)` V_t(s) for finite H (a critic for step t); `(1, S)` for infinite H."""
        return self.solve(theta).values

    def value(self, theta: np.ndarray) -> float:
        """V(θ) = ρᵀ V_π."""
        return float(self.initial @ self.state_values(theta))

    def occupancy(self, theta: np.ndarray) -> np.ndarray:
        """Discounted state-action occupancy `(S, A)`: Σ_t γᵗ P(s_t = s, a_t = a); V = Σ occ · r."""
        solution = self.solve(theta)
        return (solution.visits[:, :, None] * solution.policy).sum(axis=0)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """∇V(θ)[s,a] = Σ_t γᵗ d_t(s) π(a|s) (Q_t(s,a) - V_t(s)), shape `(S, A)`."""
        solution = self.solve(theta)
        advantages = solution.q_values - solution.values[:, :, None]
        return (solution.visits[:, :, None] * solution.policy * advantages).sum(axis=0)

    def batch_values_and_gradients(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """V, the state values and ∇V for a stack of P policies at once (stacked solves).

        Args:
          thetas: `(P, S, A)` logits.
        Returns:
          `(P,)` values V(θ_p), `(P, S)` state values V_p(s) (from t = 0), `(P, S, A)` gradients.
        """
        thetas = np.asarray(thetas, dtype=float)
        if thetas.ndim != 3 or thetas.shape[1:] != (self.n_states, self.n_actions):
            raise ValueError(f"thetas: expected shape (P, {self.n_states}, {self.n_actions}), got {thetas.shape}")
        policy = softmax_policy(thetas)
        if self.horizon is None:
            system = np.eye(self.n_states) - self.gamma * np.einsum("psa,sat->pst", policy, self.transitions)
            state_values = np.linalg.solve(system, (policy * self.rewards).sum(axis=-1)[..., None])[..., 0]
            q_values = self.rewards + self.gamma * np.einsum("sat,pt->psa", self.transitions, state_values)
            visits = np.linalg.solve(np.swapaxes(system, 1, 2), np.broadcast_to(self.initial, state_values.shape)[..., None])[..., 0]
            gradients = visits[..., None] * policy * (q_values - state_values[..., None])
            return state_values @ self.initial, state_values, gradients
        next_values = np.zeros(thetas.shape[:2])
        q_by_time, values_by_time = [], []
        for _ in range(self.horizon):
            q_values = self.rewards + self.gamma * np.einsum("sat,pt->psa", self.transitions, next_values)
            next_values = (policy * q_values).sum(axis=-1)
            q_by_time.append(q_values)
            values_by_time.append(next_values)
        visits = np.broadcast_to(self.initial, next_values.shape)
        gradients = np.zeros_like(thetas)
        for t in range(self.horizon):  # q_by_time[-1 - t] is Q_t (H - t steps to go)
            q_values, state_values = q_by_time[-1 - t], values_by_time[-1 - t]
            gradients += visits[..., None] * policy * (q_values - state_values[..., None])
            visits = self.gamma * np.einsum("ps,psa,sat->pt", visits, policy, self.transitions)
        state_values = values_by_time[-1]
        return state_values @ self.initial, state_values, gradients

    # ------------------------------------------------------------------ second order
    def tangents(self, theta: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward-mode derivatives of ∇V(θ) and of the occupancy along directions.

        Args:
          theta: `(S, A)` logits.
          directions: `(D, S, A)` tangent vectors u_j.
        Returns:
          `(D, S, A)` (∇²V) u_j, and `(D, S, A)` d occupancy / dθ · u_j (the mixed term
          ∂_η ∇_θ V_{r+η} of LIRPG, contracted with u_j, since ∇_θ V_r = (∂occ/∂θ)ᵀ r).
        """
        theta = self._check_theta(theta)
        directions = np.asarray(directions, dtype=float)
        if directions.ndim != 3 or directions.shape[1:] != theta.shape:
            raise ValueError(f"directions: expected shape (D, {theta.shape[0]}, {theta.shape[1]}), got {directions.shape}")
        solution = self.solve(theta)
        policy_tangents = policy_tangent(solution.policy, directions)
        if self.horizon is None:
            value_t, q_t, visits_t = self._tangents_infinite(solution, policy_tangents)
        else:
            value_t, q_t, visits_t = self._tangents_finite(solution, policy_tangents)
        policy, visits = solution.policy, solution.visits          # (S, A), (T, S)
        advantages = solution.q_values - solution.values[:, :, None]  # (T, S, A)
        gradient_tangent = (
            np.einsum("dts,sa,tsa->dsa", visits_t, policy, advantages)
            + np.einsum("ts,dsa,tsa->dsa", visits, policy_tangents, advantages)
            + np.einsum("ts,sa,dtsa->dsa", visits, policy, q_t - value_t[..., None])
        )
        occupancy_tangent = (np.einsum("dts,sa->dsa", visits_t, policy)
                             + visits.sum(axis=0)[:, None] * policy_tangents)
        return gradient_tangent, occupancy_tangent

    def _tangents_infinite(self, solution: _Solution, policy_tangents: np.ndarray):
        """dV solves (I-γP_π) dV = Σ_a dπ Q; dd solves (I-γP_π)ᵀ dd = γ Σ_{s,a} d dπ P."""
        q_values, visits = solution.q_values[0], solution.visits[0]
        value_rhs = (policy_tangents * q_values).sum(axis=-1)                       # (D, S)
        value_t = lu_solve(solution.factor, value_rhs.T).T                          # (D, S)
        q_t = self.gamma * np.einsum("sat,dt->dsa", self.transitions, value_t)
        visits_rhs = self.gamma * np.einsum("s,dsa,sat->dt", visits, policy_tangents, self.transitions)
        visits_t = lu_solve(solution.factor, visits_rhs.T, trans=1).T
        return value_t[:, None], q_t[:, None], visits_t[:, None]

    def _tangents_finite(self, solution: _Solution, policy_tangents: np.ndarray):
        """Backward recursion for dV_t, dQ_t and forward recursion for d(γᵗ d_t)."""
        horizon, n_directions = self.horizon, policy_tangents.shape[0]
        policy, visits = solution.policy, solution.visits
        value_t = np.zeros((n_directions, horizon + 1, self.n_states))
        q_t = np.zeros((n_directions, horizon, self.n_states, self.n_actions))
        for t in range(horizon - 1, -1, -1):
            q_t[:, t] = self.gamma * np.einsum("sat,dt->dsa", self.transitions, value_t[:, t + 1])
            value_t[:, t] = (policy_tangents * solution.q_values[t] + policy * q_t[:, t]).sum(axis=-1)
        visits_t = np.zeros((n_directions, horizon, self.n_states))
        for t in range(1, horizon):
            flow = visits_t[:, t - 1, :, None] * policy + visits[t - 1][:, None] * policy_tangents
            visits_t[:, t] = self.gamma * np.einsum("dsa,sat->dt", flow, self.transitions)
        return value_t[:, :horizon], q_t, visits_t

    def hessian_vector_product(self, theta: np.ndarray, vector: np.ndarray) -> np.ndarray:
        """(∇²V(θ)) v, shape `(S, A)`, at the cost of a few gradient evaluations."""
        vector = np.asarray(vector, dtype=float).reshape(1, self.n_states, self.n_actions)
        return self.tangents(theta, vector)[0][0]

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """∇²V(θ), shape `(S*A, S*A)`, row-major flattening of θ."""
        basis = np.eye(self.dim).reshape(self.dim, self.n_states, self.n_actions)
        return self.tangents(theta, basis)[0].reshape(self.dim, self.dim)

    def _check_theta(self, theta: np.ndarray) -> np.ndarray:
        theta = np.asarray(theta, dtype=float)
        if theta.shape != (self.n_states, self.n_actions):
            raise ValueError(f"theta: expected shape ({self.n_states}, {self.n_actions}), got {theta.shape}")
        return theta


def _validated_array(field: str, array, shape: tuple[int, ...]) -> np.ndarray:
    array = np.asarray(array, dtype=float)
    if array.shape != shape:
        raise ValueError(f"{field}: expected shape {shape}, got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{field}: expected finite numbers, found NaN or inf")
    return array


def _validated_transitions(transitions) -> np.ndarray:
    transitions = np.asarray(transitions, dtype=float)
    if transitions.ndim != 3 or transitions.shape[0] != transitions.shape[2] or 0 in transitions.shape:
        raise ValueError(f"transitions: expected shape (S, A, S) with S, A >= 1, got {transitions.shape}")
    transitions = _validated_array("transitions", transitions, transitions.shape)
    if transitions.min() < 0 or not np.allclose(transitions.sum(axis=-1), 1.0, atol=_PROBABILITY_TOLERANCE):
        raise ValueError("transitions: expected non-negative rows P[s, a, :] summing to 1")
    return transitions


def _validated_distribution(field: str, distribution, size: int) -> np.ndarray:
    distribution = _validated_array(field, distribution, (size,))
    if distribution.min() < 0 or abs(distribution.sum() - 1.0) > _PROBABILITY_TOLERANCE:
        raise ValueError(f"{field}: expected a probability vector of length {size} (non-negative, sums to 1)")
    return distribution
