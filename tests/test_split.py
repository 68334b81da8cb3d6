"""Liu et al.'s split estimators against exact meta-gradients, exact Hessians and gradients.

Statistical checks use fixed seeds and tolerances derived from the sample covariance:
the Mahalanobis distance of the mean from its expectation (approximately χ² with as many
degrees of freedom as the rank of the covariance, here S·A - S since every row of every
estimate sums to zero) must stay under the 1 - 1e-4 quantile when unbiasedness is claimed,
and exceed the 1 - 1e-6 quantile when a bias is claimed.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import mdps
from estimators import get_estimator
from estimators.tabular.problem import MetaProblem
from estimators.tabular.split import (SPLITS, inner_gradient_std, split_meta_gradient)
from estimators.tabular.surrogates import Batch, Surrogate, draw_batch
from tests.statistical import assert_biased, assert_unbiased, bias_norm

FAMILIES = ("dice", "loaded", "lvc", "maml", "first_order")
REPETITIONS = 20000


def small_mdp(horizon=3):
    return mdps.random_mdp(3, 2, seed=0, gamma=0.9, horizon=horizon, reward="uniform")


def small_problem(steps=1, lr=1.0, critic="exact", meta_parameter="init", horizon=3, length=3):
    theta0 = np.random.default_rng(1).normal(size=(3, 2)) * 0.5
    eta = np.random.default_rng(3).normal(size=(3, 2))
    return MetaProblem(small_mdp(horizon), theta0, steps=steps, lr=lr, meta_parameter=meta_parameter,
                       intrinsic=eta if meta_parameter == "intrinsic" else None, rollout_length=length,
                       critic=critic)


# ---------------------------------------------------------------------------- exact parts
@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("horizon", [None, 4])
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_split_eee_is_the_exact_meta_gradient_for_every_estimator(meta_parameter, horizon, steps):
    problem = small_problem(steps=steps, lr=2.0, meta_parameter=meta_parameter, horizon=horizon, length=4)
    exact = problem.exact_meta_gradient()
    for name in FAMILIES:
        estimates = get_estimator(name)(problem, 3, np.random.default_rng(0), split="eee", batch=2)
        assert estimates.shape == (3, 3, 2)
        np.testing.assert_allclose(estimates, np.broadcast_to(exact, estimates.shape), rtol=0, atol=1e-10)
    np.testing.assert_allclose(get_estimator("exact")(problem, 3, np.random.default_rng(0)),
                               np.broadcast_to(exact, (3, 3, 2)), rtol=0, atol=1e-10)


@pytest.mark.parametrize("split", [s for s in SPLITS if s != "eee"])
def test_sampled_parts_with_diverging_repetitions_run_for_both_horizons_and_meta_parameters(split):
    """Every split on a truncated infinite-horizon problem with a noisy critic (Liu's
    setting, small): finite, of the right shape, repetitions differ."""
    for meta_parameter in ("init", "intrinsic"):
        problem = small_problem(steps=2, lr=1.0, critic="noisy", meta_parameter=meta_parameter,
                                horizon=None, length=5)
        estimates = get_estimator("loaded")(problem, 4, np.random.default_rng(0), split=split, batch=3,
                                            lambda_=0.7)
        assert estimates.shape == (4, 3, 2) and np.all(np.isfinite(estimates))
        assert not np.allclose(estimates[0], estimates[1])


# ---------------------------------------------------------------------------- unbiasedness
@pytest.mark.slow
@pytest.mark.parametrize("critic", ["exact", "none"])
def test_sampled_gradients_are_unbiased_without_truncation(critic):
    problem = small_problem(critic=critic)
    rng = np.random.default_rng(0)
    batch = draw_batch(problem, np.broadcast_to(problem.theta0, (REPETITIONS, 3, 2)), 1, rng)
    gradient = problem.mdp.gradient(problem.theta0)
    for family in ("dice", "loaded", "lvc", "maml"):
        assert_unbiased(Surrogate(batch, family).gradient(), gradient)


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["exact", "noisy"])
def test_truncated_rollouts_estimate_the_truncated_gradient(critic):
    """Infinite horizon, T = 4: with a critic bootstrap, E[Σ_{t<T} γᵗ A_t z_t] is
    Σ_{t<T} γᵗ d_t π (Q - V) (the noisy critic's ε is independent of the rollouts); DiCE
    (no bootstrap) estimates the gradient of the T-step value, i.e. of the MDP with H = T."""
    problem = small_problem(critic=critic, horizon=None, length=4)
    mdp, theta = problem.mdp, problem.theta0
    solution = mdp.solve_stack(theta[None])
    policy, advantages = solution.policy[0], solution.advantages[0, 0]
    visits, truncated = mdp.initial.copy(), np.zeros(problem.shape)
    for t in range(4):
        truncated += mdp.gamma**t * visits[:, None] * policy * advantages
        visits = np.einsum("s,sa,sat->t", visits, policy, mdp.transitions)
    batch = draw_batch(problem, np.broadcast_to(theta, (REPETITIONS, 3, 2)), 1, np.random.default_rng(15))
    assert_unbiased(Surrogate(batch, "maml").gradient(), truncated)
    four_steps = mdps.TabularMDP(mdp.transitions, mdp.rewards, mdp.initial, mdp.gamma, horizon=4)
    assert_unbiased(Surrogate(batch, "dice").gradient(), four_steps.gradient(theta))


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["exact", "none"])
def test_dice_and_loaded_hessians_are_unbiased_and_maml_is_not(critic):
    problem = small_problem(critic=critic)
    rng = np.random.default_rng(1)
    batch = draw_batch(problem, np.broadcast_to(problem.theta0, (REPETITIONS, 3, 2)), 1, rng)
    vector = np.random.default_rng(5).normal(size=(3, 2))
    vectors = np.broadcast_to(vector, (REPETITIONS, 3, 2))
    exact = problem.mdp.hessian_vector_product(problem.theta0, vector)
    assert_unbiased(Surrogate(batch, "dice").hessian_vector_product(vectors), exact)
    assert_unbiased(Surrogate(batch, "loaded", lambda_=1.0).hessian_vector_product(vectors), exact)
    assert_biased(Surrogate(batch, "maml").hessian_vector_product(vectors), exact)


@pytest.mark.slow
def test_split_eel_is_unbiased_for_every_unbiased_gradient():
    """eel: exact inner loop and Jacobians, sampled outer gradient (unbiased when T = H)."""
    problem = small_problem(steps=2, lr=1.0)
    exact = problem.exact_meta_gradient()
    for family in FAMILIES:
        assert_unbiased(split_meta_gradient(problem, REPETITIONS, np.random.default_rng(2), family,
                                            split="eel", batch=1), exact)


@pytest.mark.slow
@pytest.mark.parametrize("critic", ["exact", "noisy"])
def test_split_ele_one_step_is_unbiased_with_unbiased_hessians_only(critic):
    """K = 1: E[(I + αĤ_0)] ∇V(θ_1) is the ideal target iff E[Ĥ_0] = H_0."""
    problem = small_problem(steps=1, lr=1.0, critic=critic)
    exact = problem.exact_meta_gradient()
    rng = np.random.default_rng(3)
    assert_unbiased(get_estimator("dice")(problem, REPETITIONS, rng, split="ele", batch=1), exact)
    assert_unbiased(get_estimator("loaded")(problem, REPETITIONS, rng, split="ele", batch=1), exact)
    assert_biased(get_estimator("maml")(problem, REPETITIONS, rng, split="ele", batch=1), exact)


@pytest.mark.slow
def test_split_lee_has_a_compositional_bias_that_shrinks_with_the_batch():
    """K = 2, α = 3: sampled inner steps, everything else exact. The bias ‖E ĝ - g*‖ at
    |τ| = 1 is many standard errors above zero and above the bias at |τ| = 16."""
    problem = small_problem(steps=2, lr=3.0)
    exact = problem.exact_meta_gradient()
    small = split_meta_gradient(problem, REPETITIONS, np.random.default_rng(4), "maml", split="lee", batch=1)
    large = split_meta_gradient(problem, REPETITIONS, np.random.default_rng(5), "maml", split="lee", batch=16)
    assert_biased(small, exact)
    (bias_small, se_small), (bias_large, se_large) = bias_norm(small, exact), bias_norm(large, exact)
    assert bias_small - bias_large > 4 * np.hypot(se_small, se_large)
    assert bias_large > 0


@pytest.mark.slow
@pytest.mark.parametrize("steps", [1, 2])
def test_intrinsic_ele_is_unbiased_with_an_unbiased_hessian(steps):
    """LIRPG, exact inner and outer: α Σ_k ∂_η(ĝ_k·v_{k+1}) is unbiased for ∇_η when
    E[Ĥ] = H (dice, loaded(1)); at K = 1 the Hessian does not enter (maml too)."""
    problem = small_problem(steps=steps, lr=1.0, meta_parameter="intrinsic")
    exact = problem.exact_meta_gradient()
    for family in ("dice", "loaded"):
        assert_unbiased(split_meta_gradient(problem, REPETITIONS, np.random.default_rng(6), family, split="ele",
                                            batch=1), exact)
    maml = split_meta_gradient(problem, REPETITIONS, np.random.default_rng(7), "maml", split="ele", batch=1)
    (assert_unbiased if steps == 1 else assert_biased)(maml, exact)


# ---------------------------------------------------------------------------- semantics
def test_shared_batch_is_the_inner_batch_and_independent_batches_are_drawn_in_order():
    """White box, K = 1, split lle: rebuild both variants from the documented order of draws."""
    problem = small_problem(steps=1, lr=2.0, critic="noisy")
    repetitions, size = 5, 3
    thetas = np.broadcast_to(problem.theta0, (repetitions, 3, 2))
    rng = np.random.default_rng(8)
    inner = draw_batch(problem, thetas, size, rng)
    step = thetas + problem.lr * Surrogate(inner, "dice").gradient()
    outer = problem.mdp.batch_values_and_gradients(step)[2]
    hessian = draw_batch(problem, thetas, size, rng)
    for shared, hessian_batch in ((True, inner), (False, hessian)):
        expected = outer + problem.lr * Surrogate(hessian_batch, "dice").hessian_vector_product(outer)
        estimates = get_estimator("dice")(problem, repetitions, np.random.default_rng(8), split="lle",
                                          batch=size, shared=shared)
        np.testing.assert_allclose(estimates, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_sharing_the_batch_changes_the_expectation():
    """K = 1, lle, |τ| = 1: Ĥ_0 correlates with θ_1 when shared, so the means differ by
    many standard errors (two independent samples)."""
    problem = small_problem(steps=1, lr=3.0)
    independent = get_estimator("dice")(problem, REPETITIONS, np.random.default_rng(9), split="lle", batch=1)
    shared = get_estimator("dice")(problem, REPETITIONS, np.random.default_rng(10), split="lle", batch=1,
                                   shared=True)
    difference = independent.reshape(REPETITIONS, -1) - shared.reshape(REPETITIONS, -1)  # independent pairs
    assert_biased(difference, np.zeros(6))


def test_same_seed_same_estimates_and_batch_sizes_are_honoured():
    problem = small_problem(steps=2, lr=1.0, critic="noisy", horizon=None, length=4)
    first = get_estimator("lvc")(problem, 6, np.random.default_rng(11), split="lll", n_inner=2, n_hessian=3,
                                 n_outer=4)
    second = get_estimator("lvc")(problem, 6, np.random.default_rng(11), split="lll", n_inner=2, n_hessian=3,
                                  n_outer=4)
    np.testing.assert_array_equal(first, second)
    other = get_estimator("lvc")(problem, 6, np.random.default_rng(12), split="lll", n_inner=2, n_hessian=3,
                                 n_outer=4)
    assert not np.allclose(first, other)


def test_registry_names_parameters_and_errors():
    for name in (*FAMILIES, "exact"):
        assert get_estimator(name).problem == "tabular"
    assert get_estimator("loaded").parameters["lambda_"] == 1.0
    assert get_estimator("maml").parameters == {"batch": 32, "split": "lll", "n_inner": None, "n_hessian": None,
                                                "n_outer": None, "shared": False, "gae_lambda": 1.0,
                                                "detach_critic": True}
    assert get_estimator("exact").parameters == {}
    assert sorted(SPLITS) == sorted("".join(p) for p in itertools.product("el", repeat=3))
    problem = small_problem()
    with pytest.raises(ValueError, match="split"):
        get_estimator("dice")(problem, 2, np.random.default_rng(0), split="lxl")
    with pytest.raises(ValueError, match="n_inner"):
        get_estimator("dice")(problem, 2, np.random.default_rng(0), n_inner=0)
    with pytest.raises(ValueError, match="family"):
        split_meta_gradient(problem, 2, np.random.default_rng(0), "reinforce")
    with pytest.raises(ValueError, match="family"):
        inner_gradient_std(problem, "es", np.random.default_rng(0))


# ---------------------------------------------------------------------------- σ_in
def one_trajectory_moments(problem):
    """Exact mean, tr Cov and E‖g - μ‖⁴ of the one-trajectory dice gradient, by enumerating
    every path (s_0, a_0, ..., s_{H-1}, a_{H-1}) of a finite-horizon MDP (critic none)."""
    mdp, horizon = problem.mdp, problem.mdp.horizon
    policy = mdps.softmax_policy(problem.theta0)
    paths, probabilities = [], []
    n_states, n_actions = problem.shape
    for path in itertools.product(range(n_states), range(n_actions), repeat=horizon):
        states, actions = path[0::2], path[1::2]
        probability = mdp.initial[states[0]]
        for t in range(horizon):
            probability *= policy[states[t], actions[t]]
            if t + 1 < horizon:
                probability *= mdp.transitions[states[t], actions[t], states[t + 1]]
        if probability > 0:
            paths.append((states, actions))
            probabilities.append(probability)
    count = len(paths)
    states = np.array([p[0] for p in paths])[:, None, :]
    actions = np.array([p[1] for p in paths])[:, None, :]
    rewards = mdp.rewards[states, actions]
    zeros = np.zeros((count, 1, horizon))
    batch = Batch(states, actions, rewards, np.zeros((count, 1), dtype=np.intp),
                  np.broadcast_to(policy, (count, n_states, n_actions)), mdp.gamma ** np.arange(horizon),
                  zeros, zeros, np.zeros((count, 1)), mdp.gamma, "none", 1.0, np.zeros((count, n_states)), False)
    gradients = Surrogate(batch, "dice").gradient().reshape(count, -1)
    probabilities = np.array(probabilities)
    mean = probabilities @ gradients
    squared = ((gradients - mean) ** 2).sum(axis=1)
    return mean, probabilities @ squared, probabilities @ squared**2


@pytest.mark.slow
def test_inner_gradient_std_matches_the_enumerated_covariance():
    problem = small_problem(critic="none")
    mean, trace, fourth = one_trajectory_moments(problem)
    np.testing.assert_allclose(mean, problem.mdp.gradient(problem.theta0).ravel(), rtol=1e-12, atol=1e-14)
    repetitions = 20000
    sigma = inner_gradient_std(problem, "dice", np.random.default_rng(13), repetitions=repetitions)
    standard_error = np.sqrt((fourth - trace**2) / repetitions)          # of the variance estimate
    assert abs(sigma**2 - trace) < 4 * standard_error
    assert inner_gradient_std(problem, "exact", np.random.default_rng(0)) == 0.0


def test_liu2022_setting_runs_for_every_family():
    """The published setting (S = 20, A = 5, T = 20, noisy critic, |τ| = 256, K = 1, α = 10):
    one configuration of 20 repetitions, three-way sampled split, for every family."""
    problem = MetaProblem(mdps.liu2022_mdp(0), np.zeros((20, 5)), steps=1, lr=10.0)
    for family in ("dice", "loaded", "lvc", "maml"):
        estimates = get_estimator(family)(problem, 20, np.random.default_rng(14), split="lll", batch=256)
        assert estimates.shape == (20, 20, 5) and np.all(np.isfinite(estimates))
