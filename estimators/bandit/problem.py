"""What a bandit estimator is given: a learned learning-rate schedule on bandit tasks over a lifetime
(Vuorio et al. 2022); estimates have shape `(2,)`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from estimators.problem import Kernel, check_kernel, positive_int
from mdps import (VUORIO2022_BANDITS, BanditDistribution, bandit_learning_rate_meta_gradient, bandit_mdp,
                  learning_rate_meta_gradient)


@dataclass(frozen=True, eq=False)
class BanditLifetimeProblem:
    """A learned learning-rate schedule η `(2,)` on bandit tasks over a lifetime of K inner steps.

    Attributes:
      tasks: the task distribution (arm law, K arms, reward noise σ).
      eta: `(2,)` the meta-parameter at which the meta-gradient is estimated.
      lifetime: K inner steps.
      cutoff: steps in phase 0 (default K // 10, their `index_cutoff_ratio = 10`).
      batch: N pulls per inner step.
      objective: `lifetime` (1/K) Σ_{i<K} V(θ_i) (theirs) or `final` V(θ_K) (exact targets only).
      task_set: None (a fresh task per repetition) or `(M, K)` a fixed set, drawn from uniformly.
      kernel: how sampled lifetimes are computed, not what: `compiled` (the numba kernel of
        `estimators.bandit.kernels`, from numpy's random numbers drawn in the numpy path's order)
        or `numpy` (the vectorized reference); the same numbers to rounding (`estimators.problem`).
    """

    tasks: BanditDistribution = VUORIO2022_BANDITS
    eta: np.ndarray = field(default_factory=lambda: np.array([1.5, 1.5]))
    lifetime: int = 80
    cutoff: int | None = None
    batch: int = 10
    objective: str = "lifetime"
    task_set: np.ndarray | None = None
    kernel: Kernel = "compiled"

    def __post_init__(self):
        check_kernel(self.kernel)
        for name in ("lifetime", "batch"):
            positive_int(name, getattr(self, name))
        if self.cutoff is not None and (isinstance(self.cutoff, bool) or not isinstance(self.cutoff, (int, np.integer))
                                        or not 0 <= self.cutoff <= self.lifetime):
            raise ValueError(f"cutoff: expected an integer in [0, lifetime], got {self.cutoff!r}")
        if np.shape(self.eta) != (2,) or not np.all(np.isfinite(self.eta)):
            raise ValueError(f"eta: expected 2 finite numbers, got {self.eta!r}")
        if self.objective not in ("lifetime", "final"):
            raise ValueError(f"objective: expected 'lifetime' or 'final', got {self.objective!r}")
        if self.task_set is not None and (np.ndim(self.task_set) != 2 or np.shape(self.task_set)[1] != self.tasks.n_arms):
            raise ValueError(f"task_set: expected shape (M, {self.tasks.n_arms}), got {np.shape(self.task_set)}")

    @property
    def shape(self) -> tuple[int]:
        """(2,): the shape of η and of every estimate."""
        return (2,)

    @property
    def n_arms(self) -> int:
        return self.tasks.n_arms

    @property
    def phase_cutoff(self) -> int:
        """The cutoff, K // 10 by default."""
        return self.lifetime // 10 if self.cutoff is None else int(self.cutoff)

    def draw_tasks(self, rng: np.random.Generator, count: int) -> np.ndarray:
        """`(count, K_arms)` arm means: fresh draws, or rows of `task_set`."""
        return self.tasks.draw_tasks(rng, count, self.task_set)

    def exact_task_gradient(self, means: np.ndarray) -> np.ndarray:
        """One task's ideal meta-gradient (exact inner steps θ_{i+1} = θ_i + α_i ∇V(θ_i)), `(2,)`."""
        return learning_rate_meta_gradient(bandit_mdp(means), np.zeros((1, len(means))), np.asarray(self.eta, float),
                                           steps=self.lifetime, cutoff=self.phase_cutoff, objective=self.objective)

    def ideal_target(self, *, seed: int = 0, task_count: int = 1000) -> tuple[np.ndarray, np.ndarray]:
        """The ideal target under the task distribution: the mean over tasks of each task's exact
        meta-gradient, and its standard error (over the fixed task set, or `task_count` fresh
        tasks drawn from `seed`)."""
        tasks = self.task_set if self.task_set is not None else self.tasks.task_set(seed, task_count)
        gradients = bandit_learning_rate_meta_gradient(tasks, np.asarray(self.eta, float), steps=self.lifetime,
                                                       cutoff=self.phase_cutoff, objective=self.objective)
        if len(gradients) == 1:
            return gradients[0], np.zeros(2)
        return gradients.mean(axis=0), gradients.std(axis=0, ddof=1) / np.sqrt(len(gradients))
