"""Sweeps of `[problem] kind = "ipd"`: parsing, cells, and the per-player corr."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark import load_results, run_sweep
from benchmark.analysis.statistics import CellStatistics, pearson_with_target
from benchmark.families.ipd import ipd_point
from benchmark.sweeps.cells import build_problem
from benchmark.sweeps.loading import parse_sweep
from benchmark.families.schema import SweepError

IPD_SWEEP = """
name = "ipd"
seed = 1
repetitions = {repetitions}

[problem]
kind = "ipd"
horizon = 12
rollout_length = 12
critic = "{critic}"
{extra}

[grid]
estimator = ["lola_dice", "lola_exact"]
split = {split}
steps = 1
lr = 0.3
batch = 8
"""


def sweep_text(repetitions=64, critic="learned", extra="", split='["eee", "eel"]') -> str:
    return IPD_SWEEP.format(repetitions=repetitions, critic=critic, extra=extra, split=split)


def test_ipd_sweep_eee_has_zero_bias_and_corr_one(tmp_path):
    run_sweep(parse_sweep(sweep_text()), tmp_path, jobs=1, quiet=True)
    frame = load_results(tmp_path / "ipd")
    assert (frame.status == "ok").all()
    exact = frame[(frame.estimator == "lola_exact") | (frame.split == "eee")]
    assert np.allclose(exact.bias, 0.0) and np.allclose(exact.variance, 0.0) and np.allclose(exact["corr"], 1.0)
    sampled = frame[(frame.estimator == "lola_dice") & (frame.split == "eel")].iloc[0]
    assert sampled.variance > 0 and sampled.bias_lo == 0.0       # unbiased: the interval reaches zero
    assert sampled.target_method == "exact"


def test_ipd_problem_fields_defaults_and_random_points():
    sweep = parse_sweep(sweep_text(extra='theta = "random"\nn_mdps = 2'))
    cells = sweep.cells()
    assert sorted({cell.mdp_seed for cell in cells}) == [0, 1]
    problem = build_problem(sweep, cells[0])
    theta1, theta2 = ipd_point("random", cells[0].mdp_seed, problem.game)
    np.testing.assert_array_equal(problem.theta1, theta1)
    assert problem.game.gamma == 0.96 and problem.game.horizon == 12 and problem.critic == "learned"
    default = build_problem(parse_sweep(sweep_text()), parse_sweep(sweep_text()).cells()[0])
    np.testing.assert_array_equal(default.theta1, 0.0)
    assert parse_sweep(parse_sweep(sweep_text(extra='theta = "random"\nn_mdps = 2')).to_toml()).cells()[0].cell_id \
        == cells[0].cell_id


@pytest.mark.parametrize("extra,message", [('critic_noise = 1.0', "problem.critic_noise"),
                                           ('theta = "ones"', "problem.theta"),
                                           ('n_mdps = 2', "problem.n_mdps")])
def test_ipd_bad_fields_name_the_key(extra, message):
    with pytest.raises(SweepError, match=message):
        parse_sweep(sweep_text(extra=extra))
    with pytest.raises(SweepError, match="problem.critic"):
        parse_sweep(sweep_text(critic="noisy"))


def test_corr_groups_average_the_players_correlations():
    rng = np.random.default_rng(0)
    target = rng.normal(size=(2, 5))
    estimates = target + rng.normal(size=(7, 2, 5))
    statistics = CellStatistics(target, corr_groups=2)
    statistics.add_batch(estimates)
    expected = np.mean([pearson_with_target(estimates[:, p], target[p]).mean() for p in range(2)])
    assert statistics.summary(np.random.default_rng(1), n_bootstrap=10)["corr"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="corr_groups"):
        CellStatistics(target, corr_groups=3)


def test_ipd_points_along_exact_lola_training():
    from mdps.ipd import exact_lola_training

    sweep = parse_sweep(sweep_text(extra='theta = "training"\nmdp_seeds = [0, 20]'))
    cells = [cell for cell in sweep.cells() if cell.estimator == "lola_exact"]
    points = {cell.mdp_seed: build_problem(sweep, cell) for cell in cells}
    np.testing.assert_array_equal(points[0].theta1, 0.0)
    path = exact_lola_training(points[20].game, 20)
    np.testing.assert_array_equal(points[20].theta1, path[-1, 0])
    np.testing.assert_array_equal(points[20].theta2, path[-1, 1])


def test_an_ipd_sweep_gives_the_same_numbers_on_either_kernel(tmp_path):
    """On-policy and off-policy DiCE-LOLA cells on both paths (`build_problem(kernel=...)` reaches
    `LolaProblem.kernel`): on-policy estimates are bit-identical, off-policy ones agree to a few
    ulps (numpy's SIMD exp against libm's), so every stored number agrees to 1e-9 relative, far
    below the standard errors (~1e-2) a different random stream would move them by."""
    text = sweep_text(split='["lll", "lel"]').replace('estimator = ["lola_dice", "lola_exact"]',
                                                      'estimator = ["lola_dice", "lola_off_policy"]')
    text = text.replace("batch = 8", "batch = 8\nbuffer = 32")
    sweep = parse_sweep(text)
    frames = {}
    for kernel in ("numpy", "compiled"):
        assert build_problem(sweep, sweep.cells()[0], kernel=kernel).kernel == kernel
        run_sweep(sweep, tmp_path / kernel, jobs=1, quiet=True, kernel=kernel)
        frame = load_results(tmp_path / kernel / "ipd")
        assert (frame.status == "ok").all(), frame.error.tolist()
        frames[kernel] = frame.sort_values("cell_id").reset_index(drop=True)
    numeric = [column for column in frames["numpy"].columns if column not in ("seconds", "finished_at")
               and frames["numpy"][column].dtype.kind == "f"]
    assert len(frames["numpy"]) == 4 and {"bias", "variance", "corr"} <= set(numeric)
    np.testing.assert_allclose(frames["compiled"][numeric], frames["numpy"][numeric], rtol=1e-9, atol=1e-15)
