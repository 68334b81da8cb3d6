"""benchmark.analysis.statistics against direct numpy computations and known sampling distributions.

Tolerances: point metrics are exact reformulations (float rounding only, rtol 1e-10);
statistical checks use the standard error over independent seeds (|mean - truth| < 4 SE,
coverage within ±3 binomial SE of the nominal level).
"""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.analysis.statistics import (ROUNDING_FLOOR, SUMMARY_KEYS, CellStatistics, _PooledMetrics, _resampling_counts,
                                           bias_variance, expanded_confidence, mean_of_n_squared_error, pearson_with_target, percentile_interval,
                                           with_target_error)

POINT_KEYS = ("count", "bias2", "bias", "rel_bias", "variance", "mse", "cosine", "corr", "std_sum",
              "target_norm", "noise_floor")
RTOL = 1e-10


def gaussian_estimates(rng, repetitions, mean, scale):
    """g ~ N(mean, diag(scale²)), `(R, d)`."""
    return mean + scale * rng.standard_normal((repetitions, mean.size))


def direct_metrics(g: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """docs/methods.md (Metrics per cell), computed on the full `(R, d)` array."""
    repetitions = g.shape[0]
    m = g.mean(axis=0)
    v = float(np.trace(np.atleast_2d(np.cov(g, rowvar=False, ddof=1))))
    bias2 = float(np.sum((m - target) ** 2) - v / repetitions)
    corr = np.array([np.corrcoef(row, target)[0, 1] for row in g])
    return {
        "count": repetitions,
        "bias2": bias2,
        "bias": np.sqrt(max(bias2, 0.0)),
        "rel_bias": np.sqrt(max(bias2, 0.0)) / np.linalg.norm(target),
        "variance": v,
        "mse": float(np.mean(np.sum((g - target) ** 2, axis=1))),
        "cosine": float(m @ target / (np.linalg.norm(m) * np.linalg.norm(target))),
        "corr": float(corr.mean()),
        "std_sum": float(g.std(axis=0, ddof=1).sum()),
        "target_norm": float(np.linalg.norm(target)),
        "noise_floor": float(np.sqrt(v / repetitions)),
    }


def streamed(g, target, sizes, rng=None, **kwargs):
    stats = CellStatistics(target, **kwargs)
    for batch in np.split(g, np.cumsum(sizes)[:-1]):
        stats.add_batch(batch)
    return stats, stats.summary(rng or np.random.default_rng(0), n_bootstrap=200)


@pytest.fixture
def problem():
    rng = np.random.default_rng(2024)
    d = 6
    target = np.linspace(-1.0, 2.0, d)
    mean = target + np.array([0.3, -0.1, 0.0, 0.05, 0.2, -0.4])
    scale = np.linspace(0.5, 2.0, d)
    return gaussian_estimates(rng, 1000, mean, scale), target


def test_summary_has_exactly_the_documented_keys(problem):
    g, target = problem
    out = bias_variance(g, target, np.random.default_rng(1), n_bootstrap=50)
    assert tuple(out) == SUMMARY_KEYS
    assert isinstance(out["count"], int) and out["count"] == 1000
    assert all(isinstance(value, float) for key, value in out.items() if key != "count")


def test_point_metrics_equal_direct_numpy(problem):
    g, target = problem
    sizes = [64] * 15 + [40]  # blocks of 64 repetitions and a short last one
    _, out = streamed(g, target, sizes)
    expected = direct_metrics(g, target)
    for key in POINT_KEYS:
        np.testing.assert_allclose(out[key], expected[key], rtol=RTOL, atol=0, err_msg=key)


def test_point_metrics_do_not_depend_on_the_batching(problem):
    g, target = problem
    rng = np.random.default_rng(5)
    cuts = np.sort(rng.choice(np.arange(1, 1000), size=30, replace=False))
    batchings = [[1000], [100] * 10, [1] * 1000, list(np.diff(np.r_[0, cuts, 1000]))]
    reference = streamed(g, target, batchings[0])[1]
    for sizes in batchings[1:]:
        out = streamed(g, target, sizes, max_batches=2000)[1]
        for key in POINT_KEYS:
            np.testing.assert_allclose(out[key], reference[key], rtol=RTOL, err_msg=f"{key} {len(sizes)} batches")


def test_merging_bounds_memory_and_keeps_count_and_point_metrics(problem):
    g, target = problem
    reference = direct_metrics(g, target)
    stats, out = streamed(g, target, [10] * 100, max_batches=8)
    assert stats.count == out["count"] == 1000
    assert stats.n_units <= 9
    complete = [unit[0] for unit in stats._units]
    assert len(set(complete)) == 1, "complete units must be equal-size blocks"
    for key in POINT_KEYS:
        np.testing.assert_allclose(out[key], reference[key], rtol=RTOL, err_msg=key)
    assert np.isfinite(out["variance_lo"]) and out["variance_lo"] <= out["variance"] <= out["variance_hi"]


def test_memory_does_not_grow_with_repetitions():
    rng = np.random.default_rng(3)
    target = np.zeros(3)
    stats = CellStatistics(target, max_batches=16)
    held = []
    for _ in range(2000):
        stats.add_batch(rng.standard_normal((5, 3)))
        held.append(stats.n_units)
    assert stats.count == 10_000
    assert max(held) <= 17
    assert min(held[100:]) >= 8  # never collapses below max_batches/2 units


def test_centred_sums_are_stable_for_a_large_mean():
    rng = np.random.default_rng(4)
    g = 1e8 + rng.standard_normal((2000, 3))
    target = np.full(3, 1e8)
    _, out = streamed(g, target, [100] * 20)
    np.testing.assert_allclose(out["variance"], np.sum(np.var(g - 1e8, axis=0, ddof=1)), rtol=1e-6)


@pytest.mark.parametrize("offset", [0.0, 0.15])
def test_bias2_is_unbiased_and_the_naive_estimate_is_not(offset):
    """E[bias2] = ‖μ - g*‖²; the naive ‖m - g*‖² is too large by tr(Σ)/R (= 0.096 here)."""
    rng = np.random.default_rng(11)
    seeds, repetitions = 2000, 50
    target = np.array([1.0, -1.0, 0.5, 0.0])
    mean = target + offset
    scale = np.array([0.5, 1.0, 1.5, 1.0])
    truth = float(np.sum((mean - target) ** 2))
    bias2, naive = np.empty(seeds), np.empty(seeds)
    for seed in range(seeds):
        stats = CellStatistics(target)
        g = gaussian_estimates(rng, repetitions, mean, scale)
        stats.add_batch(g)
        bias2[seed] = stats.summary(rng)["bias2"]
        naive[seed] = np.sum((g.mean(axis=0) - target) ** 2)
    standard_error = bias2.std(ddof=1) / np.sqrt(seeds)
    assert abs(bias2.mean() - truth) < 4 * standard_error
    naive_se = naive.std(ddof=1) / np.sqrt(seeds)
    assert naive.mean() - truth > 10 * naive_se  # the test can tell a biased estimator
    np.testing.assert_allclose(naive.mean() - truth, np.sum(scale**2) / repetitions, atol=4 * naive_se)


@pytest.mark.parametrize("repetitions", [4, 50])
def test_mean_of_n_squared_error_from_a_cell_is_liu_et_al_s_metric(repetitions):
    """Liu et al.'s per-MDP metric (1/d)‖mean of 10 estimates − g*‖², drawn literally, against
    (bias2 + variance/10)/d from cells of R estimates (R below and above 10): both unbiased for
    (‖b‖² + tr Σ/10)/d; the cell's own ‖m − g*‖²/d (a mean of R, not 10) is not, unless R = 10."""
    rng = np.random.default_rng(np.random.SeedSequence(2112_15400, spawn_key=(repetitions,)))
    n, groups, cells = 10, 4000, 3000
    target = np.array([1.0, -1.0, 0.5, 0.0, 2.0])
    offset = np.array([0.1, 0.0, -0.2, 0.05, 0.0])
    scale = np.array([0.5, 1.0, 1.5, 1.0, 0.2])
    d = target.size
    truth = (np.sum(offset**2) + np.sum(scale**2) / n) / d
    assert mean_of_n_squared_error(np.sum(offset**2), np.sum(scale**2), n, d) == pytest.approx(truth, rel=1e-14)
    theirs = np.mean((gaussian_estimates(rng, groups * n, target + offset, scale).reshape(groups, n, d).mean(axis=1)
                      - target) ** 2, axis=1)
    assert abs(theirs.mean() - truth) < 4 * theirs.std(ddof=1) / np.sqrt(groups)
    ours, own = np.empty(cells), np.empty(cells)
    for cell in range(cells):
        stats = CellStatistics(target)
        g = gaussian_estimates(rng, repetitions, target + offset, scale)
        stats.add_batch(g)
        summary = stats.summary(rng)
        ours[cell] = mean_of_n_squared_error(summary["bias2"], summary["variance"], n, d)
        own[cell] = np.sum((g.mean(axis=0) - target) ** 2) / d
    assert abs(ours.mean() - truth) < 4 * ours.std(ddof=1) / np.sqrt(cells)
    own_se = own.std(ddof=1) / np.sqrt(cells)
    assert abs(own.mean() - truth) > 10 * own_se        # the test tells a mean of R from a mean of 10
    with pytest.raises(ValueError):
        mean_of_n_squared_error(0.0, 1.0, 0, d)


def test_bootstrap_replicates_match_resampling_the_raw_estimates():
    """The pooled-sum formulas equal recomputing the metrics on the resampled raw estimates."""
    rng = np.random.default_rng(8)
    for d in (3, 12):  # d <= U uses W A directly, d > U the Gram matrix
        target = rng.standard_normal(d)
        batches = [target + 0.3 + rng.standard_normal((size, d)) for size in (4, 7, 5, 6, 3, 8)]
        stats = CellStatistics(target)
        for batch in batches:
            stats.add_batch(batch)
        n, means, m2, sse, _ = stats._arrays()
        pooled = _PooledMetrics(n, means, m2, sse, (n @ means) / n.sum(), target)
        assert pooled.direct == (d <= len(batches))
        weights = _resampling_counts(np.random.default_rng(9), 25, len(batches))
        replicates = pooled(weights)
        for b, counts in enumerate(weights.astype(int)):
            sample = np.concatenate([batch for batch, k in zip(batches, counts) for _ in range(k)])
            expected = direct_metrics(sample, target)
            for key in ("bias2", "variance", "mse"):
                np.testing.assert_allclose(replicates[key][b], expected[key], rtol=1e-9, err_msg=f"{key} d={d}")


def test_resampling_counts_are_multinomial():
    counts = _resampling_counts(np.random.default_rng(0), 4000, 10)
    assert counts.shape == (4000, 10)
    np.testing.assert_array_equal(counts.sum(axis=1), 10)
    # each count ~ Binomial(10, 1/10): mean 1, variance 0.9
    np.testing.assert_allclose(counts.mean(), 1.0, atol=4 * np.sqrt(0.9 / counts.size))
    np.testing.assert_allclose(counts.var(), 0.9, rtol=0.05)


def test_bootstrap_is_seeded_and_intervals_bracket_the_estimates(problem):
    g, target = problem
    first = bias_variance(g, target, np.random.default_rng(7))
    second = bias_variance(g, target, np.random.default_rng(7))
    other = bias_variance(g, target, np.random.default_rng(8))
    assert first == second
    assert first["variance_lo"] != other["variance_lo"]
    for key in ("variance", "mse", "bias"):
        assert first[f"{key}_lo"] <= first[key] <= first[f"{key}_hi"], key


def test_intervals_are_nan_with_fewer_than_two_batches(problem):
    g, target = problem
    stats = CellStatistics(target)
    stats.add_batch(g)
    out = stats.summary(np.random.default_rng(0))
    assert np.isfinite(out["variance"])
    for key in ("bias_lo", "bias_hi", "variance_lo", "variance_hi", "mse_lo", "mse_hi"):
        assert np.isnan(out[key]), key


def test_empty_and_single_estimate():
    target = np.array([1.0, 2.0])
    stats = CellStatistics(target)
    out = stats.summary(np.random.default_rng(0))
    assert out["count"] == 0 and np.isnan(out["mse"]) and out["target_norm"] == np.sqrt(5)
    stats.add_batch(np.array([[2.0, 2.0]]))
    out = stats.summary(np.random.default_rng(0))
    assert out["mse"] == 1.0 and np.isnan(out["variance"]) and np.isnan(out["bias2"])


def test_correlation_conventions():
    target = np.array([0.0, 1.0, 2.0])
    estimates = np.array([[1.0, 1.0, 1.0], [0.0, 2.0, 4.0], [2.0, 1.0, 0.0], [0.1, 0.1, 0.1]])
    np.testing.assert_allclose(pearson_with_target(estimates, target), [0.0, 1.0, -1.0, 0.0])
    assert np.isnan(pearson_with_target(estimates, np.ones(3))).all()
    stats = CellStatistics(target)
    stats.add_batch(estimates)
    np.testing.assert_allclose(stats.summary(np.random.default_rng(0))["corr"], 0.0, atol=1e-15)


def test_an_estimate_zero_up_to_rounding_counts_as_constant_and_a_small_one_does_not():
    """corr_r = 0 once ‖g_r − ḡ_r 1‖ <= ROUNDING_FLOOR ‖g*‖ (rounding residue), whatever its
    direction; an estimate 1e-9 ‖g*‖ long, well above the floor, keeps its correlation; the
    same per group on grouped correlations (the IPD's two players)."""
    target = np.array([0.0, 1.0, 2.0, -1.0])
    norm = np.linalg.norm(target)
    residue = 0.5 * ROUNDING_FLOOR * norm * np.array([1.0, -1.0, 0.0, 0.0]) / np.sqrt(2)
    small = 1e-9 * target
    np.testing.assert_allclose(pearson_with_target(np.stack([residue, small]), target), [0.0, 1.0])
    stats = CellStatistics(target)
    stats.add_batch(np.stack([residue, small]))
    assert stats.summary(np.random.default_rng(0))["corr"] == pytest.approx(0.5)
    # per group: player 1's small estimate is far below the floor of the whole target (whose
    # second block is 1e6 times larger) but not below its own block's floor
    grouped = CellStatistics(np.concatenate([target, 1e6 * target]), corr_groups=2)
    grouped.add_batch(np.concatenate([small, small * 1e6])[None])
    assert grouped.summary(np.random.default_rng(0))["corr"] == pytest.approx(1.0)
    grouped = CellStatistics(np.concatenate([target, 1e6 * target]), corr_groups=2)
    grouped.add_batch(np.concatenate([residue, small * 1e6])[None])
    assert grouped.summary(np.random.default_rng(0))["corr"] == pytest.approx(0.5)


def test_rel_bias_and_cosine_are_nan_for_a_zero_target():
    rng = np.random.default_rng(1)
    out = bias_variance(1.0 + rng.standard_normal((200, 2)), np.zeros(2), rng, n_bootstrap=50)
    assert np.isnan(out["rel_bias"]) and np.isnan(out["cosine"]) and out["bias"] > 0


def test_estimates_are_flattened_per_repetition():
    rng = np.random.default_rng(2)
    g = rng.standard_normal((300, 4, 5))
    target = rng.standard_normal((4, 5))
    flat = bias_variance(g.reshape(300, 20), target.ravel(), np.random.default_rng(0))
    assert bias_variance(g, target, np.random.default_rng(0)) == flat
    with pytest.raises(ValueError):
        CellStatistics(target).add_batch(np.ones((3, 7)))


def test_percentile_interval_and_expanded_level():
    samples = np.random.default_rng(0).standard_normal(10_001)
    lo, hi = percentile_interval(samples, 0.9)
    np.testing.assert_allclose([lo, hi], np.quantile(samples, [0.05, 0.95]))
    assert np.isnan(percentile_interval(np.array([]), 0.9)[0])
    assert 0.95 < expanded_confidence(0.95, 100) < 0.956  # z = sqrt(100/99) t_99 = 1.994
    assert expanded_confidence(0.95, 10_000) == pytest.approx(0.95, abs=1e-3)
    with pytest.raises(ValueError):
        percentile_interval(samples, 1.0)


# ----------------------------------------------------------------------------- coverage

def coverage(draw, seeds, *, truth_bias, truth_variance, base_seed):
    """Fraction of seeds whose intervals contain the truth, and how often bias_lo > 0."""
    hits = {"bias": 0, "variance": 0, "mse": 0, "bias_detected": 0}
    truth = {"bias": truth_bias, "variance": truth_variance, "mse": truth_variance + truth_bias**2}
    for seed in range(seeds):
        rng = np.random.default_rng([base_seed, seed])
        estimates, target = draw(rng)
        out = bias_variance(estimates, target, rng, n_batches=100, n_bootstrap=1000)
        for key, value in truth.items():
            hits[key] += out[f"{key}_lo"] <= value <= out[f"{key}_hi"]
        hits["bias_detected"] += out["bias_lo"] > 0
    return {key: value / seeds for key, value in hits.items()}


def band(level, seeds, width=3.0):
    se = np.sqrt(level * (1 - level) / seeds)
    return level - width * se, level + width * se


@pytest.mark.slow
def test_coverage_on_the_gaussian_toy_pathwise_estimator():
    """f'(X̄_N) = -2(X̄_N - c), X̄_N ~ N(θ, σ²/N): bias 0, variance = mse = 4σ²/N.

    Zero bias is the boundary of bias ≥ 0, where an interval of bias can only err by
    excluding 0: its coverage is checked one-sided (>= the band's lower end), and the
    false-detection rate P(bias_lo > 0) must stay below the one-sided 2.5%.
    """
    theta, c, sigma, n = 0.5, 1.0, 1.0, 10
    repetitions, seeds = 1000, 400

    def draw(rng):
        xbar = theta + sigma / np.sqrt(n) * rng.standard_normal((repetitions, 1))
        return -2.0 * (xbar - c), np.array([-2.0 * (theta - c)])

    result = coverage(draw, seeds, truth_bias=0.0, truth_variance=4 * sigma**2 / n, base_seed=101)
    lo, hi = band(0.95, seeds)
    assert lo <= result["variance"] <= hi, result
    assert lo <= result["mse"] <= hi, result
    assert result["bias"] >= lo, result
    assert result["bias_detected"] <= band(0.025, seeds)[1], result


@pytest.mark.slow
def test_coverage_with_a_known_nonzero_bias():
    """g ~ N(g* + b u, diag(s²)), d = 5, b = 5 noise floors: bias b, variance Σ s², mse v + b²."""
    d, repetitions, seeds = 5, 1000, 400
    scale = np.linspace(0.5, 2.0, d)
    variance = float(np.sum(scale**2))
    bias = 5.0 * np.sqrt(variance / repetitions)
    target = np.linspace(-1.0, 1.0, d)
    shift = bias * np.ones(d) / np.sqrt(d)

    def draw(rng):
        return target + shift + scale * rng.standard_normal((repetitions, d)), target

    result = coverage(draw, seeds, truth_bias=bias, truth_variance=variance, base_seed=202)
    lo, hi = band(0.95, seeds)
    for key in ("bias", "variance", "mse"):
        assert lo <= result[key] <= hi, (key, result)


@pytest.mark.slow
def test_unbiased_high_dimensional_estimates_are_not_reported_as_biased():
    """d = 50, zero bias. The plain percentile interval of bias2 sits v/R too high and
    reports bias_lo > 0 in nearly every cell; the recentred one must stay under 2.5%."""
    d, repetitions, seeds = 50, 1000, 200
    target = np.linspace(-1.0, 1.0, d)

    def draw(rng):
        return target + rng.standard_normal((repetitions, d)), target

    result = coverage(draw, seeds, truth_bias=0.0, truth_variance=float(d), base_seed=303)
    assert result["bias_detected"] <= band(0.025, seeds)[1], result
    assert result["bias"] >= band(0.95, seeds)[0], result


def _plain_unit(rows: np.ndarray, target: np.ndarray, groups: int) -> tuple:
    """Reference per-batch sums by the definitions, one row and one coordinate at a time."""
    n, d = rows.shape
    mean = np.array([sum(rows[r, j] for r in range(n)) / n for j in range(d)])
    m2 = np.array([sum((rows[r, j] - mean[j]) ** 2 for r in range(n)) for j in range(d)])
    sse = sum(float(np.sum((rows[r] - target) ** 2)) for r in range(n))
    size = d // groups
    corr = 0.0
    for r in range(n):
        for g in range(groups):
            x, y = rows[r, g * size:(g + 1) * size], target[g * size:(g + 1) * size]
            x, y = x - x.mean(), y - y.mean()
            corr += 0.0 if np.ptp(rows[r, g * size:(g + 1) * size]) == 0 else float(x @ y / np.sqrt((x @ x) * (y @ y)))
    return n, mean, m2, sse, corr / groups


@pytest.mark.parametrize("groups, n_rows, n_batches", [(1, 64, 8), (2, 61, 8), (1, 5, 8), (1, 37, 1)])
def test_add_block_equals_plain_per_batch_sums(groups, n_rows, n_batches):
    """add_block's vectorised per-batch sums = the definitions per `array_split` part (<= 1e-12 rel.),
    including rows constant within a group (corr 0), and the summary equals add_batch per part."""
    rng = np.random.default_rng(11)
    d = 10
    target = rng.standard_normal(d) * 3
    estimates = 5.0 + rng.standard_normal((n_rows, d))
    estimates[0] = 2.5                                       # a constant estimate: corr contribution 0
    blocked = CellStatistics(target, corr_groups=groups, max_batches=1000)
    blocked.add_block(estimates, n_batches)
    parts = np.array_split(estimates, min(n_batches, n_rows))
    assert blocked.n_units == len(parts) and blocked.count == n_rows
    for unit, part in zip(blocked._units + ([blocked._pending] if blocked._pending else []), parts):
        reference = _plain_unit(part, target, groups)
        assert unit[0] == reference[0]
        for got, want in zip(unit[1:], reference[1:]):
            np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.max(np.abs(want)))
    per_batch = CellStatistics(target, corr_groups=groups, max_batches=1000)
    for part in parts:
        per_batch.add_batch(part)
    a = blocked.summary(np.random.default_rng(3), n_bootstrap=200)
    b = per_batch.summary(np.random.default_rng(3), n_bootstrap=200)
    for key in SUMMARY_KEYS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_add_block_merges_like_add_batch():
    """With merging (more batches than max_batches), many blocks give the summary of add_batch per part."""
    rng = np.random.default_rng(5)
    target = rng.standard_normal(6)
    blocks = [rng.standard_normal((n, 6)) + 0.3 for n in (64, 64, 64, 64, 64, 40)]
    blocked, per_batch = CellStatistics(target, max_batches=8), CellStatistics(target, max_batches=8)
    for block in blocks:
        blocked.add_block(block, 8)
        for part in np.array_split(block, 8):
            per_batch.add_batch(part)
    assert blocked.n_units == per_batch.n_units and blocked._level == per_batch._level > 0
    a = blocked.summary(np.random.default_rng(1), n_bootstrap=300)
    b = per_batch.summary(np.random.default_rng(1), n_bootstrap=300)
    for key in SUMMARY_KEYS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_add_block_refuses_bad_batch_count():
    with pytest.raises(ValueError, match="n_batches"):
        CellStatistics(np.ones(2)).add_block(np.ones((3, 2)), 0)


# ----------------------------------------------------------------------------- a target with its own error
def test_with_target_error_is_the_identity_for_an_exact_target_and_else_the_stated_formulas():
    summary = bias_variance(gaussian_estimates(np.random.default_rng(1), 400, np.array([1.3, -0.2]), 1.0),
                            np.array([1.0, 0.0]), np.random.default_rng(2), n_bootstrap=200)
    assert with_target_error(summary, None) == summary and with_target_error(summary, 0.0) == summary
    adjusted = with_target_error(summary, 0.05)
    assert adjusted["bias2"] == pytest.approx(summary["bias2"] - 0.0025, rel=RTOL)
    assert adjusted["bias"] == pytest.approx(np.sqrt(summary["bias2"] - 0.0025), rel=RTOL)
    assert adjusted["rel_bias"] == pytest.approx(adjusted["bias"] / summary["target_norm"], rel=RTOL)
    assert adjusted["bias_lo"] == pytest.approx(summary["bias_lo"] - 0.1, rel=RTOL)
    assert adjusted["bias_hi"] == pytest.approx(summary["bias_hi"] + 0.1, rel=RTOL)
    assert adjusted["mse"] == pytest.approx(summary["mse"] - 0.0025, rel=RTOL)
    assert adjusted["mse"] == pytest.approx(adjusted["bias2"] + adjusted["variance"], rel=RTOL)
    assert adjusted["mse_lo"] == pytest.approx(summary["mse_lo"] - 0.01 - 0.2 * adjusted["bias_hi"], rel=RTOL)
    assert adjusted["mse_hi"] == pytest.approx(summary["mse_hi"] + 0.2 * adjusted["bias_hi"], rel=RTOL)
    assert {key: adjusted[key] for key in ("variance", "corr", "cosine", "noise_floor")} == \
        {key: summary[key] for key in ("variance", "corr", "cosine", "noise_floor")}
    far = with_target_error(summary, 10.0)
    assert far["bias_lo"] == 0.0 and far["bias"] == 0.0 and far["mse"] == 0.0 and far["mse_lo"] == 0.0


@pytest.mark.parametrize("true_bias", [0.0, 1.5])
def test_a_target_known_only_to_its_standard_error_resolves_no_spurious_bias_and_covers_the_true_one(true_bias):
    """Estimates g ~ N(g* + b, I) (d = 3, R = 2000: noise floor 0.04) against a reference
    ĝ = g* + e, e ~ N(0, s²/3 I) (s = 0.4, ten noise floors). Against ĝ alone the bootstrap
    interval resolves the target's error as a bias in almost every trial (asserted, so that
    the test can fail); with `with_target_error` an unbiased estimator is resolved in at most
    a few percent of trials (P(‖e‖ > 2s) ≈ 0.1 % for d = 3, plus the bootstrap's 2.5 %), and
    a true bias ‖b‖ = 1.5 is covered in at least 90 % (bound: about 95 %, less the bootstrap's
    own shortfall); ±3 binomial SE over 150 trials."""
    rng = np.random.default_rng(31 + int(10 * true_bias))
    trials, error, target = 150, 0.4, np.array([1.0, -1.0, 0.5])
    bias = np.array([true_bias, 0.0, 0.0])
    raw_resolved = adjusted_resolved = covered = 0
    for _ in range(trials):
        reference = target + error / np.sqrt(3) * rng.standard_normal(3)
        summary = bias_variance(gaussian_estimates(rng, 2000, target + bias, 1.0), reference, rng, n_bootstrap=300)
        adjusted = with_target_error(summary, error)
        raw_resolved += summary["bias_lo"] > 0
        adjusted_resolved += adjusted["bias_lo"] > 0
        covered += adjusted["bias_lo"] <= true_bias <= adjusted["bias_hi"]
    if true_bias == 0:
        assert raw_resolved >= 0.9 * trials
        assert adjusted_resolved <= 0.05 * trials + 3 * np.sqrt(0.05 * 0.95 * trials)
    else:
        assert covered >= 0.9 * trials - 3 * np.sqrt(0.1 * 0.9 * trials)


@pytest.mark.parametrize("true_bias", [0.0, 1.0])
def test_the_mse_against_an_estimated_target_is_unbiased_for_the_true_one_and_its_interval_covers_it(true_bias):
    """Estimates g ~ N(g* + b, I) (d = 3, R = 400: E‖g − g*‖² = ‖b‖² + 3) against a reference
    ĝ = g* + e, e ~ N(0, s²/3 I) with s = 1 (E‖e‖² = 1, a third of the variance). Against ĝ
    the mse is off by s² on average: the mean over trials of the raw mse exceeds the truth by
    more than 4 SE (asserted, so that the test can fail), the adjusted one lies within 4 SE;
    the raw interval misses the truth in most trials at b = 0, the adjusted one covers it in at
    least 90 % (bound: about 95 %; ±3 binomial SE over 150 trials)."""
    rng = np.random.default_rng(7 + int(10 * true_bias))
    trials, error, target = 150, 1.0, np.array([1.0, -1.0, 0.5])
    bias = np.array([true_bias, 0.0, 0.0])
    truth = true_bias**2 + 3.0
    raw, adjusted_mse, raw_covered, covered = [], [], 0, 0
    for _ in range(trials):
        reference = target + error / np.sqrt(3) * rng.standard_normal(3)
        summary = bias_variance(gaussian_estimates(rng, 400, target + bias, 1.0), reference, rng, n_bootstrap=300)
        adjusted = with_target_error(summary, error)
        raw.append(summary["mse"])
        adjusted_mse.append(adjusted["mse"])
        raw_covered += summary["mse_lo"] <= truth <= summary["mse_hi"]
        covered += adjusted["mse_lo"] <= truth <= adjusted["mse_hi"]
    raw, adjusted_mse = np.array(raw), np.array(adjusted_mse)
    assert raw.mean() - truth > 4 * raw.std(ddof=1) / np.sqrt(trials)
    assert abs(adjusted_mse.mean() - truth) < 4 * adjusted_mse.std(ddof=1) / np.sqrt(trials)
    if true_bias == 0:
        assert raw_covered <= 0.5 * trials
    assert covered >= 0.9 * trials - 3 * np.sqrt(0.1 * 0.9 * trials)
