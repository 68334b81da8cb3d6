"""PES and NRES over the truncation windows of a bandit lifetime (`estimators.bandit.persistent`)
against their exact expectations on a tiny noise-free bandit: every path enumerated
(`window_fitness_by_enumeration`), the Gaussian perturbations integrated by Gauss-Hermite
quadrature (exact for polynomials of degree < 2·nodes; the window fitness is smooth in η)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import mdps
from estimators import get_estimator
from estimators.bandit.enumeration import window_fitness_by_enumeration
from estimators.bandit.persistent import window_layout
from estimators.bandit.problem import BanditLifetimeProblem
from tests.test_practical import assert_unbiased, mean_and_standard_error

SIGMA, NODES = 0.5, 7


def tiny(kernel="compiled"):
    tasks = mdps.BanditDistribution(3, "fixed", noise=0.0, means=(1.0, 0.2, -0.5))
    return BanditLifetimeProblem(tasks=tasks, eta=np.array([0.3, -0.2]), lifetime=4, cutoff=1, batch=1, kernel=kernel)


def quadrature(dimensions: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss-Hermite nodes `(Q, dimensions)` and weights `(Q,)` for N(0, I)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(NODES)
    weights = weights / weights.sum()
    points = np.array(list(itertools.product(nodes, repeat=dimensions)))
    return points, np.prod(np.array(list(itertools.product(weights, repeat=dimensions))), axis=1)


def exact_expectation(problem: BanditLifetimeProblem, window: int, persistent: bool) -> np.ndarray:
    """(1/W) Σ_t E_ε[w_t F_t(η + σ ε)] / σ, w_t = ξ_t (PES) or ε (NRES): the mean of the antithetic
    estimator (E[w F(η − σε)] = −E[w F(η + σε)] by the symmetry ε → −ε)."""
    starts, lengths = window_layout(problem.lifetime, window)
    window_of_step = np.arange(problem.lifetime) // lengths[0]
    total = np.zeros(2)
    for t, (start, length) in enumerate(zip(starts, lengths)):
        blocks = t + 1 if persistent else 1
        points, weights = quadrature(2 * blocks)
        noise = points.reshape(-1, blocks, 2)
        per_window = np.concatenate([noise, np.zeros((len(noise), len(starts) - blocks, 2))], axis=1)
        step_noise = per_window[:, window_of_step] if persistent else np.repeat(noise, problem.lifetime, axis=1)
        fitness = window_fitness_by_enumeration(problem, problem.eta + SIGMA * step_noise, start, length)
        factor = noise.sum(axis=1)                                    # ξ_t, or ε
        total += (weights * fitness) @ factor / SIGMA
    return total / len(starts)


@pytest.mark.parametrize("name", ["pes", "nres"])
@pytest.mark.parametrize("kernel", ["compiled", "numpy"])
def test_windowed_es_has_its_exact_expectation(name, kernel):
    problem = tiny(kernel)
    expected = exact_expectation(problem, 2, persistent=name == "pes")
    estimator = get_estimator(name, "bandit")
    mean, error = mean_and_standard_error(lambda rng, r: estimator(problem, r, rng, sigma=SIGMA, window=2),
                                          20_000, 2, 7)
    assert_unbiased(mean, error, expected)


def test_pes_and_nres_differ_and_one_window_is_whole_lifetime_es():
    """PES credits the earlier windows' noise, so its mean differs from NRES's (exactly, by
    enumeration); with a single window both are ES through the whole lifetime."""
    problem = tiny()
    persistent, reused = exact_expectation(problem, 2, True), exact_expectation(problem, 2, False)
    assert np.abs(persistent - reused).max() > 1e-4
    whole_pes, whole_nres = exact_expectation(problem, 0, True), exact_expectation(problem, 0, False)
    np.testing.assert_allclose(whole_pes, whole_nres, rtol=1e-12)
    es, pes = get_estimator("es", "bandit"), get_estimator("pes", "bandit")
    a = es(problem, 500, np.random.default_rng(3), sigma=SIGMA)
    assert a.shape == pes(problem, 500, np.random.default_rng(3), sigma=SIGMA).shape == (500, 2)


def test_windows_cover_the_lifetime_and_bad_parameters_are_refused():
    starts, lengths = window_layout(80, 21)
    assert list(starts) == [0, 21, 42, 63] and list(lengths) == [21, 21, 21, 17]
    problem = BanditLifetimeProblem(lifetime=30)
    estimate = get_estimator("pes", "bandit")(problem, 5, np.random.default_rng(0), window=7, population=2)
    assert estimate.shape == (5, 2) and np.all(np.isfinite(estimate))
    with pytest.raises(ValueError, match="sigma"):
        get_estimator("nres", "bandit")(problem, 2, np.random.default_rng(0), sigma=0.0)
    with pytest.raises(ValueError, match="window"):
        get_estimator("pes", "bandit")(problem, 2, np.random.default_rng(0), window=-2)
