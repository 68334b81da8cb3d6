"""Score kernels: the sums over sampled steps that every sampled estimator is made of.

Both the ideal-target split (`estimators.tabular.split` with the families of
`estimators.tabular.surrogates`) and the practical-target paths (`estimators.tabular.inner_paths`) reduce
to a few sums over the steps (r, m, t) of a batch — repetition (path) r, trajectory m,
time t — with, on row s_t only,

  z_t   = ∇ log π(a_t|s_t)      = e_{a_t} - π(·|s_t),
  h_t v = ∇² log π(a_t|s_t) v   = -π_s ⊙ (v_s - π_s·v_s).

Steps are addressed by flat indices into `(R, S)` (`r·S + s_t`) and `(R, S, A)`
(`(r·S + s_t)·A + a_t`) arrays (`flat_indices`); each sum is one `np.bincount` in step
order, then an O(R·S·A) finish (`scores_from_totals`). The compiled kernel
(`estimators.tabular.fused`) accumulates the same totals in the same order and calls the same
finishes, which is why both paths give the same numbers.
"""
from __future__ import annotations

import numpy as np


# ---------------------------------------------------------------------------- indices
def flat_indices(states: np.ndarray, actions: np.ndarray, n_paths: int, n_states: int,
                 n_actions: int) -> tuple[np.ndarray, np.ndarray]:
    """(r·S + s_t, (r·S + s_t)·A + a_t), both `(R, M, T)`, for states/actions `(R or 1, M, T)`."""
    shape = (n_paths, *np.shape(states)[1:])
    flat_states = np.broadcast_to(np.arange(n_paths)[:, None, None] * n_states + states, shape)
    return flat_states, flat_states * n_actions + actions


# ---------------------------------------------------------------------------- sums over steps
def scores_from_totals(totals: np.ndarray, policy: np.ndarray) -> np.ndarray:
    """Σ c_t z_t from the indicator totals T[s, a] = Σ_{t: (s_t, a_t) = (s, a)} c_t: T - (Σ_a T)·π.

    Args:
      totals: `(R, S, A)` T.
      policy: `(R, S, A)` π.
    Returns:
      `(R, S, A)`.
    """
    return totals - totals.sum(axis=-1, keepdims=True) * policy


def indicator_sums(flat_state_actions: np.ndarray, coefficients: np.ndarray,
                   shape: tuple[int, int, int]) -> np.ndarray:
    """Σ_{r,m,t} c_t e_{(s_t, a_t)} per repetition, `shape` = (R, S, A) (a reward-table gradient).

    Args:
      flat_state_actions: `(R, M, T)` flat indices (`flat_indices`).
      coefficients: c, broadcastable to `(R, M, T)`.
    """
    weights = np.broadcast_to(coefficients, flat_state_actions.shape)
    return np.bincount(flat_state_actions.ravel(), weights=weights.ravel(),
                       minlength=int(np.prod(shape))).reshape(shape)


def score_sums(policy: np.ndarray, flat_state_actions: np.ndarray, coefficients: np.ndarray) -> np.ndarray:
    """Σ_{m,t} c_t z_t per repetition: one indicator scatter, then `scores_from_totals`.

    Args:
      policy: `(R, S, A)` π (the point where the scores are taken).
      flat_state_actions: `(R, M, T)` flat indices.
      coefficients: c, broadcastable to `(R, M, T)`.
    Returns:
      `(R, S, A)`.
    """
    return scores_from_totals(indicator_sums(flat_state_actions, coefficients, policy.shape), policy)


def state_sums(flat_states: np.ndarray, coefficients: np.ndarray, n_paths: int, n_states: int) -> np.ndarray:
    """Ω_s = Σ_{m,t: s_t = s} c_t per repetition, `(R, S)` (the weight of ∇² log π on row s)."""
    weights = np.broadcast_to(coefficients, flat_states.shape)
    return np.bincount(flat_states.ravel(), weights=weights.ravel(),
                       minlength=n_paths * n_states).reshape(n_paths, n_states)


def log_policy_curvature(policy: np.ndarray, state_weights: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Σ_t c_t h_t v = -Ω_s π_s ⊙ (v_s - π_s·v_s) from the state sums Ω of c (`state_sums`).

    Args:
      policy: `(R, S, A)` π.
      state_weights: `(R, S)` Ω.
      vectors: `(R, S, A)` v.
    Returns:
      `(R, S, A)`.
    """
    centred = vectors - (policy * vectors).sum(axis=-1, keepdims=True)
    return -state_weights[..., None] * policy * centred


def policy_dots(policy: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """π_r(·|s)·v_r[s], `(R, S)` (the π part of every z_t·v on row s)."""
    return (policy * vectors).sum(axis=-1)


def score_dots(policy: np.ndarray, flat_states: np.ndarray, flat_state_actions: np.ndarray,
               vectors: np.ndarray) -> np.ndarray:
    """z_t·v_r = v_r[s_t, a_t] - π_r(·|s_t)·v_r[s_t] for every step, `(R, M, T)`, v `(R, S, A)`."""
    return vectors.reshape(-1)[flat_state_actions] - policy_dots(policy, vectors).reshape(-1)[flat_states]


# ---------------------------------------------------------------------------- along time
def forward_trace(values: np.ndarray, decay: float) -> np.ndarray:
    """y_t = x_t + λ y_{t-1} = Σ_{k≤t} λ^{t-k} x_k along the last axis (T).

    λ = 1 gives G_t·v = Σ_{k≤t} z_k·v (a cumulative sum), λ = 0 the identity; otherwise one
    vector operation per time step (the recursion of `scipy.signal.lfilter([1], [1, -λ])`,
    whose import alone costs seconds per process).
    """
    if decay == 1.0:
        return np.cumsum(values, axis=-1)
    if decay == 0.0:
        return values
    traced = np.array(values, dtype=float)
    for t in range(1, traced.shape[-1]):
        traced[..., t] += decay * traced[..., t - 1]
    return traced


def reverse_trace(values: np.ndarray, decay: float) -> np.ndarray:
    """y_k = x_k + λ y_{k+1} = Σ_{t≥k} λ^{t-k} x_t along the last axis (T)."""
    if decay == 1.0:
        return np.cumsum(values[..., ::-1], axis=-1)[..., ::-1]
    if decay == 0.0:
        return values
    return forward_trace(values[..., ::-1], decay)[..., ::-1]


def returns_to_go(rewards: np.ndarray, bootstrap: np.ndarray, gamma: float) -> np.ndarray:
    """R_t = r_t + γ R_{t+1} = Σ_{j≥t} γ^{j-t} r_j + γ^{T-t} V̂_T, with R_T = bootstrap.

    Args:
      rewards: `(..., T)` r_t.
      bootstrap: `(...)` the value V̂_T(s_T) (zeros for none).
      gamma: γ.
    Returns:
      `(..., T)` returns-to-go, discounted from time t.
    """
    returns = np.empty_like(rewards, dtype=float)
    running = np.asarray(bootstrap, dtype=float)
    for t in range(rewards.shape[-1] - 1, -1, -1):
        running = rewards[..., t] + gamma * running
        returns[..., t] = running
    return returns


def start_discounted_returns(discounted_rewards: np.ndarray) -> np.ndarray:
    """γᵗ R_t = Σ_{j≥t} γʲ r_j (returns-to-go discounted to the episode start), from γᵗ r_t `(..., T)`."""
    return reverse_trace(discounted_rewards, 1.0)
