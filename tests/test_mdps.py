"""The exact core against central finite differences, and the sampler against occupancies."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from tests.finite_differences import central_difference, relative_error

TOLERANCE = 1e-6
HORIZONS = [None, 6]


def instance(horizon, seed=3, n_states=4, n_actions=3):
    mdp = mdps.random_mdp(n_states, n_actions, seed=seed, gamma=0.85, horizon=horizon, reward="normal",
                          initial="dirichlet")
    theta = np.random.default_rng(seed + 100).normal(size=(n_states, n_actions))
    return mdp, theta


@pytest.mark.parametrize("horizon", HORIZONS)
def test_gradient_matches_finite_differences(horizon):
    mdp, theta = instance(horizon)
    assert relative_error(mdp.gradient(theta), central_difference(mdp.value, theta)) < TOLERANCE


@pytest.mark.parametrize("horizon", HORIZONS)
def test_hessian_matches_finite_differences_of_gradient(horizon):
    mdp, theta = instance(horizon)
    numeric = central_difference(mdp.gradient, theta).reshape(mdp.dim, mdp.dim)
    hessian = mdp.hessian(theta)
    assert relative_error(hessian, numeric) < TOLERANCE
    np.testing.assert_allclose(hessian, hessian.T, atol=1e-12)


@pytest.mark.parametrize("horizon", HORIZONS)
def test_hessian_vector_product_matches_hessian_and_finite_differences(horizon):
    mdp, theta = instance(horizon)
    vector = np.random.default_rng(7).normal(size=theta.shape)
    product = mdp.hessian_vector_product(theta, vector)
    np.testing.assert_allclose(product.ravel(), mdp.hessian(theta) @ vector.ravel(), rtol=1e-10, atol=1e-12)
    directional = central_difference(lambda s: mdp.gradient(theta + s[0] * vector), np.zeros(1))[..., 0]
    assert relative_error(product, directional) < TOLERANCE


@pytest.mark.parametrize("horizon", HORIZONS)
def test_occupancy_gives_value_and_its_tangent_matches_finite_differences(horizon):
    mdp, theta = instance(horizon)
    assert np.isclose((mdp.occupancy(theta) * mdp.rewards).sum(), mdp.value(theta), rtol=1e-12)
    vector = np.random.default_rng(8).normal(size=theta.shape)
    tangent = mdp.tangents(theta, vector[None])[1][0]
    directional = central_difference(lambda s: mdp.occupancy(theta + s[0] * vector), np.zeros(1))[..., 0]
    assert relative_error(tangent, directional) < TOLERANCE


@pytest.mark.parametrize("shape", [(5,), (64, 20, 5), (3, 7, 2), (4, 30)])
def test_softmax_policy_is_the_stated_formula_bit_for_bit(shape):
    """π = exp(θ − max_a θ) / Σ exp(θ − max_a θ) exactly as written with numpy's own max (the
    row maxima are taken column by column for A ≤ 16: a maximum is exact in any order)."""
    theta = 5.0 * np.random.default_rng(len(shape)).normal(size=shape)
    weights = np.exp(theta - theta.max(axis=-1, keepdims=True))
    assert np.array_equal(mdps.softmax_policy(theta), weights / weights.sum(axis=-1, keepdims=True))
    theta[..., 0] = np.nan                                  # a nan logit poisons its row, as with .max
    assert np.isnan(mdps.softmax_policy(theta)).all()


def test_finite_horizon_value_equals_brute_force_enumeration():
    mdp, theta = instance(3, n_states=3, n_actions=2)
    policy = mdps.softmax_policy(theta)
    total = 0.0
    # every trajectory of length 3: (s0, a0, s1, a1, s2, a2)
    for path in np.ndindex(*(3, 2) * 3):
        states, actions = path[0::2], path[1::2]
        probability = mdp.initial[states[0]]
        for t in range(3):
            probability *= policy[states[t], actions[t]]
            if t < 2:
                probability *= mdp.transitions[states[t], actions[t], states[t + 1]]
        total += probability * sum(mdp.gamma**t * mdp.rewards[states[t], actions[t]] for t in range(3))
    assert np.isclose(mdp.value(theta), total, rtol=1e-12)


def test_long_finite_horizon_approaches_infinite_horizon():
    mdp, theta = instance(None)
    finite = mdps.TabularMDP(mdp.transitions, mdp.rewards, mdp.initial, mdp.gamma, horizon=400)
    assert np.isclose(finite.value(theta), mdp.value(theta), rtol=1e-12)
    np.testing.assert_allclose(finite.gradient(theta), mdp.gradient(theta), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("horizon", HORIZONS)
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_init_meta_gradient_matches_finite_differences(horizon, steps):
    mdp, theta = instance(horizon)
    lr = 0.3

    def adapted_value(start):
        return mdp.value(mdps.inner_loop(mdp, start, steps=steps, lr=lr)[-1])

    exact = mdps.meta_gradient(mdp, theta, steps=steps, lr=lr)
    assert relative_error(exact, central_difference(adapted_value, theta)) < TOLERANCE


@pytest.mark.parametrize("horizon", HORIZONS)
@pytest.mark.parametrize("steps", [1, 3, 10])
def test_intrinsic_meta_gradient_matches_finite_differences(horizon, steps):
    mdp, theta = instance(horizon)
    eta = np.random.default_rng(11).normal(scale=0.5, size=theta.shape)
    lr = 0.3

    def adapted_value(intrinsic):
        inner = mdp.with_rewards(mdp.rewards + intrinsic)
        return mdp.value(mdps.inner_loop(inner, theta, steps=steps, lr=lr)[-1])

    exact = mdps.intrinsic_meta_gradient(mdp, theta, eta, steps=steps, lr=lr)
    assert relative_error(exact, central_difference(adapted_value, eta)) < TOLERANCE


def test_meta_gradient_with_separate_outer_mdp():
    mdp, theta = instance(None)
    outer = mdp.with_rewards(np.random.default_rng(5).random(mdp.rewards.shape))

    def adapted_value(start):
        return outer.value(mdps.inner_loop(mdp, start, steps=2, lr=0.4)[-1])

    exact = mdps.meta_gradient(mdp, theta, steps=2, lr=0.4, outer_mdp=outer)
    assert relative_error(exact, central_difference(adapted_value, theta)) < TOLERANCE


def test_zero_steps_meta_gradient_is_the_gradient():
    mdp, theta = instance(None)
    np.testing.assert_allclose(mdps.meta_gradient(mdp, theta, steps=0, lr=1.0), mdp.gradient(theta))


def test_liu2022_preset_matches_the_published_setting():
    mdp = mdps.liu2022_mdp(seed=0)
    assert (mdp.n_states, mdp.n_actions, mdp.gamma, mdp.horizon) == (20, 5, 0.8, None)
    assert mdp.initial[0] == 1.0
    assert np.all((mdp.rewards >= 0) & (mdp.rewards < 1))
    assert np.all(np.isfinite(mdp.transitions))
    # Dirichlet(0.001) rows are nearly deterministic: the largest entry dominates
    assert np.median(mdp.transitions.max(axis=-1)) > 0.99
    exact = mdps.meta_gradient(mdp, np.zeros((20, 5)), steps=2, lr=3.0)
    assert np.all(np.isfinite(exact)) and np.linalg.norm(exact) > 0


def test_generators_are_seeded_and_do_not_touch_global_state():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    first, second = mdps.random_mdp(5, 2, seed=4), mdps.random_mdp(5, 2, seed=4)
    other = mdps.random_mdp(5, 2, seed=5)
    np.testing.assert_array_equal(first.transitions, second.transitions)
    assert not np.allclose(first.transitions, other.transitions)
    np.testing.assert_array_equal(np.random.get_state()[1], before)


@pytest.mark.parametrize("field, kwargs, message", [
    ("transitions", {"transitions": np.full((2, 2, 2), 0.3)}, "transitions: expected non-negative rows"),
    ("transitions", {"transitions": np.ones((2, 2, 3)) / 3}, "transitions: expected shape"),
    ("rewards", {"rewards": np.zeros((2, 3))}, "rewards: expected shape"),
    ("rewards", {"rewards": np.array([[0.0, np.nan], [0, 0]])}, "rewards: expected finite"),
    ("initial", {"initial": np.array([0.7, 0.7])}, "initial: expected a probability vector"),
    ("gamma", {"gamma": 1.0}, "gamma: expected a number in [0, 1)"),
    ("horizon", {"horizon": 0}, "horizon: expected None or a positive integer"),
])
def test_bad_input_raises_value_error_naming_the_field(field, kwargs, message):
    arguments = dict(transitions=np.full((2, 2, 2), 0.5), rewards=np.zeros((2, 2)),
                     initial=np.array([1.0, 0.0]), gamma=0.9, horizon=None)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        mdps.TabularMDP(**arguments)


def test_theta_of_wrong_shape_is_refused():
    mdp, _ = instance(None)
    with pytest.raises(ValueError, match="theta: expected shape"):
        mdp.gradient(np.zeros((2, 2)))


@pytest.mark.parametrize("horizon", [5, None])
def test_sampler_state_action_frequencies_match_exact_occupancy(horizon):
    """Discounted empirical visit counts of N rollouts are unbiased for the occupancy.

    For finite H the rollouts have length H (exact); for infinite horizon they are
    truncated at T with γ^T negligible. Tolerance: 5 standard errors per entry.
    """
    mdp, theta = instance(horizon, seed=9)
    length = horizon or 120
    n_trajectories = 20000
    rollouts = mdps.sample_trajectories(mdp, mdps.softmax_policy(theta), n_trajectories, length,
                                        np.random.default_rng(0))
    assert rollouts.shape == (1, n_trajectories, length)
    discounts = mdp.gamma ** np.arange(length)
    index = rollouts.states[0] * mdp.n_actions + rollouts.actions[0]              # (N, T)
    per_trajectory = np.zeros((n_trajectories, mdp.dim))
    np.add.at(per_trajectory, (np.arange(n_trajectories)[:, None], index), discounts)
    mean = per_trajectory.mean(axis=0)
    standard_error = per_trajectory.std(axis=0, ddof=1) / np.sqrt(n_trajectories)
    exact = mdp.occupancy(theta).ravel()
    assert np.all(np.abs(mean - exact) <= 5 * standard_error + 1e-12)
    np.testing.assert_allclose(rollouts.rewards[0], mdp.rewards[rollouts.states[0], rollouts.actions[0]])


def test_sampler_runs_one_policy_per_repetition():
    mdp, _ = instance(None, seed=2)
    # two deterministic policies: always action 0, always action 2
    logits = np.full((2, mdp.n_states, mdp.n_actions), -50.0)
    logits[0, :, 0] = 50.0
    logits[1, :, 2] = 50.0
    rollouts = mdps.sample_trajectories(mdp, mdps.softmax_policy(logits), 7, 5, np.random.default_rng(1))
    assert rollouts.shape == (2, 7, 5)
    assert np.all(rollouts.actions[0] == 0) and np.all(rollouts.actions[1] == 2)


def test_sampler_is_reproducible_from_its_generator():
    mdp, theta = instance(None)
    policy = mdps.softmax_policy(theta)
    first = mdps.sample_trajectories(mdp, policy, 10, 8, np.random.default_rng(42))
    second = mdps.sample_trajectories(mdp, policy, 10, 8, np.random.default_rng(42))
    np.testing.assert_array_equal(first.states, second.states)
    np.testing.assert_array_equal(first.final_states, second.final_states)


def test_gaussian_toy_closed_forms():
    toy = mdps.GaussianToy(sigma=1.5, c=0.5)
    rng = np.random.default_rng(0)
    samples = toy.sample(0.2, 8, 200000, rng)
    values = toy.f(samples.mean(axis=1))
    standard_error = values.std() / np.sqrt(values.size)
    assert abs(values.mean() - toy.objective(0.2, 8)) < 5 * standard_error
    assert toy.gradient(0.2) == pytest.approx(central_difference(lambda t: toy.objective(t[0], 8), np.array([0.2]))[0])
    with pytest.raises(ValueError, match="sigma: expected a positive number"):
        mdps.GaussianToy(sigma=0.0)


@pytest.mark.parametrize("horizon", HORIZONS)
def test_batched_values_and_gradients_equal_the_single_policy_ones(horizon):
    mdp, _ = instance(horizon)
    thetas = np.random.default_rng(4).normal(size=(5, mdp.n_states, mdp.n_actions))
    values, state_values, gradients = mdp.batch_values_and_gradients(thetas)
    for p, theta in enumerate(thetas):
        assert np.isclose(values[p], mdp.value(theta), rtol=1e-12)
        np.testing.assert_allclose(state_values[p], mdp.state_values(theta), rtol=1e-11, atol=1e-13)
        np.testing.assert_allclose(gradients[p], mdp.gradient(theta), rtol=1e-10, atol=1e-13)


def test_guide_table_sampling_equals_plain_inverse_cdf():
    from mdps.sampling import sample_rows
    from mdps.tabular import guide_table

    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.full(7, 0.3), size=40)
    probabilities[3] = np.eye(7)[6]          # a deterministic row, mass on the last entry
    probabilities[4] = np.eye(7)[0]          # and on the first
    cumulative = np.cumsum(probabilities, axis=1)
    cumulative[:, -1] = 1.0
    rows = rng.integers(0, 40, size=(50, 60))
    uniforms = rng.random((50, 60))
    uniforms[0, :3] = [0.0, np.nextafter(1.0, 0.0), 0.5]
    np.testing.assert_array_equal(sample_rows(cumulative, guide_table(cumulative), rows, uniforms),
                                  mdps.sample_categorical(cumulative[rows], uniforms))


@pytest.mark.parametrize("horizon", HORIZONS)
def test_stacked_time_values_and_tangents_equal_the_single_policy_ones(horizon):
    """R > 1 takes the stacked-solve path, R = 1 the LU path: both must agree."""
    mdp, _ = instance(horizon)
    rng = np.random.default_rng(0)
    thetas, vectors = rng.normal(size=(5, mdp.n_states, mdp.n_actions)), rng.normal(size=(5, 2, mdp.n_states, mdp.n_actions))
    values = mdp.batch_time_values(thetas)
    products, occupancy = mdp.batch_tangents(thetas, vectors)
    for r in range(5):
        np.testing.assert_allclose(values[r], mdp.time_state_values(thetas[r]), rtol=1e-11, atol=1e-13)
        expected_products, expected_occupancy = mdp.tangents(thetas[r], vectors[r])
        np.testing.assert_allclose(products[r], expected_products, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(occupancy[r], expected_occupancy, rtol=1e-10, atol=1e-13)
    if horizon is not None:
        assert values.shape == (5, horizon + 1, mdp.n_states) and np.all(values[:, -1] == 0)
