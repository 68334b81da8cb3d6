"""Intervals and tail diagnostics under heavy tails (docs/methods.md, "Heavy tails").

Synthetic estimates g = μ + s·z (z ~ N(0, diag(1, 4)), one scale s per estimate, shared by
both coordinates, as one rare event moves a whole meta-gradient) with known mean, variance
and kurtosis: s = 1 (Gaussian, kurtosis 3); s = 1/sqrt(χ²_ν/ν) (Student-t with ν degrees of
freedom, kurtosis 3 + 6/(ν − 4)); s = S with probability p, else 1 (a scale mixture, kurtosis
3(1 − p + pS⁴)/(1 − p + pS²)²). The target is μ − b with b five noise floors long, so bias,
variance, std_sum and mse are all known.

Tolerances: the streamed diagnostics are exact reformulations (rtol 1e-9). Coverage over n
independent cells must lie within 3 binomial standard errors of 95 % (sqrt(0.95·0.05/n));
above the band only where intervals are infinite by design (a conservative interval), so the
upper end is checked on Gaussian estimates only. An interval that is always infinite would
cover: the fraction of finite upper limits (the power) is checked too.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark.analysis.statistics import (TAIL_CAPACITY, TAIL_SHARE_LIMIT, CellStatistics, _PooledMetrics,
                                           _resampling_counts, bias_variance, heavy_tailed, hill_count,
                                           studentized_interval, tail_count)
from benchmark.present.pages import fmt_bias, fmt_interval
from benchmark.sweeps.cells import _refuse_overflow

REPOSITORY = Path(__file__).resolve().parents[1]
SCALES = np.array([1.0, 2.0])
MEAN = np.array([1.0, -1.0])
METRICS = ("bias", "variance", "std_sum", "mse")


def law(kind: str, parameter):
    """`(draw scales (rng, n) -> (n,), variance factor E s², kurtosis)` of one law of the scale s."""
    if kind == "normal":
        return (lambda rng, n: np.ones(n)), 1.0, 3.0
    if kind == "t":
        nu = parameter
        return (lambda rng, n: 1.0 / np.sqrt(rng.chisquare(nu, n) / nu)), nu / (nu - 2.0), 3.0 + 6.0 / (nu - 4.0)
    p, big = parameter
    factor = 1.0 - p + p * big**2
    return (lambda rng, n: np.where(rng.random(n) < p, big, 1.0)), factor, 3.0 * (1.0 - p + p * big**4) / factor**2


def stream_cell(kind, parameter, repetitions, rng):
    """One cell streamed as a sweep streams it: its summary and the true metrics. A sweep adds
    blocks of 64 estimates in 8 batches each; at R = 1000 that is 128 units of ~8, and at
    R = 10⁴ the 1,250 batches are merged down to 157 units of 64 (`CellStatistics`), which is
    what adding batches of 64 gives here without the merging's Python loop."""
    scales, factor, _ = law(kind, parameter)
    variances = factor * SCALES**2
    variance = float(variances.sum())
    bias = 5.0 * np.sqrt(variance / repetitions)
    target = MEAN - bias * np.array([0.6, 0.8])
    statistics = CellStatistics(target)
    block = 64 if repetitions <= 1000 else 1024
    for start in range(0, repetitions, block):
        n = min(block, repetitions - start)
        batch = 8 if repetitions <= 1000 else 64
        statistics.add_block(MEAN + scales(rng, n)[:, None] * SCALES * rng.standard_normal((n, 2)), -(-n // batch))
    truth = {"bias": bias, "variance": variance, "std_sum": float(np.sqrt(variances).sum()), "mse": variance + bias**2}
    return statistics.summary(rng, n_bootstrap=1000), truth


def binomial_band(cells: int, level: float = 0.95, width: float = 3.0) -> tuple[float, float]:
    se = np.sqrt(level * (1 - level) / cells)
    return level - width * se, level + width * se


# ----------------------------------------------------------------------------- diagnostics, exactly

def direct_diagnostics(g: np.ndarray) -> dict[str, float]:
    centred = g - g.mean(axis=0)
    m2, m4 = np.sum(centred**2, axis=0), np.sum(centred**4, axis=0)
    squares = np.sort(np.sum(centred**2, axis=1))[::-1]
    k, h = tail_count(g.shape[0]), hill_count(g.shape[0])
    return {"kurtosis": float(np.max(g.shape[0] * m4 / m2**2)),
            "tail_share": float(squares[:k].sum() / squares.sum()),
            "tail_index": float(h / np.sum(np.log(squares[:h] / squares[h]))),
            "trimmed_variance": float(squares[k:].sum() / (g.shape[0] - k - 1))}


@pytest.mark.parametrize("repetitions, sizes, max_batches", [(1000, 64, 256), (3000, 50, 8), (20_000, 640, 16)])
def test_tail_diagnostics_equal_direct_numpy_whatever_the_batching_and_merging(repetitions, sizes, max_batches):
    rng = np.random.default_rng(repetitions)
    scales, _, _ = law("t", 4.5)
    g = 3.0 + scales(rng, repetitions)[:, None] * SCALES * rng.standard_normal((repetitions, 2))
    statistics = CellStatistics(np.zeros(2), max_batches=max_batches)
    for start in range(0, repetitions, sizes):
        statistics.add_block(g[start:start + sizes], 8)
    out = statistics.summary(np.random.default_rng(0), n_bootstrap=50)
    for key, value in direct_diagnostics(g).items():
        np.testing.assert_allclose(out[key], value, rtol=1e-9, err_msg=key)
    assert statistics._tail_rows.shape[0] <= TAIL_CAPACITY          # memory independent of R
    assert statistics.n_units <= max_batches + 1


def test_tail_count_is_the_top_tenth_of_a_percent_at_least_one_and_bounded():
    assert [tail_count(r) for r in (1, 999, 1000, 10_000, 64_000, 10**6)] == [1, 1, 1, 10, 64, TAIL_CAPACITY // 2]
    assert [hill_count(r) for r in (1, 1000, 10_000)] == [2, 31, TAIL_CAPACITY // 2]


@pytest.mark.parametrize("alpha", [0.8, 1.5, 3.0])
def test_tail_index_recovers_a_pareto_index(alpha):
    """‖g − m‖² with a Pareto(α) tail (g = sqrt(X) u, X Pareto, u a random sign; R = 4096, h = 64):
    Hill's estimate of a pure Pareto law has 2hα/α̂ ~ χ²_{2h}, so α/α̂ has mean 1 and sd 1/sqrt(h)
    per cell: over 40 cells their mean is within 4 standard errors of 1 (the centring by m moves
    the values by O(1/R))."""
    rng = np.random.default_rng(int(10 * alpha))
    ratios = []
    for _ in range(40):
        x = rng.pareto(alpha, 4096) + 1.0
        g = (np.sqrt(x) * rng.choice([-1.0, 1.0], 4096))[:, None]
        out = bias_variance(g, np.zeros(1), np.random.default_rng(0), n_bootstrap=10)
        ratios.append(alpha / out["tail_index"])
    h = hill_count(4096)
    assert abs(np.mean(ratios) - 1.0) < 4 / np.sqrt(h) / np.sqrt(40), np.mean(ratios)


def test_gaussian_diagnostics_are_small_and_a_dominant_estimate_makes_every_upper_limit_infinite():
    """One estimate carrying more than half of Σ‖g − m‖² (a Gaussian sample plus one outlier at
    60 standard deviations): variance, std_sum, mse and bias have upper limit +∞, their lower
    limits stay finite; without the outlier every limit is finite and nothing is flagged."""
    rng = np.random.default_rng(1)
    g = MEAN + SCALES * rng.standard_normal((1000, 2))
    plain = bias_variance(g, MEAN, np.random.default_rng(2))
    assert plain["kurtosis"] < 4 and plain["tail_share"] < 0.03 and plain["tail_index"] > 2
    assert not heavy_tailed([plain["kurtosis"]], [plain["tail_share"]], [plain["variance_hi"]], [plain["tail_index"]])[0]
    assert all(np.isfinite(plain[f"{key}_hi"]) for key in METRICS)
    g[500] = MEAN + 60 * SCALES
    spiked = bias_variance(g, MEAN, np.random.default_rng(2))
    assert spiked["tail_share"] >= TAIL_SHARE_LIMIT
    assert heavy_tailed([spiked["kurtosis"]], [spiked["tail_share"]], [spiked["variance_hi"]])[0]
    for key in METRICS:
        assert spiked[f"{key}_hi"] == np.inf and np.isfinite(spiked[f"{key}_lo"]), key
    assert spiked["trimmed_variance"] == pytest.approx(plain["variance"], rel=0.1)


@pytest.mark.parametrize("alpha, least, most", [(0.7, 0.4, 1.0), (3.0, 0.0, 0.0)])
def test_a_tail_too_heavy_for_a_variance_gives_infinite_upper_limits(alpha, least, most):
    """‖g − m‖² with a Pareto(α) tail, R = 1000 (h = 31, h/4 = 8), 60 cells. At α = 0.7 the
    variance does not exist: both Hill estimates fall below 1 with probability ~0.6 (2hα/α̂ ~
    χ²_{2h}: P(χ²₆₂ > 43) ≈ 0.97, P(χ²₁₆ > 11) ≈ 0.8, correlated), asserted ≥ 0.4 (4 binomial
    SE below); at α = 3 P(χ²₆₂ > 186) ≈ 0: never."""
    rng = np.random.default_rng(int(10 * alpha))
    infinite = 0
    for _ in range(60):
        g = (np.sqrt(rng.pareto(alpha, 1000) + 1.0) * rng.choice([-1.0, 1.0], 1000))[:, None]
        out = bias_variance(g, np.zeros(1), rng, n_bootstrap=50)
        infinite += out["variance_hi"] == np.inf
        assert (out["variance_hi"] == np.inf) == (out["mse_hi"] == np.inf) == (out["bias_hi"] == np.inf)
    assert least <= infinite / 60 <= most, infinite


def test_tied_largest_values_give_no_tail_index_and_a_finite_cell():
    """Estimates on a few discrete values (the IPD's can be): the h + 1 largest ‖g − m‖² are equal,
    Hill's estimate is undefined (nan, not ∞), and no limit is infinite."""
    g = np.repeat(np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]), 250, axis=0)
    out = bias_variance(g, np.zeros(2), np.random.default_rng(0), n_bootstrap=50)
    assert np.isnan(out["tail_index"]) and np.isfinite(out["kurtosis"])
    assert all(np.isfinite(out[f"{key}_hi"]) for key in METRICS)


def test_studentized_interval_is_the_bootstrap_t_formula():
    replicates = np.linspace(-1.0, 1.0, 1001)
    errors = np.full(1001, 0.5)                               # t* = 2 r: quantiles ±1.95 at 95 %
    lo, hi = studentized_interval(10.0, 3.0, replicates, errors, 0.95)
    q = np.quantile(2 * replicates - 20.0, [0.025, 0.975])    # (r − 10) / 0.5
    assert (lo, hi) == pytest.approx((10.0 - q[1] * 3.0, 10.0 - q[0] * 3.0))
    assert studentized_interval(10.0, 0.0, replicates, errors) == (10.0, 10.0)
    assert np.isnan(studentized_interval(np.nan, 1.0, replicates, errors)[0])


def test_std_sum_replicates_and_standard_errors_match_the_raw_resampled_estimates():
    """std_sum* from the pooled sums equals the resampled raw estimates' std_sum (1e-9), and
    each standard error equals its delta-method formula Σ_u (a_u − n_u θ)² / n² computed
    from the raw estimates of each unit."""
    rng = np.random.default_rng(3)
    d = 3
    batches = [rng.standard_normal((size, d)) * [1, 2, 3] + 0.5 for size in (4, 7, 5, 6, 3, 8)]
    statistics = CellStatistics(np.zeros(d))
    for batch in batches:
        statistics.add_batch(batch)
    n, means, m2, sse, _ = statistics._arrays()
    mean = (n @ means) / n.sum()
    pooled = _PooledMetrics(n, means, m2, sse, mean, np.zeros(d))
    weights = _resampling_counts(np.random.default_rng(4), 20, len(batches))
    replicates = pooled(weights)
    for b, counts in enumerate(weights.astype(int)):
        sample = np.concatenate([batch for batch, k in zip(batches, counts) for _ in range(k)])
        np.testing.assert_allclose(replicates["std_sum"][b], sample.std(axis=0, ddof=1).sum(), rtol=1e-9)
    at_sample = pooled(np.ones((1, len(batches))))
    whole = np.concatenate(batches)
    total, variance = whole.shape[0], whole.var(axis=0, ddof=1)
    within = np.array([np.sum((batch - mean) ** 2) for batch in batches])
    per_coordinate = np.array([np.sum((batch - mean) ** 2, axis=0) for batch in batches])
    expected = {
        "variance_se": np.sqrt(np.sum((within - n * variance.sum()) ** 2)) / total,
        "mse_se": np.sqrt(np.sum((sse - n * sse.sum() / total) ** 2)) / total,
        "std_sum_se": np.sqrt(np.sum((per_coordinate @ (0.5 / np.sqrt(variance))
                                      - n * 0.5 * np.sqrt(variance).sum()) ** 2)) / total,
    }
    for key, value in expected.items():
        np.testing.assert_allclose(at_sample[key][0], value, rtol=1e-9, err_msg=key)


def test_pages_print_an_infinite_upper_limit_and_cells_keep_it():
    assert fmt_interval(1.0, 0.5, np.inf) == "1 [0.5, ∞]"
    assert fmt_bias(0.1, 0.0, np.inf) == "not resolved"
    assert fmt_bias(0.1, 0.05, np.inf) == "0.1 [0.05, ∞]"
    assert fmt_bias(0.1, 0.0, 0.3) == "< 0.3"
    _refuse_overflow({"variance": 1.0, "variance_hi": np.inf, "bias_hi": np.inf})     # kept: a statement
    with pytest.raises(Exception, match="variance_lo"):
        _refuse_overflow({"variance": 1.0, "variance_lo": np.inf})
    flags = heavy_tailed([3.0, 25.0, 3.0, np.nan], [0.01, 0.01, 0.2, np.nan], [1.0, 1.0, 1.0, np.inf])
    assert flags.tolist() == [False, True, True, True]
    assert heavy_tailed([3.0, 3.0], [0.01, 0.01], [1.0, 1.0], [4.0, 1.5]).tolist() == [False, True]


# ----------------------------------------------------------------------------- coverage

# (law, parameter, R, cells, least fraction of finite upper limits). Kurtosis 3, ~10², ~10³,
# ~10⁴; measured power (docs/methods.md): 1.00 for the Student-t laws; 0.03-0.06 for the mixture
# whose ~3 rare estimates carry the variance (0.03-0.06 at R = 1000, 0.04-0.1 at R = 10⁴); 0.55 with 30
# of them at R = 10⁴ (Hill's estimate mistakes the gap to the rare component for a power law at
# both depths in the other 0.45); least values ~4 binomial SE below the measured ones.
COVERAGE_CASES = [
    ("normal", None, 1000, 300, 0.99),
    ("t", 4.06, 1000, 300, 0.9),             # kurtosis 103
    ("t", 4.006, 1000, 300, 0.9),            # 1,003
    ("t", 4.0006, 1000, 300, 0.9),           # 10,003
    ("mixture", (0.03, 100.0), 1000, 300, 0.9),      # 99
    ("mixture", (0.003, 1000.0), 1000, 300, 0.01),   # 999
    ("normal", None, 10_000, 200, 0.99),
    ("t", 4.006, 10_000, 200, 0.9),
    ("t", 4.0006, 10_000, 200, 0.9),
    ("mixture", (0.003, 1000.0), 10_000, 200, 0.4),  # 999
    ("mixture", (0.0003, 3000.0), 10_000, 200, 0.02),  # 9,993
]


@pytest.mark.slow
@pytest.mark.parametrize("kind, parameter, repetitions, cells, power", COVERAGE_CASES)
def test_interval_coverage_under_heavy_tails(kind, parameter, repetitions, cells, power):
    rng = np.random.default_rng([repetitions, cells, int(1e4 * law(kind, parameter)[2])])
    covered = dict.fromkeys(METRICS, 0)
    finite = 0
    for _ in range(cells):
        out, truth = stream_cell(kind, parameter, repetitions, rng)
        for key in METRICS:
            covered[key] += out[f"{key}_lo"] <= truth[key] <= out[f"{key}_hi"]
        finite += bool(np.isfinite(out["variance_hi"]))
    lo, hi = binomial_band(cells)
    coverage = {key: value / cells for key, value in covered.items()}
    for key in METRICS:
        assert coverage[key] >= lo, (key, coverage)
        if kind == "normal":
            assert coverage[key] <= hi, (key, coverage)
    assert finite / cells >= power, (finite / cells, coverage)


@pytest.mark.slow
def test_a_user_sweep_of_a_heavy_tailed_estimate_covers_its_variance(tmp_path):
    """The issue's acceptance check, run as a user runs it: `mgbench sweep` of 200 cells of a
    Student-t estimate with kurtosis ~1,500 (ν = 4.004), 1,000 estimates per cell, known
    variance 1 (docs/examples/heavy-tailed.toml): [variance_lo, variance_hi] contains 1 in at
    least 90 % of the cells (less 3 binomial SE at 90 %: 0.836 with 200 cells would be the
    band; 0.90 itself is asserted, measured 0.955), and the upper limit is finite in at least
    90 % of them; the tail diagnostics are columns of results.csv."""
    process = subprocess.run(
        [sys.executable, "-m", "benchmark", "sweep", str(REPOSITORY / "docs/examples/heavy-tailed.toml"),
         "--plugin", str(REPOSITORY / "docs/examples/heavy_tailed_estimator.py"), "--quiet", "--no-report",
         "--jobs", "2", "--out", str(tmp_path)], cwd=REPOSITORY, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    results = pd.read_csv(tmp_path / "heavy-tailed" / "results.csv")
    assert {"kurtosis", "tail_share", "trimmed_variance", "std_sum_lo", "std_sum_hi"} <= set(results.columns)
    assert len(results) == 200 and (results["status"] == "ok").all()
    covered = (results["variance_lo"] <= 1.0) & (1.0 <= results["variance_hi"])
    assert covered.mean() >= 0.90, covered.mean()
    assert np.isfinite(results["variance_hi"]).mean() >= 0.90
