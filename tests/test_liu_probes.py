"""Liu et al.'s probes: injected Hessian bias (closed-form expectation) and off-policy reuse."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import mdps
from estimators import get_estimator
from estimators.tabular.liu_probes import hessian_bias, hessian_bias_expectation, off_policy
from estimators.tabular.problem import MetaProblem
from estimators.tabular.split import split_meta_gradient
from tests.statistical import assert_unbiased, bias_norm

REPETITIONS = 20000


def small_problem(steps=2, lr=3.0, critic="exact", meta_parameter="init", horizon=3, length=3):
    mdp = mdps.random_mdp(3, 2, seed=0, gamma=0.9, horizon=horizon, reward="uniform")
    theta0 = np.random.default_rng(1).normal(size=(3, 2)) * 0.5
    eta = np.random.default_rng(3).normal(size=(3, 2)) if meta_parameter == "intrinsic" else None
    return MetaProblem(mdp, theta0, steps=steps, lr=lr, meta_parameter=meta_parameter, intrinsic=eta,
                       rollout_length=length, critic=critic)


# ---------------------------------------------------------------------------- hessian_bias
@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("horizon", [None, 3])
def test_hessian_bias_without_bias_or_noise_is_exact(meta_parameter, horizon):
    problem = small_problem(steps=3, lr=1.5, meta_parameter=meta_parameter, horizon=horizon)
    exact = problem.exact_meta_gradient()
    estimates = get_estimator("hessian_bias")(problem, 4, np.random.default_rng(0), c=0.0, noise=0.0)
    np.testing.assert_allclose(estimates, np.broadcast_to(exact, estimates.shape), rtol=0, atol=1e-12)
    np.testing.assert_allclose(hessian_bias_expectation(problem, c=0.0), exact, rtol=0, atol=1e-12)


def test_hessian_bias_expectation_is_the_deterministic_shift():
    """E = (I + α(H_0 + δI)) ⋯ (I + α(H_{K-1} + δI)) ∇V(θ_K), δ = 2c/(S·A), from full matrices."""
    problem = small_problem(steps=2, lr=2.0, horizon=None)
    c, size = 1.7, 6
    iterates = mdps.inner_loop(problem.mdp, problem.theta0, steps=2, lr=2.0)
    vector = problem.mdp.gradient(iterates[-1]).ravel()
    for iterate in reversed(iterates[:-1]):
        jacobian = np.eye(size) + 2.0 * (problem.mdp.hessian(iterate) + 2 * c / size * np.eye(size))
        vector = jacobian @ vector
    np.testing.assert_allclose(hessian_bias_expectation(problem, c=c).ravel(), vector, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
@pytest.mark.parametrize("c", [0.0, 1.0, 4.0])
def test_hessian_bias_mean_matches_the_closed_form_expectation(c):
    """K = 2, α = 3: the mean over repetitions is the shifted reverse accumulation (within
    the covariance), which is the exact meta-gradient for c = 0 only."""
    problem = small_problem(steps=2, lr=3.0)
    estimates = hessian_bias(problem, REPETITIONS, np.random.default_rng(0), c=c)
    expectation = hessian_bias_expectation(problem, c=c)
    assert_unbiased(estimates, expectation)
    exact = problem.exact_meta_gradient()
    if c == 0.0:
        np.testing.assert_allclose(expectation, exact, atol=1e-12)
    else:
        bias, standard_error = bias_norm(estimates, exact)
        assert bias > 10 * standard_error


def test_hessian_bias_draws_fresh_noise_per_repetition():
    problem = small_problem()
    first = hessian_bias(problem, 3, np.random.default_rng(1))
    np.testing.assert_array_equal(first, hessian_bias(problem, 3, np.random.default_rng(1)))
    assert not np.allclose(first[0], first[1])


# ---------------------------------------------------------------------------- off_policy
@pytest.mark.parametrize("split", ["lee", "lll", "lle"])
@pytest.mark.parametrize("family", ["maml", "dice", "loaded"])
def test_off_policy_without_reuse_is_the_plain_split_estimator(split, family):
    problem = small_problem(steps=3, lr=1.0, critic="noisy", horizon=None, length=4)
    # the probe reads numpy batches (its hook): the same path, bit for bit, is the numpy kernel's
    plain = get_estimator(family)(replace(problem, kernel="numpy"), 5, np.random.default_rng(2), split=split, batch=3)
    reused_nothing = off_policy(problem, 5, np.random.default_rng(2), family=family, reuse=0, split=split, batch=3)
    np.testing.assert_array_equal(reused_nothing, plain)
    reused = off_policy(problem, 5, np.random.default_rng(2), family=family, reuse=2, split=split, batch=3)
    assert np.all(np.isfinite(reused)) and not np.allclose(reused, plain)


def test_off_policy_reuse_has_nothing_to_reuse_at_the_first_step():
    problem = small_problem(steps=1, lr=1.0, critic="noisy", horizon=None, length=4)
    plain = get_estimator("maml")(replace(problem, kernel="numpy"), 5, np.random.default_rng(3), split="lee", batch=2)
    np.testing.assert_array_equal(off_policy(problem, 5, np.random.default_rng(3), reuse=3, batch=2), plain)


def test_off_policy_second_step_is_the_mean_of_on_policy_and_reweighted_gradients():
    """White box, K = 2, lee: rebuild θ_2 from the documented order of draws and check the estimate."""
    from estimators.tabular.surrogates import Surrogate, critic_values, importance_weighted_gradient, draw_batch

    problem = small_problem(steps=2, lr=1.0, critic="noisy", horizon=None, length=4)
    repetitions, size = 4, 3
    rng = np.random.default_rng(4)
    theta0 = np.broadcast_to(problem.theta0, (repetitions, 3, 2))
    first = draw_batch(problem, theta0, size, rng)
    theta1 = theta0 + problem.lr * Surrogate(first, "maml").gradient()
    second = draw_batch(problem, theta1, size, rng)
    values = critic_values(problem.mdp, theta1, "noisy", noise_scale=problem.critic_noise,
                           noise_draw=first.noise_draw)
    gradient = 0.5 * (Surrogate(second, "maml").gradient()
                      + importance_weighted_gradient(first, theta1, values=values, rho_bar=2.0))
    theta2 = theta1 + problem.lr * gradient
    vector = problem.mdp.batch_values_and_gradients(theta2)[2]
    for theta in (theta1, theta0):
        vector = vector + problem.lr * np.stack([problem.mdp.hessian_vector_product(t, v)
                                                 for t, v in zip(theta, vector)])
    estimates = off_policy(problem, repetitions, np.random.default_rng(4), reuse=1, rho_bar=2.0, batch=size)
    np.testing.assert_allclose(estimates, vector, rtol=1e-10, atol=1e-13)


@pytest.mark.slow
def test_off_policy_reuse_of_earlier_inner_batches_increases_the_compositional_bias_here():
    """Measured, not assumed: K = 2, α = 3, split lee, |τ| = 1, T = H (no truncation bias).

    Reusing the batch that produced θ_1 at θ_1 correlates the importance weights with the
    step itself (actions that ĝ_0 pushed up get ratios > 1), and on this problem the bias
    ‖E ĝ - g*‖ grows (≈ 9.8e-3 plain, 1.17e-2 with M = 1, 1.33e-2 with ρ̄ = 1) instead of
    shrinking. The test pins the sign of the effect with a 4-standard-error margin.
    """
    problem = small_problem(steps=2, lr=3.0)
    exact = problem.exact_meta_gradient()
    plain = split_meta_gradient(problem, REPETITIONS, np.random.default_rng(4), "maml", split="lee", batch=1)
    reused = off_policy(problem, REPETITIONS, np.random.default_rng(5), reuse=1, split="lee", batch=1)
    (bias_plain, se_plain), (bias_reused, se_reused) = bias_norm(plain, exact), bias_norm(reused, exact)
    assert bias_reused - bias_plain > 4 * np.hypot(se_plain, se_reused)


def test_off_policy_arguments_are_checked():
    problem = small_problem()
    for keywords, field in (({"reuse": -1}, "reuse"), ({"rho_bar": 0.0}, "rho_bar"), ({"split": "eel"}, "split"),
                            ({"family": "exact"}, "family")):
        with pytest.raises(ValueError, match=field):
            off_policy(problem, 2, np.random.default_rng(0), **keywords)
    assert get_estimator("off_policy").parameters["reuse"] == 1
    assert get_estimator("hessian_bias").parameters == {"c": 1.0, "noise": 0.3}
