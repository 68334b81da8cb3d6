"""K-armed bandits with Gaussian reward noise and task distributions over their arm means.

A bandit is a one-state MDP (S = 1, A = K, horizon 1): its exact value V(θ) = π_θ · μ, gradient
and Hessian come from `TabularMDP` and depend on the means μ only. The reward noise matters
only for sampling: a pull of arm a returns μ_a + σ ε, ε ~ N(0, 1).

A task distribution draws μ ∈ R^K per task (`arm_law`); estimators either resample a task for
every repetition or draw it from a fixed, seeded set of tasks (`task_set`). The target under
a task distribution is the mean over tasks of each task's target, reported with the standard
error of that mean (`task_mean`).

Vuorio et al. (2022, released code `algorithms/off_policy_bandits.py`): 30 arms,
μ_a = exp(U(-100, 1)), σ = 2 (`VUORIO2022_BANDITS`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from mdps.tabular import TabularMDP

ArmLaw = Literal["exp_uniform", "uniform", "normal", "fixed"]
ARM_LAWS: tuple[str, ...] = ("exp_uniform", "uniform", "normal", "fixed")


def bandit_mdp(means: np.ndarray) -> TabularMDP:
    """The one-state, horizon-1 MDP of a K-armed bandit with arm means μ `(K,)`: V(θ) = softmax(θ)·μ."""
    means = np.asarray(means, dtype=float)
    if means.ndim != 1 or means.size < 1:
        raise ValueError(f"means: expected a non-empty vector of arm means, got shape {means.shape}")
    return TabularMDP(np.ones((1, means.size, 1)), means[None], np.ones(1), 0.0, horizon=1)


@dataclass(frozen=True)
class BanditDistribution:
    """A distribution over K-armed bandit tasks with Gaussian reward noise.

    Attributes:
      n_arms: K.
      arm_law: how each task's means are drawn, independently per arm:
        `exp_uniform` μ_a = exp(U(low, high)), `uniform` μ_a ~ U(low, high),
        `normal` μ_a ~ N(low, high²) (low = mean, high = standard deviation),
        `fixed` μ = `means` for every task (a single task).
      low, high: the law's two parameters.
      noise: σ >= 0, the standard deviation of the reward noise of a pull.
      means: `(K,)` the arm means of the `fixed` law.
    """

    n_arms: int = 30
    arm_law: ArmLaw = "exp_uniform"
    low: float = -100.0
    high: float = 1.0
    noise: float = 2.0
    means: tuple[float, ...] | None = None

    def __post_init__(self):
        if isinstance(self.n_arms, bool) or not isinstance(self.n_arms, (int, np.integer)) or self.n_arms < 1:
            raise ValueError(f"n_arms: expected a positive integer, got {self.n_arms!r}")
        if self.arm_law not in ARM_LAWS:
            raise ValueError(f"arm_law: expected one of {ARM_LAWS}, got {self.arm_law!r}")
        if not np.isfinite(self.noise) or self.noise < 0:
            raise ValueError(f"noise: expected a non-negative number, got {self.noise!r}")
        if self.arm_law == "fixed":
            if self.means is None or len(self.means) != self.n_arms:
                raise ValueError(f"means: the fixed arm law needs {self.n_arms} arm means, got {self.means!r}")
        elif self.arm_law in ("exp_uniform", "uniform") and not self.low < self.high:
            raise ValueError(f"low, high: expected low < high, got {self.low!r}, {self.high!r}")
        elif self.arm_law == "normal" and not self.high >= 0:
            raise ValueError(f"high: the normal law's standard deviation must be >= 0, got {self.high!r}")

    def sample_means(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`(count, K)` arm means of `count` independent tasks."""
        shape = (count, self.n_arms)
        if self.arm_law == "exp_uniform":
            return np.exp(rng.uniform(self.low, self.high, shape))
        if self.arm_law == "uniform":
            return rng.uniform(self.low, self.high, shape)
        if self.arm_law == "normal":
            return self.low + self.high * rng.standard_normal(shape)
        return np.broadcast_to(np.asarray(self.means, dtype=float), shape).copy()

    def task_set(self, seed: int, count: int) -> np.ndarray:
        """A fixed set of `count` tasks `(count, K)`, drawn from the problem seed `seed` alone."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"task_count: expected a positive integer, got {count!r}")
        return self.sample_means(np.random.default_rng(np.random.SeedSequence(int(seed))), int(count))

    def draw_tasks(self, rng: np.random.Generator, count: int, tasks: np.ndarray | None = None) -> np.ndarray:
        """`(count, K)` means: fresh tasks (tasks None) or rows of a fixed set drawn uniformly with replacement."""
        if tasks is None:
            return self.sample_means(rng, count)
        tasks = np.asarray(tasks, dtype=float)
        return tasks[rng.integers(len(tasks), size=count)]


VUORIO2022_BANDITS = BanditDistribution(n_arms=30, arm_law="exp_uniform", low=-100.0, high=1.0, noise=2.0)


def pull_arms(means: np.ndarray, actions: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Rewards μ_{r, a} + σ ε of pulls `actions (R, N)` in tasks `means (R, K)`, `(R, N)`."""
    rewards = np.take_along_axis(np.asarray(means, dtype=float), actions, axis=1)
    return rewards + noise * rng.standard_normal(actions.shape) if noise else rewards


def task_mean(function: Callable[[np.ndarray], np.ndarray], tasks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mean over tasks of a per-task quantity, and the standard error of that mean.

    Args:
      function: arm means `(K,)` -> array (e.g. a task's exact meta-gradient).
      tasks: `(M, K)` tasks.
    Returns:
      mean and standard error (elementwise, std / √M with ddof 1; zero for M = 1), same shape as one value.
    """
    values = np.stack([np.asarray(function(means), dtype=float) for means in np.asarray(tasks, dtype=float)])
    if len(values) == 1:
        return values[0], np.zeros_like(values[0])
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(len(values))


def bandit_learning_rate_meta_gradient(means: np.ndarray, eta: np.ndarray, *, steps: int, cutoff: int,
                                       objective: str = "lifetime", theta0: np.ndarray | None = None) -> np.ndarray:
    """`learning_rate_meta_gradient` of M bandit tasks at once, in closed form, `(M, 2)`.

    For a bandit V = π·μ, ∇V = g = π ⊙ (μ − V) and H v = g ⊙ v − g (π·v) − π (g·v); the exact
    inner loop θ_{k+1} = θ_k + α_k g(θ_k) and the reverse accumulation of `mdps.meta` are run
    for every task together (vectorized over M).

    Args:
      means: `(M, K)` arm means; eta: `(2,)`; steps, cutoff, objective: as `learning_rate_meta_gradient`.
      theta0: `(K,)` initial logits (zeros by default).
    """
    from mdps.meta import learning_rate_schedule, objective_weights, schedule_phases
    from mdps.policy import sigmoid

    means = np.atleast_2d(np.asarray(means, dtype=float))
    eta = np.asarray(eta, dtype=float)
    rates = learning_rate_schedule(eta, steps, cutoff)
    weights = objective_weights(steps, objective)
    theta = np.broadcast_to(np.zeros(means.shape[1]) if theta0 is None else np.asarray(theta0, float),
                            means.shape).copy()

    def policy_and_gradient(logits):
        policy = np.exp(logits - logits.max(axis=1, keepdims=True))
        policy /= policy.sum(axis=1, keepdims=True)
        return policy, policy * (means - (policy * means).sum(axis=1, keepdims=True))

    iterates = [theta]
    for rate in rates:
        iterates.append(iterates[-1] + rate * policy_and_gradient(iterates[-1])[1])
    vector = weights[-1] * policy_and_gradient(iterates[-1])[1]
    rate_gradients = np.zeros((len(means), steps))
    for k in range(steps - 1, -1, -1):
        policy, gradient = policy_and_gradient(iterates[k])
        rate_gradients[:, k] = (gradient * vector).sum(axis=1)
        hessian_vector = (gradient * vector - gradient * (policy * vector).sum(axis=1, keepdims=True)
                          - policy * (gradient * vector).sum(axis=1, keepdims=True))
        vector = vector + rates[k] * hessian_vector + weights[k] * gradient
    phases = schedule_phases(steps, cutoff)
    return sigmoid(eta) * np.stack([rate_gradients[:, phases == p].sum(axis=1) for p in (0, 1)], axis=1)
