"""The practical target (sampled inner steps): exact enumeration and its estimators."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

import mdps
from estimators import get_estimator
from estimators.multisets import enumerate_batches
from estimators.tabular.enumeration import (MAX_ENUMERATED_ELEMENTS, enumerate_trajectories,
                                    enumerated_path_count, practical_objective_by_enumeration, practical_target,
                                    practical_target_by_enumeration)
from estimators.tabular.inner_paths import (PracticalPass, WeightedBatch, inner_gradient, jacobian_transpose_product,
                                    practical_estimates, draw_weighted_batch)
from estimators.tabular.problem import MetaProblem
from tests.finite_differences import central_difference, relative_error


def tiny_problem(meta_parameter="init", steps=1, lr=0.8, horizon=3, rollout_length=2):
    mdp = mdps.random_mdp(2, 2, seed=1, gamma=0.9, horizon=horizon, reward="normal")
    theta = np.random.default_rng(0).normal(size=(2, 2))
    intrinsic = np.array([[0.3, -0.2], [0.1, 0.4]]) if meta_parameter == "intrinsic" else None
    return MetaProblem(mdp, theta, steps, lr, meta_parameter=meta_parameter, intrinsic=intrinsic,
                       rollout_length=rollout_length, critic="none")


def mean_and_standard_error(function, repetitions, chunks, seed):
    rng = np.random.default_rng(seed)
    estimates = np.concatenate([function(rng, repetitions) for _ in range(chunks)])
    return estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(len(estimates))


def assert_unbiased(mean, standard_error, truth):
    """Sum of squared z-scores against the chi-square 99.99% quantile (d coordinates)."""
    z = ((mean - truth) / standard_error).ravel()
    assert np.sum(z**2) < stats.chi2.ppf(0.9999, z.size), z


def test_enumerated_trajectories_and_batches_are_probability_distributions():
    problem = tiny_problem()
    states, actions, log_dynamics = enumerate_trajectories(problem.mdp, 3)
    log_policy = np.log(mdps.softmax_policy(problem.theta0))[states, actions].sum(axis=1)
    assert np.isclose(np.exp(log_dynamics + log_policy).sum(), 1.0)
    counts, log_coefficient = enumerate_batches(5, 3)
    assert np.all(counts.sum(axis=1) == 3) and len(counts) == 35
    probabilities = np.random.default_rng(0).dirichlet(np.ones(5))
    assert np.isclose(np.exp(log_coefficient + counts @ np.log(probabilities)).sum(), 1.0)


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("steps", [1, 2])
def test_enumerated_target_is_the_gradient_of_the_enumerated_objective(meta_parameter, steps):
    problem = tiny_problem(meta_parameter, steps)
    field = "theta0" if meta_parameter == "init" else "intrinsic"

    def objective(point):
        return practical_objective_by_enumeration(dataclasses.replace(problem, **{field: point}), 2)

    numeric = central_difference(objective, getattr(problem, field))
    assert relative_error(practical_target_by_enumeration(problem, 2), numeric) < 1e-6


def test_practical_and_ideal_targets_differ():
    # both are exact to ~1e-10, so a 1e-4 relative gap is a real difference, not rounding
    problem = tiny_problem(steps=2)
    assert relative_error(practical_target_by_enumeration(problem, 1), problem.exact_meta_gradient()) > 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("steps", [1, 2])
def test_sf_is_unbiased_for_the_practical_target_while_naive_backprop_is_not(meta_parameter, steps):
    problem = tiny_problem(meta_parameter, steps)
    target = practical_target_by_enumeration(problem, 2)
    sf = get_estimator("sf")
    mean, standard_error = mean_and_standard_error(lambda rng, r: sf(problem, r, rng, batch=2), 50_000, 4, seed=1)
    assert_unbiased(mean, standard_error, target)
    naive = get_estimator("sampling_correction")
    if meta_parameter == "intrinsic" and steps == 1:
        # the only batch is drawn at the fixed θ_0: its law does not depend on η, so the
        # correction term vanishes and naive backprop is the unbiased estimator itself
        np.testing.assert_allclose(naive(problem, 50, np.random.default_rng(2), batch=2, lambda_c=0.0),
                                   sf(problem, 50, np.random.default_rng(2), batch=2), atol=1e-12)
        return
    mean, standard_error = mean_and_standard_error(
        lambda rng, r: naive(problem, r, rng, batch=2, lambda_c=0.0), 50_000, 4, seed=2)
    assert np.max(np.abs(mean - target) / standard_error) > 10


@pytest.mark.slow
def test_the_split_estimators_are_biased_for_the_practical_target():
    problem = tiny_problem(steps=1)
    target = practical_target_by_enumeration(problem, 2)
    for name in ("lsf",):
        estimator = get_estimator(name)
        mean, standard_error = mean_and_standard_error(lambda rng, r: estimator(problem, r, rng, batch=2), 50_000, 4, 3)
        assert np.max(np.abs(mean - target) / standard_error) > 10, name


def test_sampling_correction_interpolates_linearly_in_lambda_c():
    problem = tiny_problem(steps=2)
    estimator = get_estimator("sampling_correction")
    draws = {c: estimator(problem, 64, np.random.default_rng(5), batch=3, lambda_c=c) for c in (0.0, 0.5, 1.0)}
    np.testing.assert_allclose(draws[0.5], 0.5 * (draws[0.0] + draws[1.0]), atol=1e-12)
    np.testing.assert_allclose(draws[1.0], get_estimator("sf")(problem, 64, np.random.default_rng(5), batch=3))


def surrogate_batch(problem, seed=3, n=4):
    thetas = problem.theta0[None] + np.random.default_rng(seed).normal(scale=0.3, size=(1, 2, 2))
    return thetas, draw_weighted_batch(problem, thetas, n, np.random.default_rng(seed))


def likelihood_ratio(problem, batch: WeightedBatch, theta_new, theta_old):
    """Per-step ratios π'(a_t|s_t)/π(a_t|s_t), shape (M, T), for the literal surrogates."""
    new, old = mdps.softmax_policy(theta_new), mdps.softmax_policy(theta_old)
    return new[batch.states[0], batch.actions[0]] / old[batch.states[0], batch.actions[0]]


def test_inner_gradient_and_naive_jacobian_match_finite_differences_of_the_surrogate():
    problem = tiny_problem(rollout_length=3)
    thetas, batch = surrogate_batch(problem)
    returns = batch.start_discounted_returns[0]

    def reinforce_surrogate(theta):   # Σ_m w_m Σ_t γᵗ R_t log π_θ(a_t|s_t), samples fixed
        log_policy = np.log(mdps.softmax_policy(theta))[batch.states[0], batch.actions[0]]
        return float((batch.weights[0][:, None] * returns * log_policy).sum())

    policy = mdps.softmax_policy(thetas)
    assert relative_error(inner_gradient(policy, batch)[0], central_difference(reinforce_surrogate, thetas[0])) < 1e-6
    vector = np.random.default_rng(9).normal(size=(1, 2, 2))
    directional = central_difference(
        lambda s: inner_gradient(mdps.softmax_policy(thetas + s[0] * vector), batch)[0], np.zeros(1))[..., 0]
    assert relative_error(jacobian_transpose_product(policy, batch, vector, "naive")[0], directional) < 1e-6


def test_dice_jacobian_is_the_hessian_of_the_dice_surrogate():
    problem = tiny_problem(rollout_length=3)
    thetas, batch = surrogate_batch(problem)
    rewards = batch.discounted_rewards[0]

    def dice_surrogate(theta):   # Σ_m w_m Σ_t γᵗ r_t Π_{k≤t} π'(a_k|s_k)/π(a_k|s_k)
        ratios = np.cumprod(likelihood_ratio(problem, batch, theta, thetas[0]), axis=1)
        return float((batch.weights[0][:, None] * rewards * ratios).sum())

    policy = mdps.softmax_policy(thetas)
    hessian = np.stack([jacobian_transpose_product(policy, batch, e.reshape(1, 2, 2), "dice")[0].ravel()
                        for e in np.eye(4)])
    numeric = central_difference(lambda t: central_difference(dice_surrogate, t, 1e-4), thetas[0], 1e-4).reshape(4, 4)
    assert relative_error(hessian, numeric) < 1e-5


def test_lsf_jacobian_matches_its_definition_per_trajectory():
    problem = tiny_problem(rollout_length=3)
    thetas, batch = surrogate_batch(problem, n=3)
    policy = mdps.softmax_policy(thetas)
    vector = np.random.default_rng(2).normal(size=(1, 2, 2))
    expected = jacobian_transpose_product(policy, batch, vector, "naive")[0]
    for m in range(3):
        single = WeightedBatch(batch.states[:, m:m + 1], batch.actions[:, m:m + 1], batch.discounted_rewards[:, m:m + 1],
                               np.ones((1, 1)), np.ones((1, 1)), batch.gamma_powers)
        gradient = inner_gradient(policy, single)[0]
        log_likelihood = central_difference(
            lambda t: np.log(mdps.softmax_policy(t))[single.states[0, 0], single.actions[0, 0]].sum(), thetas[0])
        expected = expected + (1 / 3) * log_likelihood * float((gradient * vector[0]).sum())
    assert relative_error(jacobian_transpose_product(policy, batch, vector, "lsf")[0], expected) < 1e-6


def test_trajectory_count_matches_the_enumeration_and_needs_no_listing():
    from estimators.tabular.enumeration import trajectory_count

    problem = tiny_problem()
    for length in (1, 2, 3):
        assert trajectory_count(problem.mdp, length) == len(enumerate_trajectories(problem.mdp, length)[0])
    sparse = mdps.random_mdp(4, 3, seed=2, gamma=0.9, concentration=0.001)   # near-deterministic rows
    assert trajectory_count(sparse, 3) == len(enumerate_trajectories(sparse, 3)[0])
    large = mdps.random_mdp(5, 3, seed=0, gamma=0.9)                        # (S·A)^T ≈ 10^14 sequences
    assert trajectory_count(large, 12) > 10**13                              # counted, not listed


def test_large_problems_fall_back_to_a_reference_estimate_with_standard_error():
    mdp = mdps.random_mdp(3, 2, seed=0, gamma=0.8, horizon=None)
    problem = MetaProblem(mdp, np.zeros((3, 2)), 3, 1.0, rollout_length=6, critic="none")
    assert enumerated_path_count(problem, 8) > MAX_ENUMERATED_ELEMENTS
    target, standard_error, method = practical_target(problem, batch=8, reference_repetitions=2000)
    assert target.shape == (3, 2) and standard_error > 0 and method.startswith("reference")
    exact, none, method = practical_target(tiny_problem(), batch=2)
    assert none is None and method == "enumeration"


def test_critics_that_depend_on_phi_are_refused():
    problem = dataclasses.replace(tiny_problem(), critic="exact")
    with pytest.raises(ValueError, match="critic: the practical target needs critic 'none'"):
        practical_estimates(problem, 2, np.random.default_rng(0), batch=2, settings=PracticalPass())


@pytest.mark.slow
def test_the_reference_estimate_is_unbiased_with_its_baseline():
    """Forced onto the reference path for an enumerable problem: the target lies within its error."""
    import estimators.tabular.enumeration as enumeration

    problem = tiny_problem(steps=2)
    exact = practical_target_by_enumeration(problem, 2)
    original = enumeration.MAX_ENUMERATED_ELEMENTS
    try:
        enumeration.MAX_ENUMERATED_ELEMENTS = 0
        reference, standard_error, method = practical_target(problem, batch=2, reference_repetitions=40_000, seed=3)
    finally:
        enumeration.MAX_ENUMERATED_ELEMENTS = original
    assert method.startswith("reference")
    assert np.linalg.norm(reference - exact) < 4 * standard_error
