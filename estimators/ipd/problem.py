"""What an IPD estimator is given: LOLA on the Iterated Prisoner's Dilemma at a pair of memory-one
policies; estimates have shape `(2, 5)` (both players' meta-gradients)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from estimators.problem import Kernel, check_kernel
from estimators.problem import positive_int
from mdps import IteratedPrisonersDilemma, lola_meta_gradient

GameCritic = Literal["none", "exact", "learned"]
GAME_CRITICS: tuple[GameCritic, ...] = ("none", "exact", "learned")


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
        positive_int("steps", self.steps)
        positive_int("rollout_length", self.rollout_length)
        if not np.isfinite(self.lr):
            raise ValueError(f"lr: expected a finite number, got {self.lr!r}")
        check_kernel(self.kernel)

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
