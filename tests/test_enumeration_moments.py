"""Exact means and covariances of every registered estimator with a path-wise pass, by enumeration,
against Monte Carlo; the DiCE-versus-naive comparison made exact; the practical target on problems
too large to count in 64 bits."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from estimators import MetaProblem, get_estimator
from estimators.tabular.enumeration import (enumerated_path_count, exact_moments, practical_target,
                                    practical_target_by_enumeration, trajectory_count)
from estimators.pathwise import pathwise_estimators
from estimators.bandit import enumeration as bandit_enumeration
from estimators.bandit.problem import BanditLifetimeProblem
from tests.test_practical import assert_unbiased, mean_and_standard_error, tiny_problem


def bandit_problem(steps=3):
    """A 3-armed bandit as a one-state MDP (T = 1), the `vuorio-frontier-exact` setting with fewer steps."""
    mdp = mdps.random_mdp(1, 3, seed=0, gamma=0.9, horizon=1, reward="uniform", initial="first")
    return MetaProblem(mdp, np.zeros((1, 3)), steps=steps, lr=1.0, rollout_length=1, critic="none")


def test_every_path_wise_estimator_is_declared():
    get_estimator("sf")
    assert set(pathwise_estimators("tabular")) == {"sf", "sampling_correction", "lsf", "truncated"}
    assert set(pathwise_estimators("bandit")) == {"sf", "truncated", "dice"}
    with pytest.raises(ValueError, match="path-wise"):
        exact_moments(tiny_problem(), "es")


CASES = [("sf", {}), ("sampling_correction", {"lambda_c": 0.3}), ("lsf", {}),
         ("truncated", {"window": 1, "lambda_c": 0.5, "jacobian": "dice"}),
         ("truncated", {"window": 2, "lambda_c": 0.0, "jacobian": "naive"})]


@pytest.mark.slow
@pytest.mark.parametrize("name, parameters", CASES)
@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
def test_enumerated_moments_match_monte_carlo(name, parameters, meta_parameter):
    problem = tiny_problem(meta_parameter, steps=2)
    mean, covariance = exact_moments(problem, name, batch=2, **parameters)
    estimator = get_estimator(name)
    sampled, error = mean_and_standard_error(lambda rng, r: estimator(problem, r, rng, batch=2, **parameters),
                                             10_000, 2, 3)
    assert_unbiased(sampled, error, mean)
    np.testing.assert_allclose((error ** 2 * 20_000).ravel(), np.diag(covariance), rtol=0.15)


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
def test_sf_is_exactly_unbiased_and_its_mean_is_the_enumerated_target(meta_parameter):
    problem = tiny_problem(meta_parameter, steps=2)
    target = practical_target_by_enumeration(problem, 2)
    for name, parameters in [("sf", {}), ("sf", {"baseline": "initial_value"}),
                             ("sampling_correction", {"lambda_c": 1.0}), ("truncated", {"window": 2, "lambda_c": 1.0})]:
        mean, _ = exact_moments(problem, name, batch=2, **parameters)
        np.testing.assert_allclose(mean, target, atol=1e-12)


def test_dice_versus_naive_backprop_exactly_on_a_bandit():
    """Vuorio et al.'s 'DiCE adds bias' at λ_c = 0 and 1, with no Monte Carlo noise (K = 3 here;
    the K = 8 numbers are in docs/figures.md)."""
    problem = bandit_problem(steps=3)
    target = practical_target_by_enumeration(problem, 2)

    def bias_and_variance(jacobian, lambda_c):
        mean, covariance = exact_moments(problem, "truncated", batch=2, window=3, lambda_c=lambda_c, jacobian=jacobian)
        return np.linalg.norm(mean - target), np.trace(covariance)

    naive_0, dice_0 = bias_and_variance("naive", 0.0), bias_and_variance("dice", 0.0)
    naive_1, dice_1 = bias_and_variance("naive", 1.0), bias_and_variance("dice", 1.0)
    assert naive_1[0] < 1e-12                       # λ_c = 1 with the naive Jacobian is `sf`: unbiased
    assert dice_1[0] > 1e-3 and dice_1[1] > naive_1[1]   # DiCE's Hessian term on top of the full correction
    assert dice_0[0] < naive_0[0] / 10                # without the correction, DiCE is far less biased
    assert dice_0[1] > naive_0[1]


def test_bandit_lifetime_moments_through_the_registry_divide_by_the_lifetimes():
    tasks = mdps.BanditDistribution(3, "fixed", noise=0.0, means=(1.0, 0.2, -0.5))
    problem = BanditLifetimeProblem(tasks=tasks, eta=np.array([0.3, -0.2]), lifetime=3, cutoff=1, batch=2)
    one = bandit_enumeration.exact_moments(problem, "truncated", window=2, lifetimes=1)
    two = bandit_enumeration.exact_moments(problem, "truncated", window=2, lifetimes=2)
    np.testing.assert_allclose(one[0], two[0])
    np.testing.assert_allclose(one[1], 2 * two[1])


def test_practical_target_falls_back_when_the_trajectory_count_exceeds_64_bits():
    """Regression: `np.log` of a Python int >= 2^64 raised, so the reference fallback never ran."""
    mdp = mdps.random_mdp(6, 2, seed=0)
    problem = MetaProblem(mdp, np.zeros((6, 2)), steps=1, lr=1.0, rollout_length=30, critic="none")
    assert trajectory_count(mdp, 30) >= 2 ** 64
    assert enumerated_path_count(problem, 4) > 1e100
    value, standard_error, method = practical_target(problem, batch=4, reference_repetitions=100)
    assert method.startswith("reference") and value.shape == (6, 2) and standard_error > 0
