"""The learning-rate-schedule meta-gradient and the lifetime objective against central finite
differences (relative error <= 1e-6), on random MDPs and on bandits."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from tests.finite_differences import central_difference, relative_error

TOLERANCE = 1e-6


def random_problem(kind: str, seed: int = 0):
    rng = np.random.default_rng(seed + 50)
    if kind == "mdp":
        mdp = mdps.random_mdp(4, 3, seed=seed, gamma=0.8, reward="normal", initial="dirichlet")
    elif kind == "mdp_finite":
        mdp = mdps.random_mdp(3, 2, seed=seed, gamma=0.9, horizon=4, reward="normal")
    elif kind == "bandit":
        mdp = mdps.bandit_mdp(mdps.BanditDistribution(6, "exp_uniform", -3.0, 1.0).sample_means(rng, 1)[0])
    elif kind == "vuorio_bandit":
        mdp = mdps.bandit_mdp(mdps.VUORIO2022_BANDITS.task_set(seed=3, count=1)[0] + rng.uniform(0, 1, 30))
    else:
        raise AssertionError(kind)
    return mdp, rng.normal(scale=0.5, size=(mdp.n_states, mdp.n_actions))


@pytest.mark.parametrize("kind", ["mdp", "mdp_finite", "bandit", "vuorio_bandit"])
@pytest.mark.parametrize("objective", ["final", "lifetime"])
@pytest.mark.parametrize("steps, cutoff", [(1, 0), (5, 2), (10, 1)])
def test_learning_rate_meta_gradient_matches_finite_differences(kind, objective, steps, cutoff):
    mdp, theta = random_problem(kind, seed=steps)
    eta = np.array([0.3, -0.4])
    exact = mdps.learning_rate_meta_gradient(mdp, theta, eta, steps=steps, cutoff=cutoff, objective=objective)
    numeric = central_difference(lambda e: mdps.learning_rate_objective(
        mdp, theta, e, steps=steps, cutoff=cutoff, objective=objective), eta)
    assert exact.shape == (2,)
    if cutoff == 0:   # every step in phase 1: no dependence on η_0
        assert exact[0] == 0.0 and abs(numeric[0]) < 1e-9
        assert abs(exact[1] - numeric[1]) <= TOLERANCE * abs(numeric[1])
    else:
        assert relative_error(exact, numeric) < TOLERANCE


def test_lifetime_objective_is_the_mean_value_of_the_iterates_before_the_last():
    mdp, theta = random_problem("bandit")
    eta = np.array([0.1, 0.7])
    iterates = mdps.inner_loop(mdp, theta, steps=4, lr=mdps.learning_rate_schedule(eta, 4, 2))
    expected = np.mean([mdp.value(t) for t in iterates[:-1]])
    assert np.isclose(mdps.learning_rate_objective(mdp, theta, eta, steps=4, cutoff=2, objective="lifetime"), expected)
    np.testing.assert_allclose(mdps.learning_rate_schedule(eta, 4, 2), np.log1p(np.exp([0.1, 0.1, 0.7, 0.7])))


@pytest.mark.parametrize("kind", ["mdp", "mdp_finite", "bandit"])
@pytest.mark.parametrize("objective", ["final", "lifetime"])
def test_init_and_intrinsic_meta_gradients_with_either_objective_and_a_schedule(kind, objective):
    """The shared reverse pass: `init` and `intrinsic` with per-step rates and both objectives."""
    mdp, theta = random_problem(kind, seed=2)
    rates = np.array([0.5, 1.2, 0.3])
    weights = mdps.objective_weights(3, objective)

    def init_objective(start):
        return sum(w * mdp.value(t) for w, t in zip(weights, mdps.inner_loop(mdp, start, steps=3, lr=rates)))

    exact = mdps.meta_gradient(mdp, theta, steps=3, lr=rates, objective=objective)
    assert relative_error(exact, central_difference(init_objective, theta)) < TOLERANCE

    eta = np.random.default_rng(9).normal(scale=0.3, size=theta.shape)

    def intrinsic_objective(intrinsic):
        inner = mdp.with_rewards(mdp.rewards + intrinsic)
        return sum(w * mdp.value(t) for w, t in zip(weights, mdps.inner_loop(inner, theta, steps=3, lr=rates)))

    exact = mdps.intrinsic_meta_gradient(mdp, theta, eta, steps=3, lr=rates, objective=objective)
    assert relative_error(exact, central_difference(intrinsic_objective, eta)) < TOLERANCE


def test_bad_inputs_name_the_field():
    mdp, theta = random_problem("bandit")
    with pytest.raises(ValueError, match="eta"):
        mdps.learning_rate_meta_gradient(mdp, theta, np.zeros(3), steps=2, cutoff=1)
    with pytest.raises(ValueError, match="objective"):
        mdps.learning_rate_meta_gradient(mdp, theta, np.zeros(2), steps=2, cutoff=1, objective="sum")
    with pytest.raises(ValueError, match="cutoff"):
        mdps.learning_rate_meta_gradient(mdp, theta, np.zeros(2), steps=2, cutoff=-1)
    with pytest.raises(ValueError, match="lr"):
        mdps.meta_gradient(mdp, theta, steps=2, lr=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="steps"):
        mdps.objective_weights(0, "lifetime")


@pytest.mark.parametrize("objective", ["final", "lifetime"])
def test_vectorized_bandit_meta_gradient_equals_the_general_one(objective):
    means = mdps.VUORIO2022_BANDITS.task_set(seed=0, count=3) + np.array([[0.0], [1.0], [2.0]]) * np.eye(30)[:3].sum(0)
    eta = np.array([0.4, 1.2])
    together = mdps.bandit_learning_rate_meta_gradient(means, eta, steps=12, cutoff=3, objective=objective)
    for row, task in zip(together, means):
        one = mdps.learning_rate_meta_gradient(mdps.bandit_mdp(task), np.zeros((1, 30)), eta, steps=12, cutoff=3,
                                               objective=objective)
        np.testing.assert_allclose(row, one, rtol=1e-10, atol=1e-14)
