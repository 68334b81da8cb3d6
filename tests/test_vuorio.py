"""Truncated backprop, OpenES and finite differences against exact expectations."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from estimators import get_estimator
from estimators.tabular.enumeration import practical_objective_by_enumeration, practical_target_by_enumeration
from tests.test_practical import assert_unbiased, mean_and_standard_error, tiny_problem


def enumerated_objective(problem, point, batch=2):
    field = "theta0" if problem.meta_parameter == "init" else "intrinsic"
    return practical_objective_by_enumeration(dataclasses.replace(problem, **{field: point}), batch)


def meta_point(problem):
    return problem.theta0 if problem.meta_parameter == "init" else problem.intrinsic


@pytest.mark.slow
@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
def test_fd_with_common_random_numbers_has_the_exact_central_difference_as_mean(meta_parameter):
    """E[F(φ+h e_i) − F(φ−h e_i)] = J(φ+h e_i) − J(φ−h e_i): CRN changes the variance, not the mean."""
    problem, step = tiny_problem(meta_parameter, steps=2), 0.05
    centre = meta_point(problem)
    expected = np.zeros(centre.size)
    for i in range(centre.size):
        offset = np.zeros(centre.size)
        offset[i] = step
        offset = offset.reshape(centre.shape)
        expected[i] = (enumerated_objective(problem, centre + offset) - enumerated_objective(problem, centre - offset)) / (2 * step)
    fd = get_estimator("fd")
    mean, standard_error = mean_and_standard_error(lambda rng, r: fd(problem, r, rng, batch=2, step=step), 25_000, 4, 7)
    assert_unbiased(mean, standard_error, expected.reshape(centre.shape))


@pytest.mark.slow
def test_es_mean_matches_es_on_the_exact_objective():
    """Both have mean ∇ E_ε[J(φ + σε)]; the reference replaces F by the enumerated J."""
    problem, sigma = tiny_problem(steps=1), 0.3
    centre = meta_point(problem)
    rng = np.random.default_rng(11)
    noise = rng.standard_normal((3000, *centre.shape))
    exact_terms = np.array([(enumerated_objective(problem, centre + sigma * e) - enumerated_objective(problem, centre - sigma * e))
                            * e / (2 * sigma) for e in noise])
    reference, reference_se = exact_terms.mean(axis=0), exact_terms.std(axis=0, ddof=1) / np.sqrt(len(exact_terms))
    es = get_estimator("es")
    mean, standard_error = mean_and_standard_error(
        lambda g, r: es(problem, r, g, batch=2, sigma=sigma, population=1), 25_000, 4, 12)
    z = ((mean - reference) / np.hypot(standard_error, reference_se)).ravel()
    assert np.sum(z**2) < stats.chi2.ppf(0.9999, z.size), z


def test_full_window_truncation_is_the_sampling_corrected_estimator():
    problem = tiny_problem(steps=3)
    truncated = get_estimator("truncated")
    for lambda_c in (0.0, 0.4, 1.0):
        np.testing.assert_allclose(
            truncated(problem, 32, np.random.default_rng(3), batch=2, window=3, lambda_c=lambda_c),
            get_estimator("sampling_correction")(problem, 32, np.random.default_rng(3), batch=2, lambda_c=lambda_c),
            atol=1e-12)


@pytest.mark.slow
def test_short_windows_without_correction_are_biased_for_the_practical_target():
    """Measured here: window 1 with λ_c = 0 is off by ~280 SE; with λ_c = 1 by < 2 SE (the
    dropped first-step Jacobian is close to I on this problem), so only the former is asserted."""
    problem = tiny_problem(steps=2)
    target = practical_target_by_enumeration(problem, 2)
    truncated = get_estimator("truncated")
    mean, standard_error = mean_and_standard_error(
        lambda rng, r: truncated(problem, r, rng, batch=2, window=1, lambda_c=0.0), 25_000, 4, 5)
    assert np.max(np.abs(mean - target) / standard_error) > 10


def test_es_and_fd_are_reproducible_and_validate_their_parameters():
    problem = tiny_problem(steps=1)
    es = get_estimator("es")
    np.testing.assert_array_equal(es(problem, 8, np.random.default_rng(1), batch=2),
                                  es(problem, 8, np.random.default_rng(1), batch=2))
    with pytest.raises(ValueError, match="sigma: expected a positive number"):
        es(problem, 2, np.random.default_rng(1), sigma=0.0)
    with pytest.raises(ValueError, match="step: expected a positive number"):
        get_estimator("fd")(problem, 2, np.random.default_rng(1), step=-1.0)
    with pytest.raises(ValueError, match="window: expected a positive integer"):
        get_estimator("truncated")(problem, 2, np.random.default_rng(1), window=0)
