"""Liu et al.'s own compositional-bias metric beside mgbench's squared bias (benchmark.studies.liu2022)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from benchmark.studies.liu2022 import OUR_METRIC, THEIR_METRIC, their_compositional_metric, their_metric_table
from benchmark.studies.spec import FigureData


def _cells(rng):
    """Cells of a comp-sample-like sweep: squared bias 0.5/|τ|^1.5 and variance 40/|τ| (plus noise) on 4 MDPs."""
    rows = []
    for estimator in ("maml", "dice"):
        for batch in (2, 8, 32, 128):
            for seed in range(4):
                bias2 = 0.5 * batch ** -1.5 * np.exp(0.1 * rng.standard_normal())
                variance = 40.0 / batch * np.exp(0.1 * rng.standard_normal())
                rows.append(dict(preset="comp-sample", estimator=estimator, batch=batch, steps=2, lr=3.0,
                                 mdp_seed=seed, bias2=bias2, variance=variance, bias_lo=0.9 * np.sqrt(bias2),
                                 bias_hi=1.1 * np.sqrt(bias2)))
    return pd.DataFrame(rows)


def test_their_metric_is_bias2_plus_a_tenth_of_the_variance_per_coordinate():
    cells = _cells(np.random.default_rng(np.random.SeedSequence(24)))
    out = their_compositional_metric(cells, dim=100)
    np.testing.assert_allclose(out["theirs"], (cells["bias2"] + cells["variance"] / 10) / 100, rtol=1e-14)
    np.testing.assert_allclose(out["ours"] + out["variance_part"], out["theirs"], rtol=1e-14)


def test_the_table_says_where_the_variance_dominates_their_metric():
    cells = _cells(np.random.default_rng(np.random.SeedSequence(24)))
    sweep = SimpleNamespace(problem=SimpleNamespace(values={"n_states": 20, "n_actions": 5}))
    rows, text = their_metric_table(FigureData(cells, {"comp-sample": sweep}, False), "comp-sample")
    assert len(rows) == 8 and THEIR_METRIC in rows[0] and OUR_METRIC in rows[0]
    # variance/10 = 4/|τ| against a squared bias of 0.5/|τ|^1.5: the variance is > 90% everywhere here (92% at |τ| = 2)
    assert all(float(row["variance's share of theirs"].rstrip("%")) > 90 for row in rows)
    # their metric falls like the variance (slope −1), our squared bias like |τ|^−1.5
    assert "slope of their metric -1.0" in text and "of our squared bias -1.5" in text
    assert text.count("more than half of their metric at |τ| = 2, 8, 32, 128") == 2


def test_comp_sigma_fits_the_bias_against_sigma_in_pooled_and_within_each_instance():
    """bias = c_m σ_in² with a constant per MDP: slope 2 pooled and within each MDP; the bound's σ_in¹ is
    then loose as σ_in → 0 (consistent), so the claim that the bound holds agrees."""
    from benchmark.studies.liu2022 import compare_comp_sigma

    rng = np.random.default_rng(np.random.SeedSequence(242))
    rows = []
    for seed in range(6):
        constant = np.exp(0.3 * rng.standard_normal())
        for noise in (0.0, 1.0, 2.0, 4.0, 8.0):
            sigma = (0.7 + 0.8 * noise) * np.exp(0.05 * rng.standard_normal())
            bias = 1e-3 * constant * sigma**2 * np.exp(0.03 * rng.standard_normal())
            rows.append(dict(preset="comp-sigma", estimator="maml", critic_noise=noise, mdp_seed=seed, steps=2,
                             lr=3.0, batch=32, sigma_in=sigma, bias=bias, bias2=bias**2, bias_lo=0.9 * bias,
                             bias_hi=1.1 * bias, variance=1.0))
    comparison = compare_comp_sigma(FigureData(pd.DataFrame(rows), {}, False))
    assert comparison.verdict == "agrees" and "→ consistent as σ_in → 0" in comparison.text
    assert "log-log slope 2.0" in comparison.text or "log-log slope 1.9" in comparison.text
    assert "within each instance 2.0" in comparison.text or "within each instance 1.9" in comparison.text
