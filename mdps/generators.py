"""Seeded random tabular MDPs, including the `liu2022` preset of Liu et al. (2022).

All randomness comes from `numpy.random.default_rng(SeedSequence(seed))`; the global
numpy state is never touched. The problem seed here is distinct from any sampling seed.
"""
from __future__ import annotations

from typing import Literal

import numpy as np

from mdps.tabular import TabularMDP

RewardLaw = Literal["uniform", "normal", "bernoulli"]
InitialLaw = Literal["first", "uniform", "dirichlet"]


def random_mdp(n_states: int, n_actions: int, *, seed: int, gamma: float = 0.9,
               horizon: int | None = None, concentration: float = 1.0,
               reward: RewardLaw = "uniform", initial: InitialLaw = "first") -> TabularMDP:
    """A random MDP: P[s,a,:] ~ Dirichlet(concentration · 1_S), r from `reward`, ρ from `initial`.

    Args:
      n_states, n_actions: S and A.
      seed: problem seed (non-negative int), fed to `numpy.random.SeedSequence`.
      gamma: discount in [0, 1).
      horizon: None (infinite) or the finite horizon H.
      concentration: Dirichlet concentration; small values give near-deterministic rows.
      reward: `uniform` r ~ U[0, 1), `normal` r ~ N(0, 1), `bernoulli` r ∈ {0, 1} w.p. 1/2.
      initial: `first` (start state 0), `uniform`, or `dirichlet` (ρ ~ Dirichlet(1_S)).
    """
    for field, count in (("n_states", n_states), ("n_actions", n_actions)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ValueError(f"{field}: expected a positive integer, got {count!r}")
    if not np.isfinite(concentration) or concentration <= 0:
        raise ValueError(f"concentration: expected a positive number, got {concentration!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(np.random.SeedSequence(int(seed)))
    transitions = _dirichlet_rows(rng, concentration, (n_states, n_actions), n_states)
    rewards = _draw_rewards(rng, reward, (n_states, n_actions))
    start = _draw_initial(rng, initial, n_states)
    return TabularMDP(transitions, rewards, start, gamma, horizon)


def liu2022_mdp(seed: int) -> TabularMDP:
    """The tabular setting of Liu et al. (2022): S=20, A=5, γ=0.8, Dirichlet(0.001),
    U[0, 1) deterministic rewards, start state 0, infinite-horizon exact value.

    Rollouts in their study are truncated at T = 20 and bootstrapped with a critic;
    that is a property of the estimators (see `LIU2022_ROLLOUT_LENGTH`), not of the MDP.
    """
    return random_mdp(20, 5, seed=seed, gamma=0.8, horizon=None, concentration=0.001,
                      reward="uniform", initial="first")


LIU2022_ROLLOUT_LENGTH = 20


def _dirichlet_rows(rng: np.random.Generator, concentration: float, rows: tuple[int, ...],
                    size: int) -> np.ndarray:
    """Dirichlet rows via normalised Gamma draws in log space (stable for tiny concentration)."""
    if concentration >= 0.1:
        draws = rng.gamma(concentration, size=(*rows, size))
        return draws / draws.sum(axis=-1, keepdims=True)
    # log Gamma(c) = log Gamma(c + 1) + log(U) / c  (Marsaglia-Tsang boost), no underflow
    log_draws = (np.log(rng.gamma(concentration + 1.0, size=(*rows, size)))
                 + np.log(rng.random((*rows, size))) / concentration)
    log_draws -= log_draws.max(axis=-1, keepdims=True)
    weights = np.exp(log_draws)
    return weights / weights.sum(axis=-1, keepdims=True)


def _draw_rewards(rng: np.random.Generator, law: str, shape: tuple[int, int]) -> np.ndarray:
    if law == "uniform":
        return rng.random(shape)
    if law == "normal":
        return rng.standard_normal(shape)
    if law == "bernoulli":
        return (rng.random(shape) < 0.5).astype(float)
    raise ValueError(f"reward: expected one of 'uniform', 'normal', 'bernoulli', got {law!r}")


def _draw_initial(rng: np.random.Generator, law: str, n_states: int) -> np.ndarray:
    if law == "first":
        start = np.zeros(n_states)
        start[0] = 1.0
        return start
    if law == "uniform":
        return np.full(n_states, 1.0 / n_states)
    if law == "dirichlet":
        return rng.dirichlet(np.ones(n_states))
    raise ValueError(f"initial: expected one of 'first', 'uniform', 'dirichlet', got {law!r}")
