"""Tabular MDPs with a softmax policy: exact value, gradient, Hessian and HVPs.

Everything is closed form in numpy/scipy and computed for a *stack* of R policies at
once (`solve_stack`, `batch_*`); the single-policy methods are R = 1 views of it. Second
derivatives are forward-mode derivatives of the gradient formula along D directions per
policy, pushed through the Bellman linear solves (infinite horizon; one LU factorisation
reused when R = 1) or through the backward/forward recursions (finite horizon).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy.linalg import lu_factor, lu_solve

from mdps.policy import policy_tangent, softmax_policy

_PROBABILITY_TOLERANCE = 1e-8


class _BellmanSystem:
    """The stacked systems M_r = I - γ P_{π_r}: solves with M and Mᵀ.

    One policy (R = 1, the single-policy methods): one LU factorisation reused for every
    solve. Several: stacked `numpy.linalg.solve`. Never an explicit inverse.
    """

    def __init__(self, matrices: np.ndarray):
        self.matrices = matrices                                  # (R, S, S)
        self.factor = lu_factor(matrices[0]) if len(matrices) == 1 else None

    def solve(self, right: np.ndarray, *, transposed: bool = False) -> np.ndarray:
        """M⁻¹ b (or M⁻ᵀ b) for `right` of shape `(R, S)` or `(R, D, S)`; same shape out."""
        columns = right[..., None] if right.ndim == 2 else np.swapaxes(right, 1, 2)   # (R, S, D)
        if self.factor is not None:
            solved = lu_solve(self.factor, columns[0], trans=int(transposed))[None]
        else:
            matrices = np.swapaxes(self.matrices, 1, 2) if transposed else self.matrices
            solved = np.linalg.solve(matrices, columns)
        return solved[..., 0] if right.ndim == 2 else np.swapaxes(solved, 1, 2)


def guide_table(cumulative: np.ndarray, size: int | None = None) -> np.ndarray:
    """Chen's guide table: g[q, k] = #{j : F_q[j] <= k/G}, the first candidate index for u ∈ [k/G, (k+1)/G).

    Args:
      cumulative: `(Q, K)` cumulative probabilities per row, last entry 1.
      size: G buckets (default K).
    Returns:
      `(Q, G)` int start indices.
    """
    size = cumulative.shape[-1] if size is None else size
    grid = np.arange(size) / size
    return (cumulative[:, None, :] <= grid[None, :, None]).sum(axis=-1)


@dataclass(frozen=True)
class StackedSolution:
    """Exact quantities of R policies, as a function of the time index when H is finite.

    L = 1 for the infinite horizon (stationary quantities), L = H for finite H (V_t with
    H - t steps to go). Attributes: `policy (R, S, A)`, `values (R, L, S)`,
    `q_values (R, L, S, A)`, `visits (R, L, S)` (discounted: γᵗ d_t, or ρᵀ(I - γP_π)⁻¹),
    `system` (the Bellman systems, infinite horizon only).
    """

    policy: np.ndarray
    values: np.ndarray
    q_values: np.ndarray
    visits: np.ndarray
    system: _BellmanSystem | None

    @property
    def advantages(self) -> np.ndarray:
        """`(R, L, S, A)` Q_t - V_t."""
        return self.q_values - self.values[..., None]


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
        return guide_table(self.cumulative_transitions.reshape(self.dim, self.n_states))

    def with_rewards(self, rewards: np.ndarray) -> "TabularMDP":
        """The same dynamics with another reward table (e.g. r + η for LIRPG)."""
        return TabularMDP(self.transitions, rewards, self.initial, self.gamma, self.horizon)

    # ------------------------------------------------------------------ exact solution
    def solve_stack(self, thetas: np.ndarray) -> StackedSolution:
        """Values, Q-values and discounted state visits of a stack of policies π_{θ_r}.

        Args:
          thetas: `(R, S, A)` logits.
        """
        thetas = self._check_thetas(thetas)
        policy = softmax_policy(thetas)
        if self.horizon is None:
            return self._solve_infinite(policy)
        return self._solve_finite(policy)

    def bellman_solve(self, thetas: np.ndarray, right: np.ndarray, *, transposed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(π_r, x_r) with (I − γ P_{π_r}) x_r = b_r (or its transpose), infinite horizon only: the
        one solve of `solve_stack`'s, without the values, Q-values and visits.

        Args:
          thetas: `(R, S, A)` logits.
          right: `(R, S)` right-hand sides b_r.
        Returns:
          `(R, S, A)` policies and `(R, S)` solutions.
        """
        if self.horizon is not None:
            raise ValueError("horizon: bellman_solve is for infinite-horizon MDPs (finite H: solve_stack)")
        policy = softmax_policy(self._check_thetas(thetas))
        return policy, self._bellman_system(policy).solve(np.asarray(right, dtype=float), transposed=transposed)

    def _bellman_matrices(self, policy: np.ndarray) -> np.ndarray:
        """M_r = I − γ P_{π_r}, `(R, S, S)`."""
        return np.eye(self.n_states) - self.gamma * np.einsum("rsa,sat->rst", policy, self.transitions)

    def _bellman_system(self, policy: np.ndarray) -> _BellmanSystem:
        return _BellmanSystem(self._bellman_matrices(policy))

    def _solve_infinite(self, policy: np.ndarray) -> StackedSolution:
        system = self._bellman_system(policy)
        values = system.solve((policy * self.rewards).sum(axis=-1))                          # (R, S)
        q_values = self.rewards + self.gamma * np.einsum("sat,rt->rsa", self.transitions, values)
        visits = system.solve(np.broadcast_to(self.initial, values.shape), transposed=True)
        return StackedSolution(policy, values[:, None], q_values[:, None], visits[:, None], system)

    def _solve_finite(self, policy: np.ndarray) -> StackedSolution:
        n_policies, horizon = policy.shape[0], self.horizon
        values = np.zeros((n_policies, horizon + 1, self.n_states))
        q_values = np.zeros((n_policies, horizon, self.n_states, self.n_actions))
        for t in range(horizon - 1, -1, -1):
            q_values[:, t] = self.rewards + self.gamma * np.einsum("sat,rt->rsa", self.transitions, values[:, t + 1])
            values[:, t] = (policy * q_values[:, t]).sum(axis=-1)
        visits = np.zeros((n_policies, horizon, self.n_states))
        visits[:, 0] = self.initial
        for t in range(1, horizon):
            visits[:, t] = self.gamma * np.einsum("rs,rsa,sat->rt", visits[:, t - 1], policy, self.transitions)
        return StackedSolution(policy, values[:, :horizon], q_values, visits, None)

    def state_values(self, theta: np.ndarray) -> np.ndarray:
        """V_π(s) `(S,)`: the value from each state (from t = 0 when H is finite)."""
        return self.solve_stack(self._check_theta(theta)[None]).values[0, 0]

    def time_state_values(self, theta: np.ndarray) -> np.ndarray:
        """`(H + 1, S)` V_t(s) for finite H (last row the zero terminal value); `(1, S)` for infinite H."""
        return self.batch_time_values(self._check_theta(theta)[None])[0]

    def value(self, theta: np.ndarray) -> float:
        """V(θ) = ρᵀ V_π."""
        return float(self.initial @ self.state_values(theta))

    def occupancy(self, theta: np.ndarray) -> np.ndarray:
        """Discounted state-action occupancy `(S, A)`: Σ_t γᵗ P(s_t = s, a_t = a); V = Σ occ · r."""
        solution = self.solve_stack(self._check_theta(theta)[None])
        return (solution.visits[0, :, :, None] * solution.policy[0]).sum(axis=0)

    def gradient(self, theta: np.ndarray) -> np.ndarray:
        """∇V(θ)[s,a] = Σ_t γᵗ d_t(s) π(a|s) (Q_t(s,a) - V_t(s)), shape `(S, A)`."""
        return self.batch_values_and_gradients(self._check_theta(theta)[None])[2][0]

    # ------------------------------------------------------------------ stacked policies
    def batch_values_and_gradients(self, thetas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """V, the state values and ∇V for a stack of R policies at once.

        Args:
          thetas: `(R, S, A)` logits.
        Returns:
          `(R,)` values V(θ_r), `(R, S)` state values V_r(s) (from t = 0), `(R, S, A)` gradients.
        """
        solution = self.solve_stack(thetas)
        gradients = (solution.visits[..., None] * solution.policy[:, None] * solution.advantages).sum(axis=1)
        state_values = solution.values[:, 0]
        return state_values @ self.initial, state_values, gradients

    def batch_time_values(self, thetas: np.ndarray) -> np.ndarray:
        """State values of R policies by time: `(R, H + 1, S)` (terminal zero row last) for
        finite H, `(R, 1, S)` for the infinite horizon. A critic for step t reads row t."""
        thetas = self._check_thetas(thetas)
        if len(thetas) > 1 and np.all(thetas == thetas[:1]):   # every repetition still at θ_0: one solve
            return np.broadcast_to(self.batch_time_values(thetas[:1]), (len(thetas), *self._time_values_shape)).copy()
        if self.horizon is None:                  # values only: one stacked solve, no visits
            policy = softmax_policy(thetas)
            return np.linalg.solve(self._bellman_matrices(policy), (policy * self.rewards).sum(axis=-1)[..., None])[..., 0][:, None]
        values = self.solve_stack(thetas).values
        return np.concatenate([values, np.zeros_like(values[:, :1])], axis=1)

    @property
    def _time_values_shape(self) -> tuple[int, int]:
        return (1 if self.horizon is None else self.horizon + 1), self.n_states

    # ------------------------------------------------------------------ second order
    def batch_tangents(self, thetas: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward-mode derivatives of ∇V(θ_r) and of the occupancy along directions u_{r,j}.

        Args:
          thetas: `(R, S, A)` logits.
          directions: `(R, D, S, A)` tangent vectors (D per policy).
        Returns:
          `(R, D, S, A)` (∇²V(θ_r)) u_{r,j}, and `(R, D, S, A)` (∂occ/∂θ(θ_r)) u_{r,j} — the
          mixed term ∂_η ∇_θ V_{r+η} of LIRPG contracted with u, since ∇_θ V_r = (∂occ/∂θ)ᵀ r.
        """
        solution = self.solve_stack(thetas)
        directions = np.asarray(directions, dtype=float)
        expected = (len(solution.policy), self.n_states, self.n_actions)
        if directions.ndim != 4 or (directions.shape[0], *directions.shape[2:]) != expected:
            raise ValueError(f"directions: expected shape ({expected[0]}, D, {self.n_states}, {self.n_actions}), "
                             f"got {directions.shape}")
        policy = solution.policy[:, None]                                     # (R, 1, S, A)
        policy_tangents = policy_tangent(policy, directions)                  # (R, D, S, A)
        if self.horizon is None:
            value_t, q_t, visits_t = self._tangents_infinite(solution, policy_tangents)
        else:
            value_t, q_t, visits_t = self._tangents_finite(solution, policy_tangents)
        visits, advantages = solution.visits, solution.advantages             # (R, L, S), (R, L, S, A)
        gradient_tangent = (
            np.einsum("rdls,rsa,rlsa->rdsa", visits_t, solution.policy, advantages)
            + np.einsum("rls,rdsa,rlsa->rdsa", visits, policy_tangents, advantages)
            + np.einsum("rls,rsa,rdlsa->rdsa", visits, solution.policy, q_t - value_t[..., None])
        )
        occupancy_tangent = (np.einsum("rdls,rsa->rdsa", visits_t, solution.policy)
                             + visits.sum(axis=1)[:, None, :, None] * policy_tangents)
        return gradient_tangent, occupancy_tangent

    def _tangents_infinite(self, solution: StackedSolution, policy_tangents: np.ndarray):
        """dV solves (I-γP_π) dV = Σ_a dπ Q; dd solves (I-γP_π)ᵀ dd = γ Σ_{s,a} d dπ P."""
        q_values, visits = solution.q_values[:, 0], solution.visits[:, 0]
        value_t = solution.system.solve((policy_tangents * q_values[:, None]).sum(axis=-1))        # (R, D, S)
        q_t = self.gamma * np.einsum("sat,rdt->rdsa", self.transitions, value_t)
        visits_rhs = self.gamma * np.einsum("rs,rdsa,sat->rdt", visits, policy_tangents, self.transitions)
        visits_t = solution.system.solve(visits_rhs, transposed=True)
        return value_t[:, :, None], q_t[:, :, None], visits_t[:, :, None]

    def _tangents_finite(self, solution: StackedSolution, policy_tangents: np.ndarray):
        """Backward recursion for dV_t, dQ_t and forward recursion for d(γᵗ d_t)."""
        horizon = self.horizon
        n_policies, n_directions = policy_tangents.shape[:2]
        policy, visits = solution.policy[:, None], solution.visits
        value_t = np.zeros((n_policies, n_directions, horizon + 1, self.n_states))
        q_t = np.zeros((n_policies, n_directions, horizon, self.n_states, self.n_actions))
        for t in range(horizon - 1, -1, -1):
            q_t[:, :, t] = self.gamma * np.einsum("sat,rdt->rdsa", self.transitions, value_t[:, :, t + 1])
            value_t[:, :, t] = (policy_tangents * solution.q_values[:, None, t] + policy * q_t[:, :, t]).sum(axis=-1)
        visits_t = np.zeros((n_policies, n_directions, horizon, self.n_states))
        for t in range(1, horizon):
            flow = visits_t[:, :, t - 1, :, None] * policy + visits[:, None, t - 1, :, None] * policy_tangents
            visits_t[:, :, t] = self.gamma * np.einsum("rdsa,sat->rdt", flow, self.transitions)
        return value_t[:, :, :horizon], q_t, visits_t

    def tangents(self, theta: np.ndarray, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`batch_tangents` for one policy: directions `(D, S, A)` -> two `(D, S, A)` arrays."""
        theta = self._check_theta(theta)
        directions = np.asarray(directions, dtype=float)
        if directions.ndim != 3 or directions.shape[1:] != theta.shape:
            raise ValueError(f"directions: expected shape (D, {theta.shape[0]}, {theta.shape[1]}), got {directions.shape}")
        gradient_tangent, occupancy_tangent = self.batch_tangents(theta[None], directions[None])
        return gradient_tangent[0], occupancy_tangent[0]

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

    def _check_thetas(self, thetas: np.ndarray) -> np.ndarray:
        thetas = np.asarray(thetas, dtype=float)
        if thetas.ndim != 3 or thetas.shape[1:] != (self.n_states, self.n_actions):
            raise ValueError(f"thetas: expected shape (R, {self.n_states}, {self.n_actions}), got {thetas.shape}")
        return thetas


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
