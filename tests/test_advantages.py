"""GAE(λ) and its derivative with respect to the intrinsic reward, with the critic of r + η
differentiated (or detached), against central finite differences of the surrogate."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from estimators.tabular.advantages import advantage_reward_vector_product, gae_advantages, td_errors
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


# ----------------------------------------------------------------------------- wired into the families
def hessian_batch(horizon=None, length=4, critic="noisy", seed=2):
    from estimators import MetaProblem
    from estimators.tabular.surrogates import draw_batch

    mdp = mdps.random_mdp(3, 2, seed=seed, gamma=0.8, horizon=horizon, reward="uniform")
    eta = np.random.default_rng(seed).normal(scale=0.3, size=(3, 2))
    problem = MetaProblem(mdp, np.zeros((3, 2)), 1, 1.0, meta_parameter="intrinsic", intrinsic=eta,
                          rollout_length=length, critic=critic)
    thetas = np.random.default_rng(seed + 1).normal(size=(2, 3, 2))
    batch = draw_batch(problem, thetas, 5, np.random.default_rng(seed + 2), rewards=problem.inner_mdp.rewards)
    return mdp, eta, thetas, batch


@pytest.mark.parametrize("family", ["maml", "lvc", "first_order", "loaded"])
@pytest.mark.parametrize("detach", [True, False])
def test_surrogate_mixed_term_with_gae_matches_finite_differences_of_its_gradient(family, detach):
    """∂_η (ĝ·v) of the wired surrogate, against central differences of ĝ(η)·v, ĝ recomputed from the
    same trajectories with rewards r + η and the critic of r + η (same noise, ‖V‖ held fixed)."""
    from dataclasses import replace

    from estimators.scores import returns_to_go as returns
    from estimators.tabular.surrogates import Surrogate

    mdp, eta, thetas, batch = hessian_batch()
    vectors = np.random.default_rng(5).normal(size=thetas.shape)
    base_values = mdp.with_rewards(mdp.rewards + eta).batch_time_values(thetas)
    norms = np.linalg.norm(base_values, axis=-1, keepdims=True)

    def gradient_dot(e):
        inner = mdp.with_rewards(mdp.rewards + e)
        values = (mdp.with_rewards(mdp.rewards + (eta if detach else e)).batch_time_values(thetas)
                  + batch.noise_scale * batch.noise_draw[:, None, :] * norms / mdp.n_states)
        rows = np.arange(2)[:, None, None]
        baselines = values[rows, 0, batch.states]
        bootstrap = values[np.arange(2)[:, None], 0, batch.final_states]
        rewards = inner.rewards[batch.states, batch.actions]
        moved = replace(batch, rewards=rewards, baselines=baselines, bootstrap=bootstrap,
                        returns=returns(rewards, bootstrap, batch.gamma))
        gradient = Surrogate(moved, family, lambda_=0.7, gae_lambda=0.9).gradient()
        return (gradient * vectors).sum(axis=(1, 2))

    exact = Surrogate(batch, family, lambda_=0.7, gae_lambda=0.9,
                      critic_mdp=None if detach else mdp).mixed_vector_product(vectors)
    assert relative_error(exact, central_difference(gradient_dot, eta)) < TOLERANCE


def test_the_default_mixed_term_is_unchanged_and_lambda_one_detached_matches_it():
    from estimators.tabular.surrogates import Surrogate

    _, _, thetas, batch = hessian_batch()
    vectors = np.random.default_rng(6).normal(size=thetas.shape)
    for family in ("maml", "lvc", "loaded"):
        default = Surrogate(batch, family, lambda_=0.7).mixed_vector_product(vectors)
        general = Surrogate(batch, family, lambda_=0.7, gae_lambda=1.0 - 1e-12).mixed_vector_product(vectors)
        np.testing.assert_allclose(general, default, rtol=1e-9, atol=1e-12)


def test_lirpg_estimators_take_gae_and_the_differentiated_critic():
    from estimators import MetaProblem, get_estimator

    mdp = mdps.random_mdp(3, 2, seed=1, gamma=0.8)
    problem = MetaProblem(mdp, np.zeros((3, 2)), 2, 1.0, meta_parameter="intrinsic", rollout_length=4)
    rng = np.random.default_rng(0)
    for name in ("maml", "lvc"):
        spec = get_estimator(name)
        assert spec.parameters["gae_lambda"] == 1.0 and spec.parameters["detach_critic"] is True
        estimates = spec(problem, 3, rng, split="ele", batch=4, gae_lambda=0.9, detach_critic=False)
        assert estimates.shape == (3, 3, 2) and np.all(np.isfinite(estimates))
    with pytest.raises(ValueError, match="gae_lambda"):
        get_estimator("maml")(problem, 2, rng, gae_lambda=1.5)
