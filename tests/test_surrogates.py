"""Closed-form surrogate gradients, Hessian-vector products and LIRPG mixed terms against
finite differences of a literal reference surrogate (samples, returns, baselines fixed)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import chi2

import mdps
from estimators.tabular.problem import MetaProblem
from estimators.tabular.surrogates import (FAMILIES, Surrogate, critic_values, importance_weighted_gradient,
                                   draw_batch, surrogate_gradient,
                                   surrogate_hessian_vector_product, surrogate_mixed_vector_product)
from tests.finite_differences import relative_error

TOLERANCE = 1e-6
STEP = 1e-3
# (family, λ): every family, loaded at the ends and in the middle of [0, 1]
VARIANTS = [("dice", 1.0), ("loaded", 1.0), ("loaded", 0.6), ("loaded", 0.0), ("lvc", 1.0), ("maml", 1.0),
            ("first_order", 1.0)]
# (horizon, rollout length): infinite (truncated), finite with T = H, finite with T < H (truncated)
SETTINGS = [(None, 4), (4, 4), (6, 4)]


def small_problem(horizon, length, critic="noisy", seed=5, n_states=3, n_actions=3):
    mdp = mdps.random_mdp(n_states, n_actions, seed=seed, gamma=0.8, horizon=horizon, reward="normal",
                          initial="dirichlet")
    return MetaProblem(mdp, np.zeros((n_states, n_actions)), steps=1, lr=1.0, rollout_length=length,
                       critic=critic, critic_noise=0.7)


def random_batch(problem, n_repetitions=2, n_trajectories=3, seed=0):
    rng = np.random.default_rng(seed)
    thetas = rng.normal(size=(n_repetitions, *problem.shape))
    return thetas, draw_batch(problem, thetas, n_trajectories, rng)


def log_softmax(theta):
    return theta - logsumexp(theta, axis=-1, keepdims=True)


def literal_surrogate(family, lambda_, theta, batch, r, eta=None):
    """L(θ; samples of repetition r), written out term by term; Box(x) = exp(x - x_fixed).

    Returns are recomputed here from the rewards (+ η) and the batch's fixed bootstrap value.
    """
    log_policy, log_fixed = log_softmax(theta), np.log(batch.policy[r])
    _, n_trajectories, length = batch.shape
    gamma = batch.gamma
    total = 0.0
    for n in range(n_trajectories):
        states, actions = batch.states[r, n], batch.actions[r, n]
        rewards = batch.rewards[r, n] + (0.0 if eta is None else eta[states, actions])
        logp = [log_policy[states[t], actions[t]] for t in range(length)]
        logp_fixed = [log_fixed[states[t], actions[t]] for t in range(length)]
        if family == "dice":
            for t in range(length):
                total += gamma**t * rewards[t] * np.exp(sum(logp[: t + 1]) - sum(logp_fixed[: t + 1]))
            continue
        advantages = [sum(gamma ** (j - t) * rewards[j] for j in range(t, length))
                      + gamma ** (length - t) * batch.bootstrap[r, n] - batch.baselines[r, n, t]
                      for t in range(length)]
        if family == "loaded":
            previous = 1.0
            for t in range(length):
                w = sum(lambda_ ** (t - k) * logp[k] for k in range(t + 1))
                w_fixed = sum(lambda_ ** (t - k) * logp_fixed[k] for k in range(t + 1))
                current = np.exp(w - w_fixed)
                total += gamma**t * advantages[t] * (current - previous)
                previous = current
        elif family == "lvc":
            total += sum(gamma**t * advantages[t] * np.exp(logp[t] - logp_fixed[t]) for t in range(length))
        else:  # maml, first_order
            total += sum(gamma**t * advantages[t] * logp[t] for t in range(length))
    return total / n_trajectories


def derivative(function, step=STEP):
    """d/dx f(x) at 0 by the fourth-order central stencil."""
    return (function(-2 * step) - 8 * function(-step) + 8 * function(step) - function(2 * step)) / (12 * step)


def basis(shape, index):
    unit = np.zeros(shape)
    unit[index] = 1.0
    return unit


@pytest.mark.parametrize("family, lambda_", VARIANTS)
@pytest.mark.parametrize("horizon, length", SETTINGS)
def test_gradient_hvp_and_mixed_term_match_finite_differences(family, lambda_, horizon, length):
    problem = small_problem(horizon, length)
    thetas, batch = random_batch(problem)
    assert batch.truncated == (horizon is None or length < horizon)
    assert np.any(batch.baselines != 0) and (np.any(batch.bootstrap != 0) == batch.truncated)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=thetas.shape)
    eta = rng.normal(size=problem.shape)
    surrogate = Surrogate(batch, family, lambda_=lambda_)
    gradient = surrogate.gradient()
    product = surrogate.hessian_vector_product(vectors)
    mixed = surrogate.mixed_vector_product(vectors)
    for r, theta in enumerate(thetas):
        def loss(point, eta_point=None, r=r):
            return literal_surrogate(family, lambda_, point, batch, r, eta_point)

        # the closed forms are evaluated with η = 0; the literal mixed term is checked at η ≠ 0
        # too, since ĝ is affine in η and its η-derivative does not depend on η
        numeric_gradient = np.zeros(problem.shape)
        numeric_product = np.zeros(problem.shape)
        numeric_mixed = np.zeros(problem.shape)
        for index in np.ndindex(problem.shape):
            unit = basis(problem.shape, index)
            numeric_gradient[index] = derivative(lambda e: loss(theta + e * unit))
            numeric_product[index] = derivative(
                lambda e: derivative(lambda d: loss(theta + e * unit + d * vectors[r])))
            numeric_mixed[index] = derivative(
                lambda e: derivative(lambda d: loss(theta + d * vectors[r], eta + e * unit)))
        assert relative_error(gradient[r], numeric_gradient) < TOLERANCE
        assert relative_error(mixed[r], numeric_mixed) < TOLERANCE
        if family == "first_order":
            assert np.all(product[r] == 0)
        else:
            assert relative_error(product[r], numeric_product) < TOLERANCE


def test_functional_forms_equal_the_surrogate_methods():
    problem = small_problem(None, 5)
    thetas, batch = random_batch(problem, n_trajectories=4)
    vectors = np.random.default_rng(3).normal(size=thetas.shape)
    surrogate = Surrogate(batch, "loaded", lambda_=0.3)
    np.testing.assert_array_equal(surrogate_gradient(batch, "loaded", lambda_=0.3), surrogate.gradient())
    np.testing.assert_array_equal(surrogate_hessian_vector_product(batch, "loaded", vectors, lambda_=0.3),
                                  surrogate.hessian_vector_product(vectors))
    np.testing.assert_array_equal(surrogate_mixed_vector_product(batch, "loaded", vectors, lambda_=0.3),
                                  surrogate.mixed_vector_product(vectors))


def test_return_based_gradients_coincide_and_dice_equals_maml_without_critic():
    problem = small_problem(5, 5)
    thetas, batch = random_batch(problem, n_repetitions=3, n_trajectories=6)
    reference = surrogate_gradient(batch, "maml")
    for family in ("lvc", "loaded", "first_order"):
        np.testing.assert_allclose(surrogate_gradient(batch, family), reference, rtol=1e-12, atol=1e-12)
    no_critic = draw_batch(problem, thetas, 6, np.random.default_rng(0), critic="none")
    np.testing.assert_allclose(surrogate_gradient(no_critic, "dice"), surrogate_gradient(no_critic, "maml"),
                               rtol=1e-12, atol=1e-12)
    # rows of every estimate sum to zero (softmax invariance), like the exact gradient
    np.testing.assert_allclose(reference.sum(axis=-1), 0.0, atol=1e-12)


@pytest.mark.parametrize("horizon, length", SETTINGS)
def test_batch_critic_baselines_and_bootstrap(horizon, length):
    problem = small_problem(horizon, length)
    thetas, batch = random_batch(problem, n_repetitions=3, n_trajectories=5)
    n_states = problem.shape[0]
    for r, theta in enumerate(thetas):
        exact = problem.mdp.time_state_values(theta)                       # (H or 1, S)
        noisy = exact + 0.7 * batch.noise_draw[r] * np.linalg.norm(exact, axis=-1, keepdims=True) / n_states
        for n in range(5):
            for t in range(length):
                row = t if horizon is not None else 0
                assert np.isclose(batch.baselines[r, n, t], noisy[row, batch.states[r, n, t]], rtol=1e-12)
            if batch.truncated:
                row = length if horizon is not None else 0
                assert np.isclose(batch.bootstrap[r, n], noisy[row, batch.final_states[r, n]], rtol=1e-12)
            else:
                assert batch.bootstrap[r, n] == 0.0
    # critic none: no baseline, no bootstrap; the reward table override reaches the returns
    plain = draw_batch(problem, thetas, 5, np.random.default_rng(0), critic="none",
                         rewards=problem.mdp.rewards + 1.0)
    assert np.all(plain.baselines == 0) and np.all(plain.bootstrap == 0)
    np.testing.assert_allclose(plain.rewards, problem.mdp.rewards[plain.states, plain.actions] + 1.0)
    assert critic_values(problem.mdp, np.log(batch.policy), "none") is None


def test_finite_horizon_rollouts_are_capped_at_the_horizon():
    problem = small_problem(3, 10)
    _, batch = random_batch(problem)
    assert batch.shape[2] == 3 and not batch.truncated


def test_same_generator_gives_the_same_batch():
    problem = small_problem(None, 4)
    first = random_batch(problem, seed=11)[1]
    second = random_batch(problem, seed=11)[1]
    for field in ("states", "actions", "rewards", "returns", "baselines", "noise_draw"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))


def test_bad_arguments_raise_value_errors_naming_the_field():
    problem = small_problem(None, 4)
    thetas, batch = random_batch(problem)
    with pytest.raises(ValueError, match="family"):
        Surrogate(batch, "reinforce")
    with pytest.raises(ValueError, match="lambda_"):
        Surrogate(batch, "loaded", lambda_=1.5)
    with pytest.raises(ValueError, match="vectors"):
        Surrogate(batch, "maml").hessian_vector_product(np.zeros(problem.shape))
    with pytest.raises(ValueError, match="thetas"):
        draw_batch(problem, np.zeros(problem.shape), 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="length"):
        draw_batch(problem.mdp, thetas, 3, np.random.default_rng(0))
    assert set(FAMILIES) == {"dice", "loaded", "lvc", "maml", "first_order"}


def test_importance_weighted_gradient_on_policy_is_the_plain_gradient():
    problem = small_problem(None, 5)
    thetas, batch = random_batch(problem, n_trajectories=4)
    values = critic_values(problem.mdp, np.log(batch.policy), "noisy", noise_scale=0.7, noise_draw=batch.noise_draw)
    np.testing.assert_allclose(importance_weighted_gradient(batch, thetas, values=values),
                               surrogate_gradient(batch, "maml"), rtol=1e-10, atol=1e-12)
    finite = small_problem(5, 5, critic="none")
    thetas, batch = random_batch(finite, n_trajectories=4)
    np.testing.assert_allclose(importance_weighted_gradient(batch, thetas, values=None),
                               surrogate_gradient(batch, "dice"), rtol=1e-10, atol=1e-12)


def mahalanobis(samples, truth):
    """(m - g)ᵀ (C/R)⁺ (m - g) on the range of the sample covariance C, and its rank.

    Under unbiasedness it is approximately χ² with `rank` degrees of freedom. The part of
    m - g outside the range (directions with zero variance, e.g. row sums) is returned too.
    """
    samples = samples.reshape(samples.shape[0], -1)
    difference = samples.mean(axis=0) - np.ravel(truth)
    covariance = np.cov(samples, rowvar=False) / samples.shape[0]
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    keep = eigenvalues > 1e-10 * eigenvalues.max()
    coordinates = eigenvectors[:, keep].T @ difference
    outside = difference - eigenvectors[:, keep] @ coordinates
    return float(np.sum(coordinates**2 / eigenvalues[keep])), int(keep.sum()), float(np.linalg.norm(outside))


@pytest.mark.slow
@pytest.mark.parametrize("rho_bar", [None])
def test_importance_weighted_gradient_is_unbiased_off_policy(rho_bar):
    """Rollouts of μ reweighted to π: mean over batches ≈ ∇V(θ_π) (finite H, T = H)."""
    problem = small_problem(3, 3, critic="exact", n_states=3, n_actions=2)
    rng = np.random.default_rng(20)
    behaviour = rng.normal(size=problem.shape)
    target = behaviour + 0.5 * rng.normal(size=problem.shape)
    repetitions = 20000
    batch = draw_batch(problem, np.broadcast_to(behaviour, (repetitions, *problem.shape)), 1, rng)
    targets = np.broadcast_to(target, batch.policy.shape)
    values = critic_values(problem.mdp, targets, "exact")
    estimates = importance_weighted_gradient(batch, targets, values=values, rho_bar=rho_bar)
    statistic, rank, outside = mahalanobis(estimates, problem.mdp.gradient(target))
    assert statistic < chi2.ppf(1 - 1e-4, rank) and outside < 1e-10
