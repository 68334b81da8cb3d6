"""GAE(λ) and its derivative with respect to the intrinsic reward, with the critic of r + η
differentiated (or detached), against central finite differences of the surrogate."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from estimators.advantages import advantage_reward_vector_product, gae_advantages, td_errors
from estimators.scores import returns_to_go
from mdps.occupancy import value_reward_vector_product
from tests.finite_differences import central_difference, relative_error

TOLERANCE = 1e-6


def setting(horizon, length, seed=0):
    mdp = mdps.random_mdp(3, 2, seed=seed, gamma=0.8, horizon=horizon, reward="uniform")
    rng = np.random.default_rng(seed)
    thetas = rng.normal(size=(2, 3, 2))
    rollouts = mdps.sample_trajectories(mdp, mdps.softmax_policy(thetas), 4, length, rng)
    coefficients = rng.normal(size=rollouts.states.shape)               # x_t, e.g. z_t·v
    eta = rng.normal(scale=0.3, size=(3, 2))
    noise = rng.normal(size=(2, 3))
    return mdp, thetas, rollouts, coefficients, eta, noise


def surrogate(mdp, thetas, rollouts, coefficients, eta, lambda_, *, critic, noise, norms=None, detach_at=None):
    """(1/N) Σ γᵗ x_t A_t(η) per repetition, `(R,)`; the noisy critic V + noise·ε·‖V‖/S (‖V‖ held fixed)."""
    inner = mdp.with_rewards(mdp.rewards + eta)
    rewards = inner.rewards[rollouts.states, rollouts.actions]
    length = rollouts.states.shape[-1]
    truncated = mdp.horizon is None or length < mdp.horizon
    if critic:
        values = inner.batch_time_values(thetas) if detach_at is None else \
            mdp.with_rewards(mdp.rewards + detach_at).batch_time_values(thetas)
        values = values + noise[:, None, :] * norms / mdp.n_states
        rows = np.arange(2)[:, None, None]
        time = np.arange(length) if values.shape[1] > 1 else np.zeros(length, int)
        baselines = values[rows, time, rollouts.states]
        final = length if values.shape[1] > 1 else 0
        bootstrap = values[np.arange(2)[:, None], final, rollouts.final_states] if truncated else np.zeros((2, 4))
    else:
        baselines, bootstrap = np.zeros(rewards.shape), np.zeros((2, 4))
    advantages = gae_advantages(rewards, baselines, bootstrap, mdp.gamma, lambda_)
    return (mdp.gamma ** np.arange(length) * coefficients * advantages).sum(axis=(-1, -2)) / 4


def test_lambda_one_is_the_bootstrapped_return_minus_the_baseline_and_zero_the_td_error():
    rng = np.random.default_rng(1)
    rewards, baselines, bootstrap = rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3, 5)), rng.normal(size=(2, 3))
    np.testing.assert_allclose(gae_advantages(rewards, baselines, bootstrap, 0.9, 1.0),
                               returns_to_go(rewards, bootstrap, 0.9) - baselines, atol=1e-12)
    np.testing.assert_allclose(gae_advantages(rewards, baselines, bootstrap, 0.9, 0.0),
                               td_errors(rewards, baselines, bootstrap, 0.9))
    with pytest.raises(ValueError, match="gae_lambda"):
        gae_advantages(rewards, baselines, bootstrap, 0.9, 1.5)


@pytest.mark.parametrize("horizon, length", [(None, 5), (4, 4), (4, 3)])
def test_value_reward_product_matches_finite_differences(horizon, length):
    mdp, thetas, *_ = setting(horizon, length)
    weights = np.random.default_rng(3).normal(size=(2, 1 if horizon is None else horizon + 1, 3))
    if horizon is not None:
        weights[:, -1] = 0.0

    def weighted_values(rewards):
        return (mdp.with_rewards(rewards).batch_time_values(thetas) * weights).sum(axis=(1, 2))

    numeric = central_difference(weighted_values, mdp.rewards)
    assert relative_error(value_reward_vector_product(mdp, thetas, weights), numeric) < TOLERANCE


@pytest.mark.parametrize("horizon, length", [(None, 5), (4, 4), (4, 3)])
@pytest.mark.parametrize("lambda_", [0.0, 0.9, 1.0])
@pytest.mark.parametrize("detach", [False, True])
def test_advantage_derivative_matches_finite_differences_of_the_surrogate(horizon, length, lambda_, detach):
    mdp, thetas, rollouts, coefficients, eta, noise = setting(horizon, length)
    truncated = horizon is None or length < horizon
    norms = np.linalg.norm(mdp.with_rewards(mdp.rewards + eta).batch_time_values(thetas), axis=-1, keepdims=True)
    numeric = central_difference(lambda e: surrogate(mdp, thetas, rollouts, coefficients, e, lambda_, critic=True,
                                                     noise=noise, norms=norms, detach_at=eta if detach else None),
                                 eta)
    exact = advantage_reward_vector_product(mdp, thetas, rollouts.states, rollouts.actions, rollouts.final_states,
                                            coefficients, lambda_=lambda_, truncated=truncated, critic=True,
                                            detach_critic=detach)
    assert relative_error(exact, numeric) < TOLERANCE


def test_without_a_critic_only_the_rewards_depend_on_eta():
    mdp, thetas, rollouts, coefficients, eta, noise = setting(None, 5)
    numeric = central_difference(lambda e: surrogate(mdp, thetas, rollouts, coefficients, e, 0.9, critic=False,
                                                     noise=noise), eta)
    exact = advantage_reward_vector_product(mdp, thetas, rollouts.states, rollouts.actions, rollouts.final_states,
                                            coefficients, lambda_=0.9, truncated=True, critic=False)
    assert relative_error(exact, numeric) < TOLERANCE
