"""What a tabular estimator is given: K inner policy-gradient steps on a tabular MDP, differentiated
with respect to the meta-parameter (`init` or `intrinsic`); estimates have shape `(S, A)`."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from estimators.problem import Kernel, check_kernel
from estimators.problem import positive_int
from mdps import TabularMDP, inner_loop, intrinsic_meta_gradient, meta_gradient

MetaParameter = Literal["init", "intrinsic"]
Critic = Literal["none", "exact", "noisy"]
CRITICS: tuple[Critic, ...] = ("none", "exact", "noisy")


@dataclass(frozen=True, eq=False)
class MetaProblem:
    """K inner policy-gradient steps of size α on a tabular MDP, differentiated w.r.t. φ.

    `init` (MAML): φ = θ_0, inner and outer objective V_r.
    `intrinsic` (LIRPG): φ = η, θ_0 fixed, inner objective V_{r+η}, outer objective V_r.

    Attributes:
      mdp: the environment, with the extrinsic reward r (the outer objective).
      theta0: `(S, A)` initial policy logits θ_0.
      steps: K >= 1 inner steps.
      lr: inner learning rate α.
      meta_parameter: `init` or `intrinsic`.
      intrinsic: `(S, A)` η for `intrinsic` (zeros when None).
      rollout_length: T; rollouts shorter than a finite horizon, or of an infinite-horizon
        MDP, are truncated and bootstrapped with the critic (zero for critic `none`).
      critic: `none` (no baseline, no bootstrap), `exact` (V of the current policy) or
        `noisy` (V + noise·ε·‖V‖₂/S, ε ~ N(0, I_S) once per batch; Liu et al.).
      critic_noise: the noise scale of the `noisy` critic.
      kernel: how sampled parts are computed, not what: `compiled` (one numba kernel per
        batch, `estimators.tabular.fused`; the numpy path when numba is not installed) or `numpy`
        (the vectorized reference). Both give the same numbers on the same random stream.
    """

    mdp: TabularMDP
    theta0: np.ndarray
    steps: int
    lr: float
    meta_parameter: MetaParameter = "init"
    intrinsic: np.ndarray | None = None
    rollout_length: int = 20
    critic: Critic = "noisy"
    critic_noise: float = 1.0
    kernel: Kernel = "compiled"

    def __post_init__(self):
        shape = (self.mdp.n_states, self.mdp.n_actions)
        if np.shape(self.theta0) != shape:
            raise ValueError(f"theta0: expected shape {shape}, got {np.shape(self.theta0)}")
        if self.meta_parameter not in ("init", "intrinsic"):
            raise ValueError(f"meta_parameter: expected 'init' or 'intrinsic', got {self.meta_parameter!r}")
        if self.intrinsic is not None and np.shape(self.intrinsic) != shape:
            raise ValueError(f"intrinsic: expected shape {shape}, got {np.shape(self.intrinsic)}")
        if self.critic not in CRITICS:
            raise ValueError(f"critic: expected one of {', '.join(CRITICS)}, got {self.critic!r}")
        check_kernel(self.kernel)
        positive_int("steps", self.steps)
        positive_int("rollout_length", self.rollout_length)

    @property
    def shape(self) -> tuple[int, int]:
        """(S, A), the shape of θ and of φ."""
        return self.mdp.n_states, self.mdp.n_actions

    @property
    def eta(self) -> np.ndarray:
        """η `(S, A)`: the intrinsic reward (zeros for `init`)."""
        return np.zeros(self.shape) if self.intrinsic is None else np.asarray(self.intrinsic, float)

    @property
    def inner_mdp(self) -> TabularMDP:
        """The MDP whose value the inner loop ascends (reward r + η for `intrinsic`)."""
        if self.meta_parameter == "intrinsic":
            return self.mdp.with_rewards(self.mdp.rewards + self.eta)
        return self.mdp

    @cached_property
    def exact_iterates(self) -> tuple[np.ndarray, ...]:
        """θ_0..θ_K `(S, A)` each, K exact steps θ_{k+1} = θ_k + α ∇V_{r+η}(θ_k) (`mdps.inner_loop`
        on `inner_mdp`); computed once per problem (every block of a cell reuses them), read-only."""
        return _read_only(inner_loop(self.inner_mdp, self.theta0, steps=self.steps, lr=self.lr))

    @cached_property
    def exact_outer_gradient(self) -> np.ndarray:
        """∇V_r(θ_K) `(S, A)` at the exact iterate θ_K; computed once per problem, read-only."""
        return _read_only([self.mdp.gradient(self.exact_iterates[-1])])[0]

    def exact_meta_gradient(self) -> np.ndarray:
        """The ideal target `(S, A)`: ∇_φ V_r(θ_K) with exact inner gradient steps."""
        if self.meta_parameter == "intrinsic":
            return intrinsic_meta_gradient(self.mdp, self.theta0, self.eta, steps=self.steps, lr=self.lr)
        return meta_gradient(self.mdp, self.theta0, steps=self.steps, lr=self.lr)


def _read_only(arrays: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    frozen = tuple(np.array(array, dtype=float) for array in arrays)
    for array in frozen:
        array.setflags(write=False)
    return frozen
