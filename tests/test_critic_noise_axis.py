"""σ_in as an axis: the tabular family's optional `critic_noise` grid axis (issue 24, item 2)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.analysis.aggregation import bound_check
from benchmark.families.schema import SweepError
from benchmark.sweeps.cells import build_problem, inner_gradient_sigma
from benchmark.sweeps.loading import parse_sweep

SWEEP = """
name = "noise-axis"
repetitions = 8
[problem]
kind = "tabular"
preset = "liu2022"
n_mdps = 1
{critic}
[grid]
estimator = ["maml", "dice"]
split = "lee"
steps = 2
lr = 3.0
batch = 4
critic_noise = {noise}
"""


def test_each_cell_builds_its_problem_with_its_noise_and_gets_its_own_sigma_in():
    sweep = parse_sweep(SWEEP.format(critic="", noise="[0.0, 4.0]"))
    cells = sweep.cells()
    assert len(cells) == 4 and sorted({cell.axis("critic_noise") for cell in cells}) == [0.0, 4.0]
    sigma = {}
    for cell in cells:
        problem = build_problem(sweep, cell)
        assert problem.critic_noise == cell.axis("critic_noise")
        sigma[(cell.estimator, cell.axis("critic_noise"))] = inner_gradient_sigma(sweep, cell, problem)
    assert sigma[("maml", 4.0)] > 2 * sigma[("maml", 0.0)]       # MAML's critic carries the noise
    assert sigma[("dice", 4.0)] == pytest.approx(sigma[("dice", 0.0)], rel=0.1)   # DiCE has no critic
    # without the axis, the cells and their keys are those of the field
    plain = parse_sweep(SWEEP.format(critic="", noise="[1.0]").replace("critic_noise = [1.0]", ""))
    assert all("critic_noise" not in cell.key for cell in plain.cells())


def test_the_axis_needs_the_noisy_critic_and_non_negative_values():
    parse_sweep(SWEEP.format(critic="", noise="[0.0, 1.0]")).check()
    with pytest.raises(SweepError, match="grid.critic_noise"):
        parse_sweep(SWEEP.format(critic='critic = "exact"', noise="[0.0, 1.0]")).check()
    with pytest.raises(SweepError, match="critic_noise"):
        parse_sweep(SWEEP.format(critic="", noise="[-1.0, 1.0]")).check()


@pytest.mark.parametrize("power, verdict", [(2.0, "consistent"), (1.0, "tight"), (0.5, "violated")])
def test_the_bound_is_judged_along_sigma_in_toward_zero(power, verdict):
    """bias = c σ_in^p with 2% noise: p = 2 vanishes faster than the bound's σ_in¹ as σ_in → 0 (consistent)."""
    rng = np.random.default_rng(np.random.SeedSequence(24))
    sigma = np.repeat([0.7, 1.0, 1.4, 2.0, 3.0, 5.0], 4)
    bias = 0.01 * sigma**power * np.exp(0.02 * rng.standard_normal(sigma.size))
    cells = pd.DataFrame({"steps": 2, "lr": 3.0, "batch": 32, "sigma_in": sigma, "bias": bias,
                          "bias_lo": 0.9 * bias, "bias_hi": 1.1 * bias})
    check = bound_check(cells, "compositional", "sigma_in")
    assert check.verdict == verdict and abs(check.slope - power) < 0.1
