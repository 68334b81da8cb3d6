"""GAE(λ) advantages and their derivative with respect to an intrinsic reward η (LIRPG).

Pure transforms of a batch's arrays, for every surrogate family whose weights are γᵗ A_t
(maml, lvc, first_order, loaded; DiCE uses raw rewards). With a critic V̂ (b_t = V̂_t(s_t),
bootstrap V̂_T(s_T) when the rollout is truncated, else 0):

  δ_t = r_t + γ V̂_{t+1}(s_{t+1}) − V̂_t(s_t),      A_t = Σ_{l≥0} (γλ)^l δ_{t+l}   (Schulman et al. 2016).

λ = 1 gives A_t = R_t − b_t (Monte Carlo return minus baseline, mgbench's default).

LIRPG (Liu et al.'s `decompose_mg.py`, `evaluation_utils.get_gae`): the rewards are r + η, and
the critic is the value of r + η, differentiated with respect to η unless `detach_critic`
(their `--detach_value_gradient`, off by default). A family's mixed term ∂_η(ĝ·v) is
Σ_t γᵗ x_t ∂A_t/∂η for per-step coefficients x_t (x_t = z_t·v for maml, lvc, first_order), so

  ∂_η(ĝ·v) = (1/N) Σ_j c_j ∂δ_j/∂η,   c_j = γʲ Σ_{t≤j} λ^{j−t} x_t,
  ∂δ_j/∂η  = e_{(s_j,a_j)} + γ ∂V̂_{j+1}(s_{j+1})/∂η − ∂V̂_j(s_j)/∂η,

and the critic part Σ_j c_j (γ ∂V̂_{j+1}(s_{j+1}) − ∂V̂_j(s_j)) is an occupancy product
(`mdps.occupancy.value_reward_vector_product`: one transposed linear solve). The noisy critic
V̂ = V + noise·ε·‖V‖/S has the derivative of V (their code detaches ‖V‖).
"""
from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from mdps import TabularMDP
from mdps.occupancy import value_reward_vector_product


def _trace(values: np.ndarray, decay: float) -> np.ndarray:
    """y_t = x_t + decay · y_{t−1} along the last axis (a first-order linear filter)."""
    return lfilter([1.0], [1.0, -decay], values, axis=-1)


def td_errors(rewards: np.ndarray, baselines: np.ndarray, bootstrap: np.ndarray, gamma: float) -> np.ndarray:
    """δ_t = r_t + γ V̂_{t+1}(s_{t+1}) − V̂_t(s_t), with V̂_T(s_T) = `bootstrap`.

    Args:
      rewards: `(..., T)` r_t; baselines: `(..., T)` V̂_t(s_t); bootstrap: `(...)` V̂_T(s_T) (0 at an episode's end).
    Returns:
      `(..., T)`.
    """
    following = np.concatenate([baselines[..., 1:], np.asarray(bootstrap, float)[..., None]], axis=-1)
    return rewards + gamma * following - baselines


def gae_advantages(rewards: np.ndarray, baselines: np.ndarray, bootstrap: np.ndarray, gamma: float,
                   lambda_: float) -> np.ndarray:
    """A_t = Σ_{l≥0} (γλ)^l δ_{t+l}, `(..., T)`; λ = 1: R_t − b_t with R_t bootstrapped by V̂_T(s_T)."""
    if not 0.0 <= float(lambda_) <= 1.0:
        raise ValueError(f"gae_lambda: expected a number in [0, 1], got {lambda_!r}")
    return _trace(td_errors(rewards, baselines, bootstrap, gamma)[..., ::-1], gamma * lambda_)[..., ::-1]


def td_coefficients(step_coefficients: np.ndarray, gamma: float, lambda_: float) -> np.ndarray:
    """c_j = γʲ Σ_{t≤j} λ^{j−t} x_t, so that Σ_t γᵗ x_t ∂A_t = Σ_j c_j ∂δ_j, `(..., T)`."""
    length = step_coefficients.shape[-1]
    return gamma ** np.arange(length) * _trace(step_coefficients, lambda_)


def critic_state_weights(coefficients: np.ndarray, states: np.ndarray, final_states: np.ndarray, gamma: float,
                         n_states: int, *, horizon: int | None, truncated: bool) -> np.ndarray:
    """w with Σ_{t,s} w_{t,s} ∂V̂_t(s) = (1/N) Σ_{n,j} c_j (γ ∂V̂_{j+1}(s_{j+1}) − ∂V̂_j(s_j)).

    Args:
      coefficients: `(R, N, T)` c_j; states: `(R, N, T)`; final_states: `(R, N)` s_T.
      horizon: None (stationary V̂: L = 1 row) or H (V̂_t indexed by t: L = H + 1 rows, T <= H).
      truncated: whether V̂_T(s_T) bootstraps the last step (else it is the zero terminal value).
    Returns:
      `(R, L, S)`.
    """
    n_rows, n_trajectories, length = states.shape
    rows = np.arange(n_rows)[:, None, None]
    time_dependent = horizon is not None
    times = np.broadcast_to(np.arange(length), states.shape) if time_dependent else np.zeros(states.shape, int)
    n_times = horizon + 1 if time_dependent else 1
    weights = np.zeros((n_rows, n_times, n_states))
    np.add.at(weights, (np.broadcast_to(rows, states.shape), times, states), -coefficients)
    following = np.concatenate([states[..., 1:], final_states[..., None]], axis=-1)
    next_times = times + 1 if time_dependent else times
    scale = gamma * coefficients
    if not truncated:          # V̂ after the last step is the terminal zero: drop that term
        scale = scale.copy()
        scale[..., -1] = 0.0
    np.add.at(weights, (np.broadcast_to(rows, states.shape), next_times, following), scale)
    return weights / n_trajectories


def critic_reward_vector_product(mdp: TabularMDP, policy: np.ndarray, state_weights: np.ndarray) -> np.ndarray:
    """Σ_{t,s} w_{t,s} ∂V̂_t(s)/∂η `(R, S, A)` for a critic of r + η at the sampling policies π_r `(R, S, A)`.

    The O(R·S²) part of the differentiated critic (one transposed solve per repetition,
    `mdps.occupancy.value_reward_vector_product`), from the `(R, L, S)` weights of
    `critic_state_weights`; the numpy path and the compiled kernel both finish with it.
    """
    with np.errstate(divide="ignore"):
        logits = np.log(policy)
    return value_reward_vector_product(mdp, logits, state_weights)


def advantage_reward_vector_product(mdp: TabularMDP, thetas: np.ndarray, states: np.ndarray, actions: np.ndarray,
                                    final_states: np.ndarray, step_coefficients: np.ndarray, *, lambda_: float,
                                    truncated: bool, critic: bool, detach_critic: bool = False) -> np.ndarray:
    """(1/N) Σ_{n,t} γᵗ x_t ∂A_t/∂η for rewards r + η and a critic of r + η (module docstring).

    Args:
      mdp: the dynamics (γ, horizon), any reward table (only P, γ, H are used).
      thetas: `(R, S, A)` the policies the batch was drawn with (and the critic evaluates).
      states, actions: `(R, N, T)`; final_states: `(R, N)`.
      step_coefficients: `(R, N, T)` x_t.
      lambda_: GAE λ.
      truncated: whether the rollouts are bootstrapped at s_T.
      critic: whether the advantages use a critic (False: critic `none`, V̂ ≡ 0).
      detach_critic: treat V̂ as a constant in η (their `--detach_value_gradient`).
    Returns:
      `(R, S, A)`.
    """
    n_rows, n_trajectories, _ = states.shape
    coefficients = td_coefficients(step_coefficients, mdp.gamma, lambda_)
    indices = ((np.arange(n_rows)[:, None, None] * mdp.n_states + states) * mdp.n_actions + actions).ravel()
    direct = np.bincount(indices, coefficients.ravel(), n_rows * mdp.n_states * mdp.n_actions)
    direct = direct.reshape(n_rows, mdp.n_states, mdp.n_actions) / n_trajectories
    if not critic or detach_critic:
        return direct
    weights = critic_state_weights(coefficients, states, final_states, mdp.gamma, mdp.n_states,
                                   horizon=mdp.horizon, truncated=truncated)
    return direct + value_reward_vector_product(mdp, thetas, weights)
