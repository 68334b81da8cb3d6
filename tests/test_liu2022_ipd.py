"""The LOLA training simulation of the IPD panels (Liu et al. 2022)."""
from __future__ import annotations

import numpy as np
import pandas as pd

import mdps
from benchmark.analysis.statistics import pearson_with_target
from benchmark.studies.liu2022_ipd import TrainingVariant, VARIANTS, average_rewards, lola_training
from mdps.ipd import Adam, exact_lola_training


def test_pearson_and_average_rewards():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 1.0]])
    np.testing.assert_allclose(pearson_with_target(x, 2 * x + 1), 1.0)   # one target per row
    np.testing.assert_allclose(pearson_with_target(x[:1], -x[:1]), -1.0)
    np.testing.assert_allclose(pearson_with_target(x, x[0]), pearson_with_target(x, np.repeat(x[:1], len(x), 0)))
    large = np.full((1, 5), 30.0)
    np.testing.assert_allclose(average_rewards(large, large, 10), [[-1.0, -1.0]], atol=1e-9)
    np.testing.assert_allclose(average_rewards(-large, large, 10), [[0.0, -3.0]], atol=1e-9)
    # γ → the finite-horizon value divided by T when γ = 1 is approached
    theta1, theta2 = np.random.default_rng(0).normal(size=(2, 5))
    near = np.array(mdps.IteratedPrisonersDilemma(1 - 1e-9, 7).values(theta1, theta2)) / 7
    np.testing.assert_allclose(average_rewards(theta1[None], theta2[None], 7)[0], near, rtol=1e-7)


def test_adam_first_step_is_lr_times_sign():
    adam = Adam(0.1, (3,))
    np.testing.assert_allclose(adam.step(np.array([2.0, -0.5, 1e-3])), [0.1, -0.1, 0.1], rtol=1e-4)


def test_exact_lola_training_learns_to_cooperate_and_correlates_perfectly():
    record = lola_training(TrainingVariant("exact", split="eee"), n_seeds=2, updates=150, seed=0, length=20,
                           exact_updates=True)
    np.testing.assert_allclose(record["corr"], 1.0)
    assert record["score"][0].mean() == -1.5 and record["score"][-1].mean() > -1.1   # mutual cooperation is −1


def test_sampled_training_runs_for_every_variant_and_is_seeded():
    for name, variant in VARIANTS.items():
        first = lola_training(variant, n_seeds=2, updates=3, seed=1, length=8, scale=32)
        assert first["corr"].shape == (3, 2) and np.all(np.abs(first["corr"]) <= 1 + 1e-12), name
    again = lola_training(VARIANTS["off_policy"], n_seeds=2, updates=3, seed=1, length=8, scale=32)
    np.testing.assert_array_equal(again["corr"], lola_training(VARIANTS["off_policy"], n_seeds=2, updates=3, seed=1,
                                                               length=8, scale=32)["corr"])


def test_figure_draws_and_compares_on_a_short_simulation():
    from benchmark.studies import figure_specs
    from benchmark.studies.liu2022_ipd import (FIGURE, TRAINING, compare_training, draw_training, training_settings,
                                               training_units)
    from benchmark.studies.spec import FigureData

    assert FIGURE in figure_specs("liu2022") and FIGURE.simulation is TRAINING
    units = training_units(True)
    assert list(units) == list(VARIANTS)            # one unit per variant
    table = pd.concat([function(**kwargs) for name, (function, kwargs) in units.items()
                       if name in ("comp128_hessian128", "comp128_hessian_exact", "off_policy", "original")],
                      ignore_index=True)
    data = FigureData(table, {}, True, None, training_settings(True))
    figure = draw_training(data)
    assert len(figure.axes) >= 4
    comparison = compare_training(data)
    assert comparison.verdict in ("agrees", "partly agrees", "disagrees", "inconclusive")
    assert "off-policy DiCE against their original (one shared batch)" in comparison.text
    assert "off-policy DiCE against separate inner and Hessian batches" in comparison.text   # beside, not evidence
    assert len(comparison.details) == 4


def test_their_original_on_policy_run_is_one_shared_batch_and_the_other_seeds_stay():
    from benchmark.studies.liu2022_ipd import CLAIMED_IMPROVEMENTS, variant_seed

    original = VARIANTS["original"]          # lola/lola_dice_original.py: one 128-game batch, differentiated twice
    assert (original.split, original.shared, original.off_policy) == ("lll", True, False)
    assert original.n_inner == original.n_hessian == original.n_outer == 128
    assert VARIANTS["off_policy"].shared and ("off_policy", "original") in {pair[:2] for pair in CLAIMED_IMPROVEMENTS}
    # appended last: the variants measured before keep their sampling seeds
    assert [variant_seed(0, name) for name in ("comp128_hessian128", "off_policy", "on_comp_off_hessian")] == [0, 5, 7]


def test_exact_lola_path_is_the_training_loop_with_exact_updates():
    game = mdps.IteratedPrisonersDilemma(0.96)
    path = exact_lola_training(game, 30)
    record = lola_training(TrainingVariant("exact", split="eee"), n_seeds=1, updates=31, seed=0, length=20,
                           exact_updates=True)
    np.testing.assert_allclose(record["score"][30], average_rewards(path[30, :1], path[30, 1:], 20).mean(axis=1))
    assert path.shape == (31, 2, 5) and np.all(path[0] == 0)
