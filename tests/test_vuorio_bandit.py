"""Vuorio et al.'s estimators on the bandit lifetime (learned lr schedule) against exact expectations:
enumeration of every path of batches on tiny noise-free bandits, finite differences of the surrogate
along a fixed path, and each other (unbiased reference vs their finite-difference ground truth)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mdps
from estimators import get_estimator
from estimators.bandit.enumeration import (enumerate_lifetime_paths, exact_moments, lifetime_fitness_by_enumeration,
                                    lifetime_moments_by_enumeration, lifetime_target_by_enumeration)
from estimators.bandit.lifetime import LifetimePass, run_lifetimes, sampled_draw
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.bandit.vuorio import fd_ground_truth, reference_estimates, reference_target
from tests.finite_differences import central_difference, relative_error
from tests.test_practical import assert_unbiased, mean_and_standard_error


def tiny(noise=0.0, lifetime=4, task_set=None, eta=(0.3, -0.2), batch=2):
    tasks = mdps.BanditDistribution(3, "fixed", noise=noise, means=(1.0, 0.2, -0.5))
    if task_set is not None:
        tasks = mdps.BanditDistribution(3, "uniform", -1.0, 1.0, noise=noise)
    return BanditLifetimeProblem(tasks=tasks, eta=np.array(eta), lifetime=lifetime, cutoff=1, batch=batch,
                                 task_set=task_set)


def objective(problem, eta):
    return lifetime_fitness_by_enumeration(problem, eta)


def test_enumerated_paths_are_a_probability_distribution():
    problem = tiny()
    actions, log_coefficient = enumerate_lifetime_paths(3, 2, 4)
    assert actions.shape == (6 ** 4, 4, 2)
    outcome = run_lifetimes(problem, np.broadcast_to(problem.eta, (len(actions), 2)),
                            lambda i, logits, policy: (actions[:, i], np.zeros((len(actions), 2))),
                            np.zeros(len(actions), int), LifetimePass(), differentiate=False)
    assert np.isclose(np.exp(log_coefficient + outcome.log_probability).sum(), 1.0)


@pytest.mark.parametrize("task_set", [None, np.array([[1.0, 0.2, -0.5], [0.0, 0.9, 0.3]])])
def test_unbiased_pass_is_the_gradient_of_the_enumerated_objective(task_set):
    problem = tiny(task_set=task_set)
    exact = lifetime_target_by_enumeration(problem)
    numeric = central_difference(lambda eta: objective(problem, eta), problem.eta)
    assert relative_error(exact, numeric) < 1e-6
    for baseline in ("ideal", "future"):
        reference = lifetime_moments_by_enumeration(problem, LifetimePass("naive", 1.0, 1.0, None, "last",
                                                                          outer="exact", baseline=baseline))
        assert relative_error(reference[0], exact) < 1e-10
    # the ideal target (exact inner steps) is a different quantity
    assert relative_error(problem.ideal_target()[0], exact) > 1e-3


def test_the_future_value_baseline_leaves_every_mean_unchanged():
    problem = tiny(lifetime=5)
    for settings in (LifetimePass("naive", 0.6, 0.8, 3, "random", outer="exact"),
                     LifetimePass("dice", 1.0, 1.0, None, "last", outer="sampled")):
        plain = lifetime_moments_by_enumeration(problem, settings)
        future = lifetime_moments_by_enumeration(problem, dataclasses.replace(settings, baseline="future"))
        np.testing.assert_allclose(future[0], plain[0], rtol=1e-10, atol=1e-14)
        assert np.trace(future[1]) != np.trace(plain[1])


def test_naive_pass_is_the_derivative_of_their_surrogate_along_a_fixed_path():
    """Autodiff of their surrogate with the pulls held fixed, by central differences: the window
    start w stops the gradient (θ_w is a constant), λ_c and d weight the earlier log-probabilities."""
    problem, start, length, correction, discount = tiny(lifetime=6), 1, 4, 0.6, 0.7
    rng = np.random.default_rng(4)
    actions = rng.integers(3, size=(6, 2))
    rewards = rng.normal(size=(6, 2))
    settings = LifetimePass("naive", correction, discount, length, "random")

    def draw(i, logits, policy):
        return actions[i][None], rewards[i][None]

    estimate = run_lifetimes(problem, problem.eta[None], draw, np.array([start]), settings).estimate[0]
    rates_at = mdps.learning_rate_schedule

    def surrogate(eta):
        theta, rates_fixed, rates = np.zeros(3), rates_at(problem.eta, 6, 1), rates_at(eta, 6, 1)
        total, cumulative = 0.0, 0.0
        for i in range(6):
            log_policy = theta - np.log(np.exp(theta).sum())
            policy = np.exp(log_policy)
            if start <= i < start + length:
                total += (rewards[i] * log_policy[actions[i]]).mean() + correction * rewards[i].mean() * cumulative
                cumulative = (cumulative + log_policy[actions[i]].sum()) * discount
            gradient = (rewards[i][:, None] * (np.eye(3)[actions[i]] - policy)).mean(axis=0)
            inside = start <= i < start + length
            theta = theta + (rates[i] if inside else rates_fixed[i]) * gradient   # outside W: η held fixed
        return total / length

    assert relative_error(estimate, central_difference(surrogate, problem.eta)) < 1e-6


SETTINGS = {
    "mg full": dict(window=0, lambda_c=0.0),
    "mg L=2 random": dict(window=2, lambda_c=0.0),
    "mg L=3 last, lambda 0.5, discount 0.7": dict(window=3, placement="last", lambda_c=0.5, meta_discount=0.7),
    "dice full": dict(window=0, jacobian="dice"),
    "unbiased": dict(window=0, lambda_c=1.0),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SETTINGS))
def test_sampled_truncated_estimator_has_its_enumerated_mean(name):
    problem = tiny()
    parameters = SETTINGS[name]
    settings = LifetimePass(parameters.get("jacobian", "naive"), parameters.get("lambda_c", 0.0),
                            parameters.get("meta_discount", 1.0), parameters["window"] or None,
                            parameters.get("placement", "random"))
    mean, covariance = lifetime_moments_by_enumeration(problem, settings)
    estimator = get_estimator("truncated", "bandit")
    sampled, error = mean_and_standard_error(lambda rng, r: estimator(problem, r, rng, lifetimes=1, **parameters),
                                             20_000, 2, 11)
    varying = np.diag(covariance) > 1e-20      # L=3 last: the window misses phase 0, dJ/dη_0 ≡ 0
    np.testing.assert_allclose(sampled[~varying], mean[~varying], atol=1e-15)
    assert_unbiased(sampled[varying], error[varying], mean[varying])
    # and the sampled variance matches the enumerated one (within 10%, 40000 draws)
    assert np.allclose(error ** 2 * 40_000, np.diag(covariance), rtol=0.1, atol=1e-20)


def test_only_the_whole_lifetime_with_the_full_correction_is_unbiased():
    problem = tiny()
    target = lifetime_target_by_enumeration(problem)
    biases = {name: np.linalg.norm(lifetime_moments_by_enumeration(problem, LifetimePass(
        p.get("jacobian", "naive"), p.get("lambda_c", 0.0), p.get("meta_discount", 1.0), p["window"] or None,
        p.get("placement", "random")))[0] - target) for name, p in SETTINGS.items()}
    assert biases["unbiased"] < 1e-12
    assert all(bias > 1e-6 for name, bias in biases.items() if name != "unbiased"), biases   # exact: no MC noise


@pytest.mark.slow
def test_fd_with_common_random_numbers_has_the_central_difference_of_the_objective_as_mean():
    problem, epsilon = tiny(), 0.2
    expected = [(objective(problem, problem.eta + epsilon / 2 * e) - objective(problem, problem.eta - epsilon / 2 * e))
                / epsilon for e in np.eye(2)]
    fd = get_estimator("fd", "bandit")
    mean, error = mean_and_standard_error(lambda rng, r: fd(problem, r, rng, epsilon=epsilon), 20_000, 2, 5)
    assert_unbiased(mean, error, np.array(expected))


@pytest.mark.slow
@pytest.mark.parametrize("common", [False, True])
def test_es_has_the_gradient_of_the_gaussian_smoothed_objective_as_mean(common):
    """E[ε (F(η+σε) − F(η−σε))]/(2σ), by Gauss-Hermite quadrature over ε of the enumerated J."""
    problem, sigma = tiny(), 0.5
    nodes, weights = np.polynomial.hermite_e.hermegauss(12)
    weights = weights / weights.sum()
    expected = np.zeros(2)
    for a, wa in zip(nodes, weights):
        for b, wb in zip(nodes, weights):
            epsilon = np.array([a, b])
            difference = objective(problem, problem.eta + sigma * epsilon) - objective(problem, problem.eta - sigma * epsilon)
            expected += wa * wb * epsilon * difference / (2 * sigma)
    es = get_estimator("es", "bandit")
    mean, error = mean_and_standard_error(
        lambda rng, r: es(problem, r, rng, sigma=sigma, common_random_numbers=common), 20_000, 2, 6)
    assert_unbiased(mean, error, expected)


def test_common_random_numbers_share_pulls_within_a_group():
    means = np.tile([[1.0, 0.0, 0.5]], (4, 1))
    draw = sampled_draw(means, 2.0, 5, np.random.default_rng(0), shared=2)
    logits = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3 + 1e-9], [0.1, 0.2, 0.3], [0.0, 0.0, 0.0]])
    actions, rewards = draw(0, logits, None)
    np.testing.assert_array_equal(actions[0], actions[1])
    np.testing.assert_array_equal(rewards[0], rewards[1])
    assert not np.array_equal(rewards[1], rewards[2])


@pytest.mark.slow
def test_their_fd_ground_truth_and_the_unbiased_reference_agree_on_a_noisy_task_distribution():
    """Both estimate ∇_η J under the task distribution (FD up to O(ε²)): within 5 combined SE."""
    problem = BanditLifetimeProblem(tasks=mdps.BanditDistribution(4, "exp_uniform", -3.0, 1.0, noise=2.0),
                                    eta=np.array([0.5, 1.0]), lifetime=10, batch=3)
    fd, fd_error = fd_ground_truth(problem, runs=40_000, epsilon=0.05, seed=1)
    reference, reference_error = reference_target(problem, runs=40_000, seed=2)
    z = (fd - reference) / np.sqrt(fd_error ** 2 + reference_error ** 2)
    assert np.all(np.abs(z) < 5), (fd, reference, z)
    assert np.all(reference_error < fd_error)


def test_bandit_estimators_return_one_estimate_per_repetition_and_reject_bad_parameters():
    problem = tiny(noise=1.0)
    rng = np.random.default_rng(0)
    np.testing.assert_allclose(exact_moments(tiny(), "dice")[0],
                               lifetime_moments_by_enumeration(tiny(), LifetimePass("dice"))[0])
    for name in ("truncated", "dice", "sf", "es", "fd"):
        assert get_estimator(name, "bandit")(problem, 7, rng).shape == (7, 2)
    assert reference_estimates(problem, 3, rng).shape == (3, 2)
    with pytest.raises(ValueError, match="lambda_c"):
        get_estimator("truncated", "bandit")(problem, 2, rng, lambda_c=1.5)
    with pytest.raises(ValueError, match="window"):
        get_estimator("truncated", "bandit")(problem, 2, rng, window=-1)
    with pytest.raises(ValueError, match="placement"):
        get_estimator("es", "bandit")(problem, 2, rng, placement="middle")
    with pytest.raises(ValueError, match="noise"):
        lifetime_target_by_enumeration(problem)


def test_per_eta_claims_count_resolved_pairs_and_say_what_would_resolve_the_rest():
    """`bandit_claims_per_eta`'s pairs η by η: apart as claimed, apart against, and the unresolved ones
    split by what limits them: the estimates (a budget from the measured variances), the target's
    error (a target standard error), or a variance without upper limit (no budget can be computed)."""
    import math
    import pandas as pd
    from benchmark.studies.vuorio2022 import _pair_claim, budget_note

    def cells(rows):
        return pd.DataFrame(rows, columns=["eta0", "eta1", "bias", "bias_lo", "bias_hi", "variance", "variance_hi",
                                           "target_se"]).set_index(["eta0", "eta1"])
    high = cells([(0, 0, 0.05, 0.04, 0.06, 1e-3, 2e-3, 1e-4),      # apart, as claimed
                  (0, 1, 0.01, 0.005, 0.015, 1e-3, 2e-3, 1e-4),    # apart, against
                  (1, 0, 0.03, 0.01, 0.05, 1e-1, 2e-1, 1e-4),      # overlapping, the estimates limit
                  (1, 1, 0.021, 0.0, 0.04, 1e-3, 2e-3, 1e-2),      # overlapping, the target limits
                  (2, 2, 0.03, 0.0, math.inf, 5.0, math.inf, 1e-4)])  # overlapping, variance unbounded
    low = cells([(0, 0, 0.01, 0.005, 0.015, 1e-3, 2e-3, 1e-4),
                 (0, 1, 0.05, 0.04, 0.06, 1e-3, 2e-3, 1e-4),
                 (1, 0, 0.02, 0.0, 0.04, 1e-1, 2e-1, 1e-4),
                 (1, 1, 0.02, 0.0, 0.04, 1e-3, 2e-3, 1e-2),
                 (2, 2, 0.02, 0.0, 0.04, 1e-3, 2e-3, 1e-4)])
    claim = _pair_claim(high, low)
    assert (claim["count"], claim["agree"], claim["against"], claim["unresolved"]) == (5, 1, 1, 3)
    assert (claim["unbounded"], claim["target_limited"]) == (1, 1)
    # the gap 0.01 must exceed 2 (√0.1/√n + √0.1/√n) + 4·1e-4
    assert claim["needed"] == pytest.approx((4 * math.sqrt(0.1) / (0.01 - 4e-4)) ** 2)
    assert claim["target_needed"] == pytest.approx(0.001 / 4)
    note = budget_note(claim)
    assert "estimates per cell" in note and "target standard error" in note and "no number of estimates" in note
    assert budget_note({**claim, "unresolved": 0}) == ""
