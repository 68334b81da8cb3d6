"""The exact IPD against finite differences, Liu et al.'s `true_objective`, and itself."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from mdps.ipd import batch_lola_player_one, lola_look_ahead
from tests.finite_differences import central_difference, relative_error

TOLERANCE = 1e-6
HORIZONS = [None, 7]


def point(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=5), rng.normal(size=5)


@pytest.mark.parametrize("horizon", HORIZONS)
def test_gradients_match_finite_differences(horizon):
    game = mdps.IteratedPrisonersDilemma(0.9, horizon)
    theta1, theta2 = point()
    numeric = central_difference(lambda z: np.array(game.values(z[:5], z[5:])), np.concatenate([theta1, theta2]))
    assert relative_error(game.gradients(theta1, theta2).reshape(2, 10), numeric) < TOLERANCE


@pytest.mark.parametrize("horizon", HORIZONS)
def test_hessians_match_finite_differences_and_are_symmetric(horizon):
    game = mdps.IteratedPrisonersDilemma(0.9, horizon)
    theta1, theta2 = point(1)
    numeric = central_difference(lambda z: game.gradients(z[:5], z[5:]).reshape(2, 10),
                                 np.concatenate([theta1, theta2]))
    hessians = game.hessians(theta1, theta2)
    assert relative_error(hessians, numeric) < TOLERANCE
    np.testing.assert_allclose(hessians, np.swapaxes(hessians, 1, 2), atol=1e-12)


@pytest.mark.parametrize("horizon", HORIZONS)
def test_stacked_pairs_equal_single_pairs(horizon):
    game = mdps.IteratedPrisonersDilemma(0.9, horizon)
    rng = np.random.default_rng(2)
    theta1s, theta2s = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    directions = rng.normal(size=(3, 2, 2, 5))
    values, gradients = game.batch_values_and_gradients(theta1s, theta2s)
    tangents = game.batch_tangents(theta1s, theta2s, directions)
    for r in range(3):
        np.testing.assert_allclose(values[r], game.values(theta1s[r], theta2s[r]), rtol=1e-12)
        np.testing.assert_allclose(gradients[r], game.gradients(theta1s[r], theta2s[r]), rtol=1e-12, atol=1e-14)
        hessians = game.hessians(theta1s[r], theta2s[r])
        expected = np.einsum("pij,dj->dpi", hessians, directions[r].reshape(2, 10)).reshape(2, 2, 2, 5)
        np.testing.assert_allclose(tangents[r], expected, rtol=1e-10, atol=1e-12)


def test_the_game_is_symmetric():
    game = mdps.IteratedPrisonersDilemma()
    theta1, theta2 = point(3)
    v1, v2 = game.values(theta1, theta2)
    assert game.values(theta2, theta1) == pytest.approx((v2, v1), rel=1e-12)


@pytest.mark.parametrize("horizon", HORIZONS)
@pytest.mark.parametrize("steps", [1, 2, 3])
def test_lola_meta_gradient_matches_finite_differences(horizon, steps):
    game = mdps.IteratedPrisonersDilemma(0.96, horizon)
    theta1, theta2 = point(10 + steps)
    lr = 0.3
    g1, g2 = mdps.lola_meta_gradient(game, theta1, theta2, lr=lr, steps=steps)

    def player_one(t):          # V₁(θ₁, θ₂^K(θ₁)): player 2 ascends V₂ K times at fixed θ₁
        y = theta2.copy()
        for _ in range(steps):
            y = y + lr * game.gradients(t, y)[1, 1]
        return game.values(t, y)[0]

    def player_two(t):          # V₂(θ₁^K(θ₂), θ₂)
        x = theta1.copy()
        for _ in range(steps):
            x = x + lr * game.gradients(x, t)[0, 0]
        return game.values(x, t)[1]

    assert relative_error(g1, central_difference(player_one, theta1)) < TOLERANCE
    assert relative_error(g2, central_difference(player_two, theta2)) < TOLERANCE


def test_lola_with_no_look_ahead_is_the_naive_gradient():
    game = mdps.IteratedPrisonersDilemma()
    theta1, theta2 = point(4)
    g1, g2 = mdps.lola_meta_gradient(game, theta1, theta2, lr=0.3, steps=0)
    gradients = game.gradients(theta1, theta2)
    np.testing.assert_allclose(g1, gradients[0, 0], rtol=1e-12)
    np.testing.assert_allclose(g2, gradients[1, 1], rtol=1e-12)
    np.testing.assert_allclose(lola_look_ahead(game, theta1[None], theta2[None], lr=0.3, steps=1)[1][0],
                               theta2 + 0.3 * gradients[1, 1], rtol=1e-12)
    stacked = batch_lola_player_one(game, np.stack([theta1, theta2]), np.stack([theta2, theta1]), lr=0.3, steps=2)
    np.testing.assert_allclose(stacked[1], mdps.lola_meta_gradient(game, theta1, theta2, lr=0.3, steps=2)[1])


# ---------------------------------------------------------------------------- Liu et al.'s code
def _phi(x1, x2):
    return [x1 * x2, x1 * (1 - x2), (1 - x1) * x2, (1 - x1) * (1 - x2)]


def their_true_objective(theta1, theta2, gamma=0.96):
    """A plain numpy transcription of `true_objective` in Liu et al.'s lola/lola_dice_*.py:
    σ(θ) = P(defect), states (start, DD, DC, CD, CC) from the own side, payout [[-2,0],[-3,-1]];
    returns −V₁ (their loss)."""
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    p1, p2 = sigmoid(theta1), sigmoid(theta2[[0, 1, 3, 2, 4]])
    initial = np.array(_phi(p1[0], p2[0]))[None]
    transitions = np.stack(_phi(p1[1:], p2[1:]), axis=1)
    payout = np.array([[-2, 0], [-3, -1]], dtype=float).reshape(-1, 1)
    return -float((initial @ np.linalg.inv(np.eye(4) - gamma * transitions) @ payout)[0, 0])


def to_theirs(theta: np.ndarray) -> np.ndarray:
    """θ_theirs = −θ_ours[[0, 4, 3, 2, 1]]: their states (start, DD, DC, CD, CC) are our 0, 4, 3, 2, 1,
    and their σ is the probability of defecting."""
    return -np.asarray(theta)[[0, 4, 3, 2, 1]]


def test_values_agree_with_their_true_objective_after_relabelling():
    game = mdps.IteratedPrisonersDilemma(0.96)
    for seed in range(5):
        theta1, theta2 = point(20 + seed)
        v1, v2 = game.values(theta1, theta2)
        assert -their_true_objective(to_theirs(theta1), to_theirs(theta2)) == pytest.approx(v1, rel=1e-10)
        assert -their_true_objective(to_theirs(theta2), to_theirs(theta1)) == pytest.approx(v2, rel=1e-10)
    # and their gradients are ours relabelled (the chain rule of θ ↦ −θ[perm])
    theta1, theta2 = point(30)
    theirs = central_difference(lambda t: -their_true_objective(t, to_theirs(theta2)), to_theirs(theta1))
    ours = game.gradients(theta1, theta2)[0, 0]
    np.testing.assert_allclose(theirs, -ours[[0, 4, 3, 2, 1]], rtol=1e-7)


def test_all_cooperate_and_all_defect_values():
    game = mdps.IteratedPrisonersDilemma(0.96)
    large = 30.0 * np.ones(5)
    assert game.values(large, large) == pytest.approx((-1 / 0.04, -1 / 0.04), rel=1e-9)
    assert game.values(-large, -large) == pytest.approx((-2 / 0.04, -2 / 0.04), rel=1e-9)
    assert game.values(-large, large) == pytest.approx((0.0, -3 / 0.04), abs=1e-9)


def test_finite_horizon_converges_to_infinite_horizon():
    theta1, theta2 = point(5)
    infinite = mdps.IteratedPrisonersDilemma(0.96)
    exact = np.array(infinite.values(theta1, theta2))
    exact_meta = np.array(mdps.lola_meta_gradient(infinite, theta1, theta2, lr=0.3, steps=2))
    errors = []
    for horizon in (50, 100, 200, 400):
        game = mdps.IteratedPrisonersDilemma(0.96, horizon)
        values = np.array(game.values(theta1, theta2))
        errors.append(np.abs(values - exact).max())
        # the remainder is at most γ^H max|r| / (1 − γ)
        assert errors[-1] <= 0.96**horizon * 3 / 0.04 + 1e-9
    assert all(a > b for a, b in zip(errors, errors[1:]))
    finite_meta = np.array(mdps.lola_meta_gradient(mdps.IteratedPrisonersDilemma(0.96, 600), theta1, theta2,
                                                   lr=0.3, steps=2))
    assert relative_error(finite_meta, exact_meta) < 1e-8


def test_finite_horizon_value_is_the_sum_over_steps():
    game = mdps.IteratedPrisonersDilemma(0.8, 3)
    theta1, theta2 = point(6)
    laws = mdps.ipd.outcome_law(mdps.ipd.sigmoid(theta1), mdps.ipd.sigmoid(theta2[mdps.ipd.OPPONENT_VIEW]))
    law, total = laws[0], np.zeros(2)
    for t in range(3):
        total += 0.8**t * mdps.ipd.REWARDS @ law
        law = law @ laws[1:]
    np.testing.assert_allclose(game.values(theta1, theta2), total, rtol=1e-12)


def test_decision_values():
    game = mdps.IteratedPrisonersDilemma(0.9)
    theta1, theta2 = point(7)
    values = game.batch_decision_values(theta1[None], theta2[None], None)[0, :, 0]
    np.testing.assert_allclose(values[:, 0], game.values(theta1, theta2), rtol=1e-12)
    to_go = game.batch_decision_values(theta1[None], theta2[None], 4)[0]
    np.testing.assert_allclose(to_go[:, 4, 0], mdps.IteratedPrisonersDilemma(0.9, 4).values(theta1, theta2))
    np.testing.assert_allclose(to_go[:, 0], 0.0)


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="gamma"):
        mdps.IteratedPrisonersDilemma(1.0)
    with pytest.raises(ValueError, match="horizon"):
        mdps.IteratedPrisonersDilemma(0.9, 0)
    with pytest.raises(ValueError, match="theta1"):
        mdps.IteratedPrisonersDilemma().values(np.zeros(4), np.zeros(5))
    with pytest.raises(ValueError, match="steps"):
        mdps.lola_meta_gradient(mdps.IteratedPrisonersDilemma(), np.zeros(5), np.zeros(5), lr=0.3, steps=-1)


# ---------------------------------------------------------------------------- sampler
def test_sampled_returns_match_the_finite_horizon_values():
    theta1s = np.array([np.zeros(5), point(8)[0]])
    theta2s = np.array([np.zeros(5), point(8)[1]])
    length, gamma = 12, 0.9
    games = mdps.sample_games(theta1s, theta2s, 4000, length, np.random.default_rng(0))
    assert games.shape == (2, 4000, length) and games.rewards.shape == (2, 2, 4000, length)
    returns = (games.rewards * gamma ** np.arange(length)).sum(axis=-1)         # (2 players, R, N)
    game = mdps.IteratedPrisonersDilemma(gamma, length)
    for r in range(2):
        exact = np.array(game.values(theta1s[r], theta2s[r]))
        mean, se = returns[:, r].mean(axis=-1), returns[:, r].std(axis=-1, ddof=1) / np.sqrt(4000)
        assert np.all(np.abs(mean - exact) < 5 * se)


def test_sampled_states_follow_the_actions_and_the_swap_is_player_two():
    games = mdps.sample_games(point(9)[0], point(9)[1], 50, 6, np.random.default_rng(1))
    np.testing.assert_array_equal(games.states[..., 0], 0)
    np.testing.assert_array_equal(games.states[..., 1:], 1 + 2 * games.actions[0, ..., :-1] + games.actions[1, ..., :-1])
    swapped = games.swapped()
    np.testing.assert_array_equal(swapped.states[..., 1:], 1 + 2 * swapped.actions[0, ..., :-1]
                                  + swapped.actions[1, ..., :-1])
    np.testing.assert_array_equal(swapped.rewards[0], games.rewards[1])
    # the empirical frequency of cooperating at the start is σ(θ₁[0]) within 5 SE
    many = mdps.sample_games(np.full(5, 0.7), np.zeros(5), 20000, 1, np.random.default_rng(2))
    p = mdps.ipd.sigmoid(0.7)
    assert abs((many.actions[0] == 0).mean() - p) < 5 * np.sqrt(p * (1 - p) / 20000)
