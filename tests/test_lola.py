"""DiCE-LOLA estimators: closed forms against the literal surrogate, expectations against the exact target."""
from __future__ import annotations

import numpy as np
import pytest

import mdps
from estimators import LolaProblem, get_estimator
from estimators.ipd.lola import (CompiledGameSurrogate, GameSurrogate, OffPolicy, baseline_table, critic_baselines, draw_batch,
                             draw_buffer, draw_fresh, log_probabilities, stacked_lola_estimates, value_residual_sums)
from mdps.ipd import OPPONENT_VIEW
from tests.finite_differences import central_difference, relative_error
from tests.statistical import assert_biased, assert_unbiased, bias_norm

LENGTH = 12


def problem(critic="learned", steps=1, horizon=LENGTH, seed=None, **fields) -> LolaProblem:
    game = mdps.IteratedPrisonersDilemma(0.96, horizon)
    theta1, theta2 = (np.zeros(5), np.zeros(5)) if seed is None else np.random.default_rng(seed).normal(size=(2, 5))
    return LolaProblem(game, theta1, theta2, steps=steps, lr=0.3, rollout_length=LENGTH, critic=critic, **fields)


def literal_dice(batch, own, other, player, gamma, table):
    """L(own, other) = mean_n Σ_t [γᵗ r_t exp(Σ_{k≤t}(l_k − l^μ_k)) + (1 − exp(l_t − l^μ_t)) γᵗ b_t], samples fixed."""
    baselines = critic_baselines(table, batch.games)
    logs = log_probabilities(batch.games, own, other) - batch.behaviour_log_probs
    discounts = gamma ** np.arange(batch.shape[2])
    rewards = batch.games.rewards[player]
    terms = discounts * (rewards * np.exp(np.cumsum(logs, axis=-1)) + (1 - np.exp(logs)) * baselines)
    return terms.sum(axis=-1).mean(axis=-1)                                            # (M,)


@pytest.mark.parametrize("off_policy", [False, True])
@pytest.mark.parametrize("player", [0, 1])
def test_surrogate_derivatives_match_finite_differences_of_the_literal_dice(off_policy, player):
    rng = np.random.default_rng(0)
    own, other = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))
    batch = (draw_buffer(own, other, 4, 12, 6, 0.5, rng) if off_policy else draw_batch(own, other, 5, 6, rng))
    baselines = rng.normal(size=(2, 6, 5))                  # b by (row, step, state)
    gamma = 0.9
    surrogate = GameSurrogate(batch, own, other, player, gamma, baselines)
    for m in range(2):
        def loss(z):
            o, p = own.copy(), other.copy()
            o[m], p[m] = z[:5], z[5:]
            return literal_dice(batch, o, p, player, gamma, baselines)[m]
        numeric = central_difference(loss, np.concatenate([own[m], other[m]]))
        assert relative_error(surrogate.gradient()[m].ravel(), numeric) < 1e-6
    directions = rng.normal(size=(2, 2, 5))
    product = surrogate.hessian_vector_product(directions)

    def gradient_along(s):
        moved_own, moved_other = own + s[0] * directions[:, 0], other + s[0] * directions[:, 1]
        return GameSurrogate(batch, moved_own, moved_other, player, gamma, baselines).gradient()

    assert relative_error(product, central_difference(gradient_along, np.zeros(1))[..., 0]) < 1e-6


def test_fresh_batches_have_unit_weights_and_the_exact_baseline_is_the_value_to_go():
    prob = problem("exact", seed=1)
    own, other = np.stack([prob.theta1]), np.stack([prob.theta2])
    batch = draw_batch(own, other, 3, LENGTH, np.random.default_rng(2))
    np.testing.assert_allclose(log_probabilities(batch.games, own, other), batch.behaviour_log_probs)
    baselines = critic_baselines(baseline_table(prob.game, "exact", own, other, LENGTH, 0), batch.games)
    np.testing.assert_allclose(baselines[0, :, 0], prob.game.values(prob.theta1, prob.theta2)[0])
    learned = critic_baselines(baseline_table(prob.game, "learned", own, other, LENGTH, 1), batch.games)
    laws = mdps.ipd.outcome_law(mdps.ipd.sigmoid(own[0]), mdps.ipd.sigmoid(other[0][OPPONENT_VIEW]))
    np.testing.assert_allclose(learned[0], (laws @ mdps.ipd.REWARDS[1])[batch.games.states[0]])


def test_split_eee_is_exact():
    prob = problem(steps=2, seed=3)
    estimates = get_estimator("lola_dice", "ipd")(prob, 3, np.random.default_rng(0), split="eee")
    np.testing.assert_allclose(estimates, np.broadcast_to(prob.exact_meta_gradient(), (3, 2, 5)), atol=1e-13)
    np.testing.assert_array_equal(get_estimator("lola_exact", "ipd")(prob, 2, None)[1], prob.exact_meta_gradient())


@pytest.mark.slow
@pytest.mark.parametrize("split,critic", [("eel", "none"), ("eel", "exact"), ("ele", "learned"), ("ell", "exact")])
def test_sampled_outer_and_hessian_with_exact_inner_steps_are_unbiased(split, critic):
    """K = 1 and horizon = rollout length: the estimate is linear in independent unbiased parts."""
    prob = problem(critic, seed=4)
    estimates = get_estimator("lola_dice", "ipd")(prob, 3000, np.random.default_rng(5), split=split, batch=4)
    assert_unbiased(estimates, prob.exact_meta_gradient())


@pytest.mark.slow
def test_off_policy_hessian_is_unbiased():
    """Per-decision weights make the buffer's surrogate unbiased at every θ (so its Hessian too);
    without them this cell is ~380 on the χ²(10) scale (measured), far above the threshold ~36."""
    prob = problem("learned", seed=6)
    off = get_estimator("lola_off_policy", "ipd")(prob, 3000, np.random.default_rng(7), split="ele", batch=4,
                                                  buffer=16, behaviour_noise=1.0)
    assert_unbiased(off, prob.exact_meta_gradient())


@pytest.mark.slow
def test_compositional_bias_of_sampled_inner_steps_is_present_and_shrinks_with_batch():
    prob = problem("learned", seed=8)
    exact = prob.exact_meta_gradient()
    estimator = get_estimator("lola_dice", "ipd")
    small = estimator(prob, 4000, np.random.default_rng(9), split="lee", n_inner=2)
    large = estimator(prob, 4000, np.random.default_rng(10), split="lee", n_inner=16)
    assert_biased(small, exact)
    bias_small, se_small = bias_norm(small, exact)
    bias_large, se_large = bias_norm(large, exact)
    assert bias_small - bias_large > 5 * np.hypot(se_small, se_large)


@pytest.mark.slow
def test_off_policy_buffer_reduces_the_compositional_bias():
    prob = problem("learned", seed=8)
    exact = prob.exact_meta_gradient()
    on = get_estimator("lola_dice", "ipd")(prob, 4000, np.random.default_rng(11), split="lee", n_inner=2)
    off = get_estimator("lola_off_policy", "ipd")(prob, 4000, np.random.default_rng(12), split="lee", n_inner=2,
                                                  buffer=32, behaviour_noise=0.2)
    bias_on, se_on = bias_norm(on, exact)
    bias_off, se_off = bias_norm(off, exact)
    assert bias_on - bias_off > 5 * np.hypot(se_on, se_off)


def test_estimates_have_both_players_and_player_two_is_player_one_swapped():
    prob = problem(seed=13)
    swapped = LolaProblem(prob.game, prob.theta2, prob.theta1, steps=1, lr=0.3, rollout_length=LENGTH)
    first = get_estimator("lola_dice", "ipd")(prob, 5, np.random.default_rng(14), batch=4)
    assert first.shape == (5, 2, 5)
    exact, exact_swapped = prob.exact_meta_gradient(), swapped.exact_meta_gradient()
    np.testing.assert_allclose(exact[::-1], exact_swapped, rtol=1e-12)


def test_bad_input_names_the_field():
    prob = problem()
    with pytest.raises(ValueError, match="split"):
        get_estimator("lola_dice", "ipd")(prob, 2, np.random.default_rng(0), split="lxe")
    with pytest.raises(ValueError, match="buffer"):
        get_estimator("lola_off_policy", "ipd")(prob, 2, np.random.default_rng(0), batch=4, buffer=6)
    with pytest.raises(ValueError, match="critic"):
        problem("noisy")
    with pytest.raises(ValueError, match="theta1"):
        LolaProblem(prob.game, np.zeros(4), np.zeros(5))


def test_game_buffer_keeps_the_last_games_of_both_views():
    from estimators.ipd.lola import GameBuffer
    rng = np.random.default_rng(15)
    own, other = rng.normal(size=(2, 5)), rng.normal(size=(2, 5))      # S = 1 seed: rows (θ₁, θ₂), (θ₂, θ₁)
    own, other = np.stack([own[0], other[0]]), np.stack([other[0], own[0]])
    buffer = GameBuffer(1, 8, 4)
    pushed = []
    for _ in range(3):
        batch = draw_batch(own, other, 3, 4, rng)
        buffer.push(batch)
        pushed += [batch.games.states[0, i] for i in range(3)]
        pushed += [OPPONENT_VIEW[batch.games.states[1, i]] for i in range(3)]   # player 2's games, back in view 1
    stored = buffer.read()
    assert buffer.filled == 8 and stored.shape == (2, 8, 4)
    assert {tuple(s) for s in stored.games.states[0]} <= {tuple(s) for s in pushed[-8:]}
    np.testing.assert_array_equal(stored.games.states[1], OPPONENT_VIEW[stored.games.states[0]])
    # the stored behaviour log-probabilities are those the games were drawn with
    current = log_probabilities(stored.games, own, other)
    np.testing.assert_allclose(current, stored.behaviour_log_probs, atol=1e-12)


def test_exact_outer_companion_uses_the_same_inner_and_hessian_samples():
    from estimators.ipd.lola import stacked_lola_estimates
    prob = problem(seed=16, steps=2)
    own, other = np.stack([prob.theta1, prob.theta2]), np.stack([prob.theta2, prob.theta1])
    common = dict(steps=2, lr=0.3, length=LENGTH, batch=4)
    sampled, outer_exact = stacked_lola_estimates(prob.game, own, other, np.random.default_rng(1), split="eel",
                                                  with_exact_outer=True, **common)
    np.testing.assert_allclose(outer_exact, prob.exact_meta_gradient(), rtol=1e-12)
    first, second = stacked_lola_estimates(prob.game, own, other, np.random.default_rng(2), split="lle",
                                           with_exact_outer=True, **common)
    np.testing.assert_allclose(first, second, rtol=1e-12)


# ----------------------------------------------------------------------------- the compiled kernel
def test_compiled_rollouts_are_the_numpy_games_from_the_same_stream():
    rng = np.random.default_rng(21)
    own, other = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    numpy_batch = draw_batch(own, other, 7, 9, np.random.default_rng(4), "numpy")
    compiled = draw_batch(own, other, 7, 9, np.random.default_rng(4), "compiled")
    for name in ("states", "actions", "rewards"):
        assert np.array_equal(getattr(numpy_batch.games, name), getattr(compiled.games, name)), name
    assert np.array_equal(numpy_batch.behaviour_log_probs, compiled.behaviour_log_probs)


@pytest.mark.parametrize("off_policy", [False, True])
def test_compiled_surrogate_is_the_numpy_surrogate(off_policy):
    """Bit-identical on-policy (every log-ratio is exactly 0, so exp is exact on both paths);
    off-policy within 1e-13 of the largest entry: numpy's SIMD exp and libm's (numba) differ
    in the last ulp for about 5 % of arguments (and the running product ρ_{0:t} carries them)."""
    rng = np.random.default_rng(22)
    own, other = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    batch = draw_buffer(own + 0.1, other, 8, 32, 10, 0.5, rng) if off_policy else draw_batch(own, other, 16, 10, rng)
    table = rng.normal(size=(4, 10, 5))
    directions = rng.normal(size=(3, 4, 2, 5))
    for player in (0, 1):
        for baselines in (table, table[:, :1]):
            reference = GameSurrogate(batch, own, other, player, 0.9, baselines)
            compiled = CompiledGameSurrogate(batch, own, other, player, 0.9, baselines)
            pairs = [(reference.gradient(), compiled.gradient()),
                     (reference.hessian_vector_products(directions), compiled.hessian_vector_products(directions))]
            for expected, got in pairs:
                if off_policy:
                    assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max()
                else:
                    assert np.array_equal(got, expected)


@pytest.mark.parametrize("split", ["lll", "lel", "ell", "lle"])
@pytest.mark.parametrize("critic", ["none", "learned", "exact"])
def test_compiled_estimates_equal_the_numpy_estimates(split, critic):
    """Whole DiCE-LOLA estimates on both paths from one seed: on-policy (shared or not) bit-identical,
    off-policy (a buffer for the inner gradient and/or the Hessian) within 1e-13 (the exp ulps above)."""
    prob = problem(critic, steps=2, seed=23)
    own, other = np.stack([prob.theta1, prob.theta2]), np.stack([prob.theta2, prob.theta1])
    values = np.random.default_rng(3).normal(size=(2, 2, 5)) if critic == "learned" else None
    for off_policy, shared in ((None, False), (None, True), (OffPolicy(32, True, True, 0.3), True),
                               (OffPolicy(32, True, False, 0.3), False)):
        common = dict(steps=2, lr=0.3, length=LENGTH, critic=critic, critic_values=values, split=split, n_inner=8,
                      n_hessian=4, n_outer=4, shared=shared, off_policy=off_policy, with_exact_outer=True)
        expected = np.array(stacked_lola_estimates(prob.game, own, other, np.random.default_rng(5), kernel="numpy",
                                                   **common))
        got = np.array(stacked_lola_estimates(prob.game, own, other, np.random.default_rng(5), kernel="compiled",
                                              **common))
        if off_policy is None or split[:2] == "ee":
            assert np.array_equal(got, expected), (off_policy, shared)
        else:
            assert np.abs(got - expected).max() <= 1e-13 * np.abs(expected).max(), (off_policy, shared)


def test_fresh_games_rolled_out_with_the_sums_are_the_stored_games():
    """A fresh batch kept as its uniforms and rolled out inside the surrogate's pass gives the
    sums of the same games drawn and stored (bit for bit), and only at the pair it was drawn at."""
    rng = np.random.default_rng(24)
    own, other = rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    table, directions = rng.normal(size=(3, 9, 5)), rng.normal(size=(2, 3, 2, 5))
    fresh = draw_fresh(own, other, 6, 9, np.random.default_rng(8))
    stored = draw_batch(own, other, 6, 9, np.random.default_rng(8), "compiled")
    assert fresh.shape == stored.shape == (3, 6, 9)
    for player in (0, 1):
        got = CompiledGameSurrogate(fresh, own, other, player, 0.9, table)
        expected = CompiledGameSurrogate(stored, own, other, player, 0.9, table)
        reference = GameSurrogate(stored, own, other, player, 0.9, table)
        assert np.array_equal(got.gradient(), expected.gradient())
        assert np.array_equal(got.gradient(), reference.gradient())
        assert np.array_equal(got.hessian_vector_products(directions), reference.hessian_vector_products(directions))
    with pytest.raises(ValueError, match="batch: fresh games are used at the pair they were drawn at"):
        CompiledGameSurrogate(fresh, own + 1.0, other, 0, 0.9, table)


def test_value_residual_sums_on_both_paths_are_the_residuals_of_the_same_games():
    """The learned values' regression sums Σ (r¹_t − v[s_t]) e_{s_t}: the compiled pass (games
    rolled out with the sums) equals the numpy path bit for bit, consumes the same draws, and
    both are the residuals of the games `draw_batch` draws from the same stream."""
    rng = np.random.default_rng(25)
    own, other, values = rng.normal(size=(3, 5)), rng.normal(size=(3, 5)), rng.normal(size=(3, 5))
    streams = [np.random.default_rng(9) for _ in range(3)]
    expected = value_residual_sums(own, other, values, 7, 11, streams[0], "numpy")
    got = value_residual_sums(own, other, values, 7, 11, streams[1], "compiled")
    games = draw_batch(own, other, 7, 11, streams[2]).games
    literal = np.zeros((3, 5))
    for m, n, t in np.ndindex(games.states.shape):
        literal[m, games.states[m, n, t]] += games.rewards[0, m, n, t] - values[m, games.states[m, n, t]]
    assert np.array_equal(got, expected)
    np.testing.assert_allclose(expected, literal, rtol=1e-12, atol=1e-12)
    assert len({stream.random() for stream in streams}) == 1
