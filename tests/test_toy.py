"""The Gaussian toy's estimators against their closed-form means and variances (Tang 2022)."""
from __future__ import annotations

import numpy as np
import pytest

from estimators import ToyProblem, get_estimator
from estimators.gaussian_toy.gradients import lsf_mean, pw_variance, sf_variance
from mdps import GaussianToy

CASES = [(0.5, 1, 1.0), (0.5, 16, 1.0), (-1.0, 4, 1.0), (0.2, 8, 1.7)]   # θ, N, σ
REPETITIONS = 400_000


def draws(name, theta, n, sigma, seed):
    problem = ToyProblem(GaussianToy(sigma=sigma, c=1.0), theta, n)
    return problem, get_estimator(name, "gaussian_toy")(problem, REPETITIONS, np.random.default_rng(seed))[:, 0]


def assert_mean(samples, expected):
    """|mean − expected| within 4.5 standard errors (two-sided p ≈ 7e-6 under the null)."""
    assert abs(samples.mean() - expected) < 4.5 * samples.std(ddof=1) / np.sqrt(samples.size)


def assert_variance(samples, expected):
    """Sample variance within 4.5 of its standard errors, SE² = (μ₄ − σ⁴)/n estimated from the samples."""
    centred = samples - samples.mean()
    variance, fourth = np.mean(centred**2), np.mean(centred**4)
    assert abs(variance - expected) < 4.5 * np.sqrt((fourth - variance**2) / samples.size)


@pytest.mark.slow
@pytest.mark.parametrize("theta, n, sigma", CASES)
def test_lsf_has_the_closed_form_bias_minus_two_theta_over_n(theta, n, sigma):
    problem, samples = draws("lsf", theta, n, sigma, seed=1)
    assert_mean(samples, lsf_mean(problem))
    assert lsf_mean(problem) - problem.exact_gradient()[0] == pytest.approx(-2 * theta / n)


@pytest.mark.slow
@pytest.mark.parametrize("theta, n, sigma", CASES)
def test_sf_and_pw_are_unbiased_with_closed_form_variances(theta, n, sigma):
    problem, sf = draws("sf", theta, n, sigma, seed=2)
    assert_mean(sf, problem.exact_gradient()[0])
    assert_variance(sf, sf_variance(problem))
    problem, pw = draws("pw", theta, n, sigma, seed=3)
    assert_mean(pw, problem.exact_gradient()[0])
    assert_variance(pw, pw_variance(problem))


def test_sf_variance_closed_form_grows_linearly_with_slope_delta_to_the_fourth():
    slopes = [sf_variance(ToyProblem(GaussianToy(), -1.0, n + 1)) - sf_variance(ToyProblem(GaussianToy(), -1.0, n))
              for n in (10_000, 20_000)]
    assert slopes == pytest.approx([16.0, 16.0], rel=1e-6)     # δ⁴ = 16 for θ = -1, c = 1


def test_estimates_have_shape_r_by_one_and_follow_the_generator():
    problem = ToyProblem(GaussianToy(), 0.3, 5)
    for name in ("sf", "lsf", "pw"):
        first = get_estimator(name, "gaussian_toy")(problem, 7, np.random.default_rng(4))
        assert first.shape == (7, 1)
        np.testing.assert_array_equal(first, get_estimator(name, "gaussian_toy")(problem, 7, np.random.default_rng(4)))
    with pytest.raises(ValueError, match="N: expected a positive integer"):
        ToyProblem(GaussianToy(), 0.0, 0)


def readme_sf_variance(theta, n, sigma, c=1.0):
    """The README's closed form of Var[SF] for any σ: Nδ⁴/σ² + 14δ² + 15σ²/N (δ = θ − c).

    From sf_variance's derivation, E[(·)²] = (N/σ²)(δ⁴ + 18δ²σ²/N + 15σ⁴/N²) less the squared
    mean 4δ². (Before issue 24 the README wrote Nδ⁴ + 18δ²σ² − 4δ² + 15σ⁴/N, equal only at σ = 1.)
    """
    delta = theta - c
    return n * delta**4 / sigma**2 + 14 * delta**2 + 15 * sigma**2 / n


@pytest.mark.parametrize("sigma", [0.5, 1.0, 2.0, 3.3])
def test_the_readme_sf_variance_is_the_closed_form_at_every_sigma(sigma):
    for theta, n in ((0.5, 1), (0.2, 8), (-1.0, 64)):
        problem = ToyProblem(GaussianToy(sigma=sigma, c=1.0), theta, n)
        assert readme_sf_variance(theta, n, sigma) == pytest.approx(sf_variance(problem), rel=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_the_readme_sf_variance_matches_simulation_where_the_old_formula_does_not(sigma):
    theta, n = 0.2, 8
    _, sf = draws("sf", theta, n, sigma, seed=4)
    assert_variance(sf, readme_sf_variance(theta, n, sigma))
    delta = theta - 1.0
    old = n * delta**4 + 18 * delta**2 * sigma**2 - 4 * delta**2 + 15 * sigma**4 / n
    with pytest.raises(AssertionError):
        assert_variance(sf, old)
