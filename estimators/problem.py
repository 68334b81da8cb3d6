"""What an estimator is given: a tabular meta-learning problem, the Gaussian toy, or a
LOLA problem on the Iterated Prisoner's Dilemma."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

import numpy as np

from mdps import (GaussianToy, IteratedPrisonersDilemma, TabularMDP, inner_loop, intrinsic_meta_gradient,
                  lola_meta_gradient, meta_gradient)

MetaParameter = Literal["init", "intrinsic"]
Critic = Literal["none", "exact", "noisy"]
Kernel = Literal["compiled", "numpy"]
CRITICS: tuple[Critic, ...] = ("none", "exact", "noisy")


def positive_int(field: str, value) -> int:
    """`value` as an int when it is a positive integer (not a bool); else a one-line `ValueError` naming `field`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{field}: expected a positive integer, got {value!r}")
    return int(value)


GameCritic = Literal["none", "exact", "learned"]
GAME_CRITICS: tuple[GameCritic, ...] = ("none", "exact", "learned")


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
        if self.kernel not in ("compiled", "numpy"):
            raise ValueError(f"kernel: expected 'compiled' or 'numpy', got {self.kernel!r}")
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


@dataclass(frozen=True)
class ToyProblem:
    """The Gaussian N-sample toy at a point θ: estimate ∇_θ E[f(X̄_N)] = -2(θ - c)."""

    toy: GaussianToy = field(default_factory=GaussianToy)
    theta: float = 0.0
    n_samples: int = 16

    def __post_init__(self):
        if isinstance(self.n_samples, bool) or not isinstance(self.n_samples, (int, np.integer)) or self.n_samples < 1:
            raise ValueError(f"N: expected a positive integer, got {self.n_samples!r}")

    def exact_gradient(self) -> np.ndarray:
        """`(1,)` the exact gradient (the same for both targets on the toy)."""
        return np.array([self.toy.gradient(self.theta)])


@dataclass(frozen=True, eq=False)
class LolaProblem:
    """LOLA on the IPD at a pair (θ₁, θ₂): estimate both players' meta-gradients `(2, 5)`.

    g₁ = ∇_{θ₁} V₁(θ₁, θ₂^K(θ₁)), θ₂^{k+1} = θ₂^k + α ∇_{θ₂}V₂(θ₁, θ₂^k), and g₂
    symmetrically (`mdps.lola_meta_gradient`). Sampled parts use rollouts of
    `rollout_length` steps without bootstrap (as Liu et al.'s code): they estimate the
    derivatives of the T-step game, so they are unbiased for the exact target only when
    the game's horizon equals T.

    Attributes:
      game: the `IteratedPrisonersDilemma` (γ, horizon) of the exact target.
      theta1, theta2: `(5,)` logits (σ = P(cooperate)).
      steps: K >= 1 look-ahead steps of the opponent.
      lr: α, the look-ahead learning rate (lr_in = 0.3 in Liu et al.).
      rollout_length: T (capped at a finite horizon).
      critic: the DiCE baseline b_t: `none`; `exact`, the value of the T-step game with
        T − t steps to go at the sampling pair; `learned`, the fixed point of Liu et al.'s
        value regression (their loss is (r_t − v[s_t])², so v[s] = E[r_t | s_t = s], the
        expected immediate reward), or `critic_values` when given.
      critic_values: optional `(2, 5)` per-player state values [player, own state] used as
        the `learned` baseline (e.g. values trained along LOLA training).
      kernel: `compiled` (games and DiCE sums in `estimators.ipd.kernels`, numba) or `numpy`
        (the reference); the same draws and numbers (bit-identical on-policy, a few ulps off-policy).
    """

    game: IteratedPrisonersDilemma
    theta1: np.ndarray
    theta2: np.ndarray
    steps: int = 1
    lr: float = 0.3
    rollout_length: int = 100
    critic: GameCritic = "learned"
    critic_values: np.ndarray | None = None
    kernel: Kernel = "compiled"

    def __post_init__(self):
        for name in ("theta1", "theta2"):
            if np.shape(getattr(self, name)) != (5,):
                raise ValueError(f"{name}: expected shape (5,), got {np.shape(getattr(self, name))}")
        if self.critic not in GAME_CRITICS:
            raise ValueError(f"critic: expected one of {GAME_CRITICS}, got {self.critic!r}")
        if self.critic_values is not None and np.shape(self.critic_values) != (2, 5):
            raise ValueError(f"critic_values: expected shape (2, 5), got {np.shape(self.critic_values)}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, (int, np.integer)) or self.steps < 1:
            raise ValueError(f"steps: expected a positive integer, got {self.steps!r}")
        if (isinstance(self.rollout_length, bool) or not isinstance(self.rollout_length, (int, np.integer))
                or self.rollout_length < 1):
            raise ValueError(f"rollout_length: expected a positive integer, got {self.rollout_length!r}")
        if not np.isfinite(self.lr):
            raise ValueError(f"lr: expected a finite number, got {self.lr!r}")
        if self.kernel not in ("compiled", "numpy"):
            raise ValueError(f"kernel: expected 'compiled' or 'numpy', got {self.kernel!r}")

    @property
    def shape(self) -> tuple[int, int]:
        """(2, 5): both players' meta-gradients."""
        return 2, 5

    @property
    def length(self) -> int:
        """T, capped at a finite horizon."""
        horizon = self.game.horizon
        return int(self.rollout_length) if horizon is None else min(int(self.rollout_length), horizon)

    def exact_meta_gradient(self) -> np.ndarray:
        """`(2, 5)` (g₁, g₂), exact."""
        return np.stack(lola_meta_gradient(self.game, self.theta1, self.theta2, lr=self.lr, steps=self.steps))
