"""Bandits with task distributions and noisy rewards."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import mdps


def test_bandit_value_is_policy_times_means_and_ignores_noise():
    means = np.array([0.1, 2.0, -1.0])
    theta = np.array([[0.3, -0.2, 1.0]])
    mdp = mdps.bandit_mdp(means)
    assert np.isclose(mdp.value(theta), mdps.softmax_policy(theta)[0] @ means)


def test_exp_uniform_law_matches_its_distribution():
    law = mdps.BanditDistribution(5, "exp_uniform", -3.0, 1.0, noise=0.0)
    draws = law.sample_means(np.random.default_rng(0), 4000).ravel()
    assert stats.kstest(np.log(draws), stats.uniform(-3.0, 4.0).cdf).pvalue > 1e-3


def test_vuorio_law_most_arms_are_negligible():
    means = mdps.VUORIO2022_BANDITS.sample_means(np.random.default_rng(1), 2000)
    assert means.shape == (2000, 30) and means.max() <= np.e
    # P(μ > e^-3) = 4/101
    assert abs((means > np.exp(-3)).mean() - 4 / 101) < 5 * np.sqrt(4 / 101 / 60000)


def test_task_set_is_seeded_and_draws_only_its_rows():
    law = mdps.BanditDistribution(4, "uniform", 0.0, 1.0)
    tasks = law.task_set(seed=5, count=3)
    np.testing.assert_array_equal(tasks, law.task_set(seed=5, count=3))
    assert not np.allclose(tasks, law.task_set(seed=6, count=3))
    drawn = law.draw_tasks(np.random.default_rng(2), 50, tasks)
    assert all(any(np.array_equal(row, task) for task in tasks) for row in drawn)
    fresh = law.draw_tasks(np.random.default_rng(2), 50)
    assert len({tuple(row) for row in fresh}) == 50


def test_pull_noise_has_the_stated_moments():
    means = np.array([[1.0, -2.0]])
    actions = np.ones((1, 20000), dtype=int)
    rewards = mdps.pull_arms(means, actions, 2.0, np.random.default_rng(3))
    assert abs(rewards.mean() + 2.0) < 5 * 2.0 / np.sqrt(20000)
    assert abs(rewards.std() - 2.0) < 0.05


def test_task_mean_reports_the_standard_error_of_the_mean():
    tasks = np.arange(12, dtype=float).reshape(4, 3)
    mean, error = mdps.task_mean(lambda m: m.sum(), tasks)
    sums = tasks.sum(axis=1)
    assert np.isclose(mean, sums.mean()) and np.isclose(error, sums.std(ddof=1) / 2)


@pytest.mark.parametrize("kwargs, field", [({"n_arms": 0}, "n_arms"), ({"arm_law": "beta"}, "arm_law"),
                                           ({"noise": -1.0}, "noise"), ({"low": 2.0, "high": 1.0}, "low"),
                                           ({"arm_law": "fixed"}, "means")])
def test_bad_distribution_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        mdps.BanditDistribution(**kwargs)
