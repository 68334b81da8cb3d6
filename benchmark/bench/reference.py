"""Plain per-trajectory reference implementations of estimators, for `mgbench bench` and the tests.

These follow the released code of Liu et al. (2022) in spirit: one trajectory at a time,
drawn step by step with `rng.choice`, and the estimate accumulated trajectory by
trajectory and step by step in Python loops. They share the mathematics of the vectorized
estimators (docstrings of `estimators.tabular.practical`) but none of their code, so agreement on
the same trajectories checks the vectorized kernels (gathers, cumulative sums, bincount
scatters), and the speed ratio measures what vectorization buys.

`sf` (the unbiased score-function meta-gradient of the practical target, `init`
meta-parameter, critic `none`), K inner steps, batch N, rollouts of length T:

  θ_{k+1} = θ_k + α ĝ_k,     ĝ_k = (1/N) Σ_m Σ_t (Σ_{j≥t} γʲ r_j) z_t,   z_t = ∇log π(a_t|s_t)
  λ_K = ∇V(θ_K);   λ_k = λ_{k+1} + α Ĵ_kᵀ λ_{k+1} + V(θ_K) s_k,   for k = K-1, ..., 0,
  Ĵ_kᵀ λ = (1/N) Σ_m Σ_t (Σ_{j≥t} γʲ r_j) ∇²log π(a_t|s_t) λ,     s_k = Σ_m Σ_t z_t,

with ∇²log π(a|s) λ = -(diag π_s - π_s π_sᵀ) λ_s on row s only. The estimate is λ_0.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from estimators.tabular.problem import MetaProblem
from mdps import TabularMDP, softmax_policy

Trajectory = tuple[list[int], list[int]]          # (states s_0..s_{T-1}, actions a_0..a_{T-1})
TrajectorySource = Callable[[int, int, np.ndarray], Sequence[Trajectory]]


def sample_trajectory(mdp: TabularMDP, policy: np.ndarray, length: int, rng: np.random.Generator) -> Trajectory:
    """One rollout of `length` steps from ρ under `policy` `(S, A)`, one `rng.choice` per draw."""
    states, actions = [], []
    state = rng.choice(mdp.n_states, p=mdp.initial)
    for _ in range(length):
        action = rng.choice(mdp.n_actions, p=policy[state])
        states.append(int(state))
        actions.append(int(action))
        state = rng.choice(mdp.n_states, p=mdp.transitions[state, action])
    return states, actions


def _rewards_to_go(mdp: TabularMDP, trajectory: Trajectory) -> list[float]:
    """γᵗ R_t = Σ_{j≥t} γʲ r(s_j, a_j) for every t, by a backward loop."""
    states, actions = trajectory
    returns = [0.0] * len(states)
    running = 0.0
    for t in range(len(states) - 1, -1, -1):
        running += mdp.gamma ** t * mdp.rewards[states[t], actions[t]]
        returns[t] = running
    return returns


def _add_score(target: np.ndarray, policy: np.ndarray, state: int, action: int, weight: float) -> None:
    """target += weight · z, z = e_a - π(·|s) on row s."""
    for b in range(policy.shape[1]):
        target[state, b] -= weight * policy[state, b]
    target[state, action] += weight


def _add_log_policy_hvp(target: np.ndarray, policy: np.ndarray, state: int, vector: np.ndarray,
                        weight: float) -> None:
    """target += weight · ∇²log π(·|s) v = -weight π_s ⊙ (v_s - π_s·v_s) on row s."""
    dot = sum(policy[state, b] * vector[state, b] for b in range(policy.shape[1]))
    for b in range(policy.shape[1]):
        target[state, b] -= weight * policy[state, b] * (vector[state, b] - dot)


def reference_sf_estimate(problem: MetaProblem, trajectory_source: Callable[[int, np.ndarray], Sequence[Trajectory]],
                          batch: int) -> np.ndarray:
    """One `sf` estimate `(S, A)` from the trajectories `trajectory_source(k, policy_k)` of each step.

    Args:
      problem: `init` meta-parameter, critic `none` (the practical target).
      trajectory_source: returns the `batch` trajectories of inner step k, drawn under
        `policy_k` `(S, A)`.
      batch: N, the number of trajectories per inner step.
    """
    if problem.meta_parameter != "init" or problem.critic != "none":
        raise ValueError("the reference sf estimate covers the init meta-parameter with critic 'none'")
    mdp, lr = problem.mdp, problem.lr
    theta = np.array(problem.theta0, dtype=float)
    policies, batches = [], []
    for k in range(problem.steps):
        policy = softmax_policy(theta)
        trajectories = list(trajectory_source(k, policy))
        if len(trajectories) != batch:
            raise ValueError(f"trajectory_source: expected {batch} trajectories, got {len(trajectories)}")
        gradient = np.zeros_like(theta)
        for trajectory in trajectories:
            returns = _rewards_to_go(mdp, trajectory)
            for t, (state, action) in enumerate(zip(*trajectory)):
                _add_score(gradient, policy, state, action, returns[t] / batch)
        policies.append(policy)
        batches.append(trajectories)
        theta = theta + lr * gradient
    outer_value = mdp.value(theta)
    adjoint = mdp.gradient(theta)
    for k in range(problem.steps - 1, -1, -1):
        policy, previous = policies[k], adjoint.copy()
        for trajectory in batches[k]:
            returns = _rewards_to_go(mdp, trajectory)
            for t, (state, action) in enumerate(zip(*trajectory)):
                _add_log_policy_hvp(previous, policy, state, adjoint, lr * returns[t] / batch)
                _add_score(previous, policy, state, action, outer_value)
        adjoint = previous
    return adjoint


def reference_sf(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32) -> np.ndarray:
    """R independent `sf` estimates `(R, S, A)`, every trajectory sampled one draw at a time."""
    estimates = []
    for _ in range(repetitions):
        def source(k: int, policy: np.ndarray) -> list[Trajectory]:
            return [sample_trajectory(problem.mdp, policy, problem.rollout_length, rng) for _ in range(batch)]
        estimates.append(reference_sf_estimate(problem, source, batch))
    return np.array(estimates)
