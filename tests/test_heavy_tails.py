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

from scipy import stats

from benchmark.analysis.statistics import (TAIL_CAPACITY, TAIL_SHARE_LIMIT, CellStatistics, _PooledMetrics,
                                           _resampling_counts, bias_variance, heavy_tailed, hill_count,
                                           studentized_interval, tail_count, tail_index_critical, tail_test_depths,
                                           variance_unbounded)
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


def pareto_cell(alpha, repetitions, rng):
    """`(R, 1)` estimates g = sqrt(X)·(±1) with X Pareto(α) on [1, ∞): ‖g − m‖² has tail index α."""
    return (np.sqrt(rng.pareto(alpha, repetitions) + 1.0) * rng.choice([-1.0, 1.0], repetitions))[:, None]


def test_the_tail_test_depths_and_critical_values_follow_the_pareto_law_of_hills_estimate():
    """k = 2⌊√R⌋ (at most 64), s = ⌈k/4⌉; the critical value c_k(q) = 2k/χ²_{2k}(q) is exceeded by
    Hill's estimate from k Pareto(1) log-spacings (k/α̂ = Σ E_i, E_i iid Exp(1)) with probability q."""
    assert [tail_test_depths(r) for r in (2, 10, 100, 1000, 10_000)] == [(1, 1), (6, 2), (20, 5), (62, 16), (64, 16)]
    rng = np.random.default_rng(0)
    for depth in (5, 16, 62):
        estimates = depth / rng.standard_exponential((200_000, depth)).sum(axis=1)
        rejected = np.mean(estimates > tail_index_critical(depth, 0.025))
        assert abs(rejected - 0.025) < 4 * np.sqrt(0.025 * 0.975 / 200_000), (depth, rejected)
    assert tail_index_critical(62, 0.025) == pytest.approx(124 / stats.chi2.ppf(0.025, 124))


@pytest.mark.parametrize("alpha, least, most", [(0.7, 0.95, 1.0), (3.0, 0.0, 0.0)])
def test_a_tail_too_heavy_for_a_variance_gives_infinite_upper_limits(alpha, least, most):
    """‖g − m‖² with a Pareto(α) tail, R = 1000 (k = 62, s = 16), 60 cells. At α = 0.7 the
    variance does not exist, and a finite limit needs α̂ > 1.30 at depth 62 (P(χ²₁₂₄ < 124·0.7/1.30
    = 67) ≈ 1e-6) or α̂ > 1.75 at 16 (P(χ²₃₂ < 12.8) ≈ 0.001): about never, asserted ≥ 0.95; at
    α = 3 both reject α ≤ 1 always."""
    rng = np.random.default_rng(int(10 * alpha))
    infinite = 0
    for _ in range(60):
        out = bias_variance(pareto_cell(alpha, 1000, rng), np.zeros(1), rng, n_bootstrap=50)
        infinite += out["variance_hi"] == np.inf
        assert (out["variance_hi"] == np.inf) == (out["mse_hi"] == np.inf) == (out["bias_hi"] == np.inf)
    assert least <= infinite / 60 <= most, infinite


def test_a_pareto_tail_of_index_0_9_is_flagged_in_at_least_nine_cells_of_ten():
    """The bandit DiCE case (tail index ~0.9 of ‖g − m‖², issue 25), R = 1000, 200 cells through
    `bias_variance`: measured 0.993 of 1,000 cells infinite (a finite limit needs α̂ > 1.30 at depth
    62 or > 1.75 at 16: P ≈ 0.002 + 0.005); asserted ≥ 0.9 (the issue's aim)."""
    rng = np.random.default_rng(9)
    infinite = sum(bias_variance(pareto_cell(0.9, 1000, rng), np.zeros(1), rng, n_bootstrap=20)["variance_hi"] == np.inf
                   for _ in range(200))
    assert infinite / 200 >= 0.9, infinite


@pytest.mark.parametrize("repetitions, cells", [(1000, 2000), (10_000, 400)])
def test_at_a_tail_index_of_1_finite_limits_are_as_rare_as_the_level_says(repetitions, cells):
    """The test's size: at the boundary α = 1 of 'no variance' (Pareto), a finite upper limit is a
    false assurance; its rate is at most 1 − c = 5 % (Bonferroni over the two depths, 4.6 % exactly
    for a Pareto law). Measured 0.050 of 4,000 cells (R = 1000) and 0.039 of 2,000 (R = 10⁴); asserted within
    3 binomial SE of 0.046 from above, and not far below it (0.046 less 4 SE: the test is not
    needlessly conservative). `variance_unbounded` on the sorted ‖g − m‖², as the summary calls it."""
    rng = np.random.default_rng(repetitions)
    finite = 0
    for _ in range(cells):
        g = pareto_cell(1.0, repetitions, rng)
        squares = np.sort(((g - g.mean()) ** 2).ravel())[::-1][:TAIL_CAPACITY]
        finite += not variance_unbounded(squares, repetitions, 0.05)
    se = np.sqrt(0.046 * 0.954 / cells)
    assert 0.046 - 4 * se <= finite / cells <= 0.046 + 3 * se, finite / cells


@pytest.mark.parametrize("dim", [1, 2, 20])
def test_gaussian_cells_are_not_flagged_at_r_1000(dim):
    """The false-alarm rate: Gaussian estimates (‖g − m‖² ~ χ²_d, a light tail) at R = 1000 get an
    infinite upper limit in at most the stated 1 % of cells (measured 0 of 1,000 for d = 1, 2, 20;
    docs/methods.md, Heavy tails), checked on 300 cells through `bias_variance` against 1 % plus 3
    binomial SE."""
    rng = np.random.default_rng(dim)
    infinite = sum(bias_variance(rng.standard_normal((1000, dim)), np.zeros(dim), rng, n_bootstrap=20)["variance_hi"]
                   == np.inf for _ in range(300))
    assert infinite / 300 <= 0.01 + 3 * np.sqrt(0.01 * 0.99 / 300), infinite


def test_bandit_dice_cells_are_flagged_and_truncated_ones_mostly_not():
    """Issue 25, on the real estimators: `vuorio2022-bandit` at η = (1.5, 1.5), lifetime 80, 10 pulls,
    R = 1000, seeds 0-11 (~10 s on the compiled kernel). DiCE (tail index of ‖g − m‖² ~0.9: no
    variance) gets an infinite upper limit in at least 11 of 12 cells (measured 12 of 12, and 200 of
    200 on seeds 0-199); truncated backprop with window 2 (λ_c = 0; kurtosis ~80, tail index ~2)
    in at most 2 of 12 (measured 0 of 12, 7 of 200)."""
    from estimators import get_estimator
    from estimators.bandit.problem import BanditLifetimeProblem

    problem = BanditLifetimeProblem(eta=np.array([1.5, 1.5]), lifetime=80, batch=10)
    infinite = {}
    for name, parameters in (("dice", {}), ("truncated", {"window": 2, "lambda_c": 0.0})):
        estimator = get_estimator(name, "bandit")
        infinite[name] = 0
        for seed in range(12):
            g = np.asarray(estimator(problem, 1000, np.random.default_rng(seed), **parameters)).reshape(1000, -1)
            statistics = CellStatistics(np.zeros(g.shape[1]))
            for start in range(0, 1000, 64):
                statistics.add_block(g[start:start + 64], 8)
            infinite[name] += statistics.summary(np.random.default_rng(seed), n_bootstrap=50)["variance_hi"] == np.inf
    assert infinite["dice"] >= 11 and infinite["truncated"] <= 2, infinite


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
# ~10⁴; measured power on these cells with the rule that a finite limit needs Hill's estimate to
# reject a tail index ≤ 1 (docs/methods.md): 1.00 for Gaussian cells, 0.977 for the Student-t laws
# at R = 1000 and 1.00 at R = 10⁴; for the mixtures whose ~30 (p = 0.03, R = 1000; p = 0.003,
# R = 10⁴) or ~3 rare estimates carry the variance 0.015-0.065 (a few dozen draws of the rare
# scale cannot show that its tail stops: the rule's price; before it, 0.95 and 0.55 for the ~30),
# so no least value there (0). Least values ~4 binomial SE below the measured ones.
COVERAGE_CASES = [
    ("normal", None, 1000, 300, 0.99),
    ("t", 4.06, 1000, 300, 0.9),             # kurtosis 103
    ("t", 4.006, 1000, 300, 0.9),            # 1,003
    ("t", 4.0006, 1000, 300, 0.9),           # 10,003
    ("mixture", (0.03, 100.0), 1000, 300, 0.0),      # 99; measured 0.030
    ("mixture", (0.003, 1000.0), 1000, 300, 0.0),    # 999; 0.027
    ("normal", None, 10_000, 200, 0.99),
    ("t", 4.006, 10_000, 200, 0.9),
    ("t", 4.0006, 10_000, 200, 0.9),
    ("mixture", (0.003, 1000.0), 10_000, 200, 0.0),  # 999; 0.015
    ("mixture", (0.0003, 3000.0), 10_000, 200, 0.0),  # 9,993; 0.065
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
    band; 0.90 itself is asserted, measured 0.975), and the upper limit is finite in at least
    90 % of them (measured 0.945 with the tail-index test: ν = 4.004 is a tail index ~2 of
    ‖g − m‖², which Hill's test at R = 1000 fails to separate from 1 in ~5 % of cells); the tail
    diagnostics are columns of results.csv."""
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
