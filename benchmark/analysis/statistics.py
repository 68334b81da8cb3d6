"""Streaming per-cell statistics of an estimator against its target, with bootstrap intervals.

Per sweep cell we draw R iid estimates g_r ∈ R^d of a target g* ∈ R^d (docs/methods.md, Metrics per cell).
They arrive in batches (blocks of repetitions); a `CellStatistics` keeps a few sums per
batch, so R = 10^6 estimates cost no more memory than R = 10^3. The metrics are

  m        = (1/R) Σ_r g_r                                  the mean estimate
  v        = Σ_j (1/(R-1)) Σ_r (g_rj - m_j)²                trace of the sample covariance
  bias2    = ‖m - g*‖² - v/R                                unbiased for ‖E g - g*‖²
  bias     = sqrt(max(bias2, 0)),  rel_bias = bias / ‖g*‖
  variance = v,  mse = (1/R) Σ_r ‖g_r - g*‖²
  cosine   = cos(m, g*),  corr = (1/R) Σ_r pearson(g_r, g*)   (Liu et al. 2022; on the IPD the
             mean of both players' correlations, `corr_groups`; 0 for a g_r constant over
             coordinates, exactly or up to rounding: `pearson_with_target`)
  std_sum  = Σ_j sqrt((1/(R-1)) Σ_r (g_rj - m_j)²)          (Liu et al. 2022)
  noise_floor = sqrt(v/R)   the root-mean-square error of m, sqrt(E‖m - E g‖²); a bias
                            below it is not resolved by R estimates.

When the target is itself an estimate ĝ = g* + e (a reference or finite-difference
estimate, standard error s = sqrt(E‖e‖²)), `with_target_error` takes its error into account:
bias2 − s² and mse − s² (unbiased again), the bias limits widened by ±2s and the mse limits
by what ‖e‖ ≤ 2s allows.

Confidence intervals come from a bootstrap over the stored batches (the batches are iid
blocks of repetitions, so they are the resampling units): resample batches with replacement
and recompute every metric from the pooled per-batch sums. Variance, std_sum and mse use a
studentized bootstrap (bootstrap-t: each replicate divided by its own standard error from
the per-batch sums), which holds its coverage for heavy-tailed estimates (kurtosis up to
~10⁴, docs/methods.md); bias uses a recentred percentile interval of bias2, see
`CellStatistics.summary` for why.

Tail diagnostics (docs/methods.md, "Heavy tails"), streamed with memory independent of R:
  kurtosis          max_j R Σ_r (g_rj - m_j)⁴ / (Σ_r (g_rj - m_j)²)²   (3 for Gaussian estimates)
  tail_share        the share of Σ_r ‖g_r - m‖² carried by the k = `tail_count(R)` largest
                    terms (the top 0.1 % of estimates, at least one), from a bounded store of
                    the `TAIL_CAPACITY` most outlying estimates
  tail_index        Hill's estimate of the tail index α of ‖g_r - m‖² (P(‖g - m‖² > t) ~ t^-α)
                    from its h = `hill_count(R)` ≈ sqrt(R) largest values: below 1 the variance
                    may not exist, below 2 the variance's own sampling variance may not
  trimmed_variance  v without those k estimates: (Σ_r ‖g_r - m‖² − top k) / (R − k − 1)
The data cannot bound the variance, and the upper ends of the variance, std_sum, mse and bias
intervals are +∞ (not resolved), unless they show it is finite: unless the largest single term
carries less than `TAIL_SHARE_LIMIT` (1/2) of Σ_r ‖g_r - m‖² AND Hill's estimate rejects a tail
index α ≤ `TAIL_INDEX_LIMIT` (1; a law of ‖g - m‖² without a mean, estimates without a variance)
at one-sided level 1 − c (c the intervals' confidence: 5 %), from the k = `tail_test_depths(R)[0]`
= 2⌊√R⌋ (at most 64) or from the ⌈k/4⌉ largest values, each depth at (1 − c)/2 (Bonferroni).
The test is exact for a Pareto tail: k/α̂ ~ α⁻¹ Gamma(k, 1), i.e. 2kα/α̂ ~ χ²_{2k}, so α̂ rejects
α ≤ 1 when α̂ > 2k / χ²_{2k}((1 − c)/2) (`tail_index_critical`). The burden of proof is on a
finite limit: when the variance does not exist, at most 1 − c of the cells get one, so the
intervals cover as often as their level says (docs/methods.md, "Heavy tails").
"""
from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["CellStatistics", "bias_variance", "percentile_interval", "studentized_interval", "expanded_confidence",
           "pearson_with_target", "mean_of_n_squared_error", "SUMMARY_KEYS", "with_target_error", "TARGET_ERROR_MULTIPLE", "ROUNDING_FLOOR",
           "TAIL_FRACTION", "TAIL_CAPACITY", "TAIL_SHARE_LIMIT", "TAIL_INDEX_LIMIT", "TAIL_TEST_DEPTH_FACTOR",
           "TAIL_TEST_SHALLOW_DIVISOR", "SUBSAMPLE_DIVISOR", "KURTOSIS_NOTE", "TAIL_SHARE_NOTE", "TAIL_INDEX_NOTE",
           "tail_count", "hill_count", "tail_test_depths", "tail_index_critical", "variance_unbounded",
           "subsample_size", "heavy_tailed"]

# An estimate whose centred norm ‖g_r − ḡ_r 1‖ is at most this fraction of ‖g*‖ is zero up to
# rounding: float64 arithmetic on terms of the size of g* leaves residues of ~1e-15 ‖g*‖
# (measured: a saturated softmax's meta-gradient on liu2022, where the numpy path and the
# compiled kernel differ by ~1e-15 absolute), so its Pearson correlation would be rounding
# noise anywhere in [−1, 1]; it counts as constant (corr_r = 0).
ROUNDING_FLOOR = 1e-12

SUMMARY_KEYS: tuple[str, ...] = (
    "count", "bias2", "bias", "bias_lo", "bias_hi", "rel_bias",
    "variance", "variance_lo", "variance_hi", "mse", "mse_lo", "mse_hi",
    "cosine", "corr", "std_sum", "std_sum_lo", "std_sum_hi", "target_norm", "noise_floor",
    "kurtosis", "tail_share", "tail_index", "trimmed_variance",
)

# Tail diagnostics (docs/methods.md, "Heavy tails"): the share of Σ‖g_r − m‖² carried by the
# largest TAIL_FRACTION of the estimates (at least one, at most TAIL_CAPACITY // 2, so R up to
# 64,000 gets exactly its top 0.1 %); the TAIL_CAPACITY most outlying estimates are kept (twice
# what is used: they are ranked while streaming by their distance to their block's mean, and
# re-ranked by the distance to the pooled mean at the summary).
TAIL_FRACTION = 0.001
TAIL_CAPACITY = 128
# Upper limits are +∞ when one estimate carries TAIL_SHARE_LIMIT of Σ‖g_r − m‖² (the variance is
# mostly one draw of a scale seen once), or unless Hill's estimate rejects a tail index
# α ≤ TAIL_INDEX_LIMIT (a variance that does not exist) at one-sided level 1 − confidence, at
# depth k = TAIL_TEST_DEPTH_FACTOR·⌊√R⌋ (at most TAIL_CAPACITY // 2) or ⌈k/TAIL_TEST_SHALLOW_DIVISOR⌉
# (Bonferroni: each at half the level): `variance_unbounded`. The depths are measured
# (docs/methods.md, "Heavy tails"): 2⌊√R⌋ rather than ⌊√R⌋ divides Hill's standard error
# α/√k by √2 without flagging light tails at R ≥ 1000 (Gaussian cells: none flagged), which cuts the
# cells of Student-t ν = 4 flagged at R = 1000 from 13 % to 4 %; the shallow depth keeps a
# scale mixture whose rare component sits inside the top k from reading as a power law.
TAIL_SHARE_LIMIT = 0.5
TAIL_INDEX_LIMIT = 1.0
TAIL_TEST_DEPTH_FACTOR = 2
TAIL_TEST_SHALLOW_DIVISOR = 4
# The studentized intervals are the union of the full-size bootstrap-t and one resampling m = U/4
# of the U units (m-out-of-n): with an infinite or nearly infinite fourth moment the full-size
# bootstrap of a variance is inconsistent (Athreya 1987) and, measured, misses a Student-t
# variance from below 6-7 % of the time; with m = U/4 in the union, ~3 %.
SUBSAMPLE_DIVISOR = 4
# The pages show a cell's tail diagnostics when its variance is a rare-event statistic: a
# kurtosis of 20 or more (the variance's relative standard error sqrt((κ − 1)/R) is then at
# least 3 times that of Gaussian estimates, sqrt(2/R)), or the top 0.1 % of estimates carrying
# 10 % or more of Σ‖g_r − m‖² (about 1 % for Gaussian estimates at R = 1000), or an infinite
# variance upper limit.
KURTOSIS_NOTE = 20.0
TAIL_SHARE_NOTE = 0.1
# ... or a tail index below 2 (the fourth moment, on which the variance's interval rests, may not exist).
TAIL_INDEX_NOTE = 2.0

# Largest bootstrap chunk, in matrix entries (n_draws x n_units), to bound temporary memory.
_MAX_BOOTSTRAP_ENTRIES = 2**22


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap replicates.

    lo, hi = quantile(samples, (1 - c)/2), quantile(samples, (1 + c)/2), linear interpolation.

    Args:
      samples: `(B,)` bootstrap replicates of one statistic.
      confidence: coverage c in (0, 1).

    Returns:
      `(lo, hi)` as floats; nan when `samples` is empty or contains nan.
    """
    _check_confidence(confidence)
    samples = np.asarray(samples, dtype=float).ravel()
    if samples.size == 0 or np.isnan(samples).any():
        return float("nan"), float("nan")
    alpha = 1.0 - confidence
    lo, hi = np.quantile(samples, [alpha / 2, 1.0 - alpha / 2])
    return float(lo), float(hi)


def studentized_interval(estimate: float, standard_error: float, replicates: np.ndarray,
                         replicate_errors: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Bootstrap-t interval (Efron & Tibshirani 1993, ch. 12; Hall 1988).

    t*_b = (θ*_b − θ̂) / se*_b;  lo, hi = θ̂ − q_{(1+c)/2}(t*) se,  θ̂ − q_{(1−c)/2}(t*) se,
    linear interpolation of the quantiles. Replicates whose t* is not finite (se*_b = 0) are
    left out; with se = 0, or no finite t*, the interval is the point (θ̂, θ̂).

    Args:
      estimate: θ̂.
      standard_error: se, its standard error from the sample.
      replicates, replicate_errors: `(B,)` θ*_b and se*_b of the bootstrap resamples.
      confidence: c in (0, 1).

    Returns:
      `(lo, hi)` as floats; nan when `estimate` or `standard_error` is nan.
    """
    _check_confidence(confidence)
    if not (np.isfinite(estimate) and np.isfinite(standard_error)):
        return float("nan"), float("nan")
    replicates = np.asarray(replicates, dtype=float).ravel()
    replicate_errors = np.asarray(replicate_errors, dtype=float).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (replicates - estimate) / replicate_errors
    t = t[np.isfinite(t)]
    if standard_error <= 0 or t.size == 0:
        return float(estimate), float(estimate)
    alpha = 1.0 - confidence
    q_lo, q_hi = np.quantile(t, [alpha / 2, 1.0 - alpha / 2])
    return float(estimate - q_hi * standard_error), float(estimate - q_lo * standard_error)


def heavy_tailed(kurtosis, tail_share, variance_hi, tail_index=None) -> np.ndarray:
    """Whether each cell's tail diagnostics are large enough to show (`KURTOSIS_NOTE`,
    `TAIL_SHARE_NOTE`, variance_hi = +∞, or a tail index below `TAIL_INDEX_NOTE`); nan counts
    as not large.

    Args:
      kurtosis, tail_share, variance_hi: arrays (or columns) of equal length.
      tail_index: likewise, or None.
    Returns:
      a boolean array.
    """
    kurtosis, tail_share, variance_hi = (np.asarray(values, dtype=float) for values in (kurtosis, tail_share,
                                                                                         variance_hi))
    with np.errstate(invalid="ignore"):
        flags = (kurtosis >= KURTOSIS_NOTE) | (tail_share >= TAIL_SHARE_NOTE) | (variance_hi == np.inf)
        if tail_index is not None:
            flags |= np.asarray(tail_index, dtype=float) < TAIL_INDEX_NOTE
    return flags


def hill_count(repetitions: int) -> int:
    """h, the number of largest values of ‖g_r − m‖² in `tail_index`: ⌊sqrt(R)⌋, at least 2 and
    at most TAIL_CAPACITY // 2 (the stored estimates must hold the h + 1 largest)."""
    return int(min(max(2, int(np.sqrt(repetitions))), TAIL_CAPACITY // 2))


def tail_test_depths(repetitions: int) -> tuple[int, int]:
    """(k, s), the depths of the test whether the data bound the variance (`variance_unbounded`):
    k = `TAIL_TEST_DEPTH_FACTOR`·⌊√R⌋, at most TAIL_CAPACITY // 2 and R − 1; s = ⌈k /
    `TAIL_TEST_SHALLOW_DIVISOR`⌉, at least 2 and at most k."""
    deep = int(min(TAIL_TEST_DEPTH_FACTOR * int(np.sqrt(repetitions)), TAIL_CAPACITY // 2, repetitions - 1))
    shallow = int(min(deep, max(2, -(-deep // TAIL_TEST_SHALLOW_DIVISOR))))
    return deep, shallow


def tail_index_critical(depth: int, level: float) -> float:
    """The least Hill estimate from `depth` largest values that rejects a tail index
    α ≤ `TAIL_INDEX_LIMIT` at one-sided level `level`: under a Pareto tail of index α,
    2·depth·α/α̂ ~ χ²_{2·depth} (the log-spacings are iid exponential, Rényi), so at α = α₀ the
    estimate exceeds 2·depth·α₀ / χ²_{2·depth}(level) with probability `level`, and less often at
    α < α₀. At level 0.025: 1.30 at depth 62 or 64, 1.47 at 31, 1.75 at 16, 3.08 at 5."""
    return float(2 * depth * TAIL_INDEX_LIMIT / stats.chi2.ppf(level, 2 * depth))


def variance_unbounded(ranked: np.ndarray, repetitions: int, level: float) -> bool:
    """Whether the data fail to show that the variance exists: Hill's estimate of the tail index of
    the values `ranked` (the largest ‖g_r − m‖², in decreasing order, at least the k + 1 largest)
    rejects α ≤ `TAIL_INDEX_LIMIT` neither from the k nor from the s largest, (k, s) =
    `tail_test_depths(R)`, each at one-sided level `level`/2 (so at most `level` in all; 4.6 %
    at 5 % under a Pareto law, where the two are correlated). A Hill estimate that is undefined
    (the k + 1 largest equal, or x_(k+1) = 0: no tail to estimate) rejects; with R < 3 there is no
    test (False). Why two depths: a power-law tail gives the same estimate at both, while a scale
    mixture whose few rare estimates lie within the top k gives a small estimate at depth k (the
    gap to the bulk reads as a heavy tail) but a large one at depth s (inside the rare component)."""
    deep, shallow = tail_test_depths(repetitions)
    if deep < 2 or ranked.size <= deep:
        return False
    for depth in (deep, shallow):
        estimate = _hill(ranked, depth)
        if not estimate <= tail_index_critical(depth, level / 2):      # nan (no tail) rejects too
            return False
    return True


def subsample_size(n_units: int) -> int:
    """m, the units per resample of the studentized intervals: ⌈U / SUBSAMPLE_DIVISOR⌉, at
    least 2 and at most U (an m-out-of-n bootstrap, docs/methods.md, Heavy tails)."""
    return int(min(n_units, max(2, -(-n_units // SUBSAMPLE_DIVISOR))))


def tail_count(repetitions: int) -> int:
    """k, the number of largest estimates whose share `tail_share` reports:
    ⌊TAIL_FRACTION · R⌋, at least 1 and at most TAIL_CAPACITY // 2 (R >= 1)."""
    return int(min(max(1, int(TAIL_FRACTION * repetitions)), TAIL_CAPACITY // 2))


def expanded_confidence(confidence: float, n_units: int) -> float:
    """Nominal level at which to read a bootstrap percentile interval over n_units units.

    Hesterberg's expanded percentile interval (Hesterberg 2015, "What teachers should know
    about the bootstrap", The American Statistician 69(4)): the bootstrap distribution of a
    mean over U units is too narrow by sqrt((U-1)/U), and normal quantiles are too short
    for U units; read the percentiles at c' with
      z_{(1+c')/2} = sqrt(U/(U-1)) · t_{U-1, (1+c)/2}.
    For U = 100, c = 0.95: c' ≈ 0.954. Raises coverage by about 0.4 points here.

    Args:
      confidence: the wanted coverage c in (0, 1).
      n_units: U >= 2, the number of resampled units.

    Returns:
      c' in [c, 1).
    """
    _check_confidence(confidence)
    if n_units < 2:
        raise ValueError(f"n_units: expected at least 2, got {n_units!r}")
    z = np.sqrt(n_units / (n_units - 1)) * stats.t.ppf(0.5 + confidence / 2, n_units - 1)
    return float(1.0 - 2.0 * stats.norm.sf(z))


def mean_of_n_squared_error(bias2, variance, n: int, dim: int):
    """The expected squared error of the mean of `n` estimates, averaged over coordinates:
    E[(1/d) ‖(1/n) Σ_{i<n} g_i − g*‖²] = (‖E g − g*‖² + tr Σ / n) / d.

    Liu et al.'s compositional-bias curves (their `tabular/maml/decompose_comp_theory.py`) are
    this quantity with n = 10 (`same_trials`) per MDP; it carries the variance tr Σ / n as well
    as the squared bias. From a cell's unbiased `bias2` (for ‖E g − g*‖²) and `variance` (the
    unbiased trace of the covariance) it is unbiased too, whatever the cell's R.

    Args:
      bias2, variance: per-cell values (floats or arrays of the same shape).
      n: how many estimates the mean averages (their 10).
      dim: d, the number of coordinates (S·A on a tabular MDP).
    """
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"n: expected a positive integer, got {n!r}")
    if isinstance(dim, bool) or int(dim) != dim or dim < 1:
        raise ValueError(f"dim: expected a positive integer, got {dim!r}")
    return (np.asarray(bias2, dtype=float) + np.asarray(variance, dtype=float) / n) / dim


def pearson_with_target(estimates: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-estimate Pearson correlation over coordinates with the target (Liu et al. 2022): the one
    owner of `corr` (the sweeps' cells and the IPD training curves alike).

    corr_r = <g_r - ḡ_r 1, g* - ḡ* 1> / (‖g_r - ḡ_r 1‖ ‖g* - ḡ* 1‖), ḡ the coordinate mean;
    corr_r = 0 when g_r is constant over coordinates (all entries equal) or constant up to
    rounding (‖g_r - ḡ_r 1‖ <= `ROUNDING_FLOOR` ‖g*‖), and nan where the target is constant
    (then the correlation is undefined; e.g. d = 1).

    Args:
      estimates: `(n, d)` estimates.
      target: `(d,)` one target for every estimate, or `(n, d)` one per estimate (e.g. the exact
        LOLA gradient at each point of a training run).

    Returns:
      `(n,)` correlations.
    """
    estimates = np.asarray(estimates, dtype=float)
    target = np.asarray(target, dtype=float)
    n = estimates.shape[0]
    if target.ndim == 2:
        return np.array([pearson_with_target(row[None, :], goal)[0] for row, goal in zip(estimates, target)]) \
            if n else np.zeros(0)
    if target.size == 0 or np.ptp(target) == 0:
        return np.full(n, np.nan)
    t = target - target.mean()
    t /= np.linalg.norm(t)
    centred = estimates - estimates.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1)
    constant = (np.ptp(estimates, axis=1) == 0) | (norms <= ROUNDING_FLOOR * np.linalg.norm(target))
    safe = np.where(constant, 1.0, norms)
    return np.where(constant, 0.0, (centred @ t) / safe)


class CellStatistics:
    """Streaming sufficient statistics of estimates g_r against a target g*.

    Each batch b (a block of n_b repetitions) is reduced to
      n_b      count
      mean_b   `(d,)` batch mean
      m2_b     `(d,)` Σ_{r∈b} (g_rj - mean_bj)²   (centred: no cancellation when ‖m‖ ≫ std)
      sse_b    Σ_{r∈b} ‖g_r - g*‖²
      corr_b   Σ_{r∈b} pearson(g_r, g*)
      m3_b, m4_b  `(d,)` Σ_{r∈b} (g_rj - mean_bj)³ and ⁴   (for the kurtosis)
    and pooled exactly (Chan et al.'s parallel variance formula; Pébay 2008 for m3, m4).
    Besides, the `TAIL_CAPACITY` estimates farthest from their block's mean are kept (for
    `tail_share`, `trimmed_variance`). Memory is O((max_batches + TAIL_CAPACITY) · d)
    whatever R is.

    Merging: when more than `max_batches` units are held, consecutive pairs are merged into
    one unit, so every held unit is a block of 2^L consecutive batches (L the merge level).
    Batches arriving afterwards are pooled into a pending unit until it too holds 2^L
    batches; with an odd number of units the last one becomes that pending unit. Hence the
    complete units are equal-size blocks of iid batches (exchangeable, as the bootstrap
    needs), only the pending unit may be smaller, and the point metrics are unaffected
    (up to float rounding). Between `max_batches/2` and `max_batches + 1` units are
    resampled by the bootstrap once merging has started.

    Args:
      target: g*, any shape, flattened to `(d,)`.
      max_batches: the most units held before merging (>= 2).
      corr_groups: G; `corr` is the mean over G equal consecutive blocks of the flattened
        vectors of their Pearson correlations (G = 2 on the IPD: one 5-vector per player,
        as Liu et al. average the two players' correlations); 1 = over all coordinates.
    """

    def __init__(self, target: np.ndarray, *, max_batches: int = 256, corr_groups: int = 1):
        if isinstance(max_batches, bool) or not isinstance(max_batches, (int, np.integer)) or max_batches < 2:
            raise ValueError(f"max_batches: expected an integer >= 2, got {max_batches!r}")
        size = np.asarray(target).size
        if (isinstance(corr_groups, bool) or not isinstance(corr_groups, (int, np.integer)) or corr_groups < 1
                or size % corr_groups):
            raise ValueError(f"corr_groups: expected a positive divisor of the target size {size}, got {corr_groups!r}")
        self.corr_groups = int(corr_groups)
        self.target = np.asarray(target, dtype=float).ravel().copy()
        if not np.all(np.isfinite(self.target)):
            raise ValueError("target: expected finite values")
        self.max_batches = int(max_batches)
        # (n, mean, m2, sse, corr, m3, m4) per unit (class docstring)
        self._units: list[tuple] = []
        self._pending: tuple | None = None
        self._pending_batches = 0
        self._level = 0  # every complete unit holds 2**level batches
        self._count = 0
        self._tail_rows = np.empty((0, self.dim))     # the most outlying estimates seen,
        self._tail_scores = np.empty(0)               # ranked by ‖g_r − (its block's mean)‖²

    @property
    def dim(self) -> int:
        """d, the number of coordinates."""
        return self.target.size

    @property
    def count(self) -> int:
        """R, the number of estimates seen so far."""
        return self._count

    @property
    def n_units(self) -> int:
        """The number of bootstrap units currently held (complete units plus a pending one)."""
        return len(self._units) + (self._pending is not None)

    def add_batch(self, estimates: np.ndarray) -> None:
        """Add one batch (block of repetitions) of estimates: `add_block(estimates, 1)`.

        Args:
          estimates: `(n, d)`, or `(n, ...)` with prod(...) = d (flattened to `(n, d)`).
            An empty batch (n = 0) is ignored.
        """
        self.add_block(estimates, 1)

    def add_block(self, estimates: np.ndarray, n_batches: int) -> None:
        """Add a block of estimates split, in order, into min(n_batches, n) consecutive batches.

        The same as `add_batch` on each part of `numpy.array_split(estimates, min(n_batches, n))`
        in turn (sizes differ by at most one, the larger first), up to float rounding: the
        per-batch sums of the class docstring are computed for all batches at once, in one
        pass over the `(n, d)` block (segment sums with `numpy.add.reduceat`), so a block's
        cost is a few vectorised operations rather than a few per batch.

        Args:
          estimates: `(n, d)`, or `(n, ...)` with prod(...) = d (flattened to `(n, d)`).
            An empty block (n = 0) is ignored.
          n_batches: the number of batches (bootstrap units) to split the block into, >= 1.
        """
        if isinstance(n_batches, bool) or not isinstance(n_batches, (int, np.integer)) or n_batches < 1:
            raise ValueError(f"n_batches: expected a positive integer, got {n_batches!r}")
        estimates = np.asarray(estimates, dtype=float)
        if estimates.ndim == 0:
            raise ValueError("estimates: expected an array of shape (n, d) or (n, ...)")
        estimates = estimates.reshape(estimates.shape[0], -1)
        if estimates.shape[1] != self.dim:
            raise ValueError(f"estimates: expected {self.dim} coordinates per estimate, got {estimates.shape[1]}")
        n = estimates.shape[0]
        if n == 0:
            return
        if not np.all(np.isfinite(estimates)):
            raise ValueError("estimates: expected finite values")
        parts = min(int(n_batches), n)
        sizes = np.full(parts, n // parts)
        sizes[: n % parts] += 1
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        means = np.add.reduceat(estimates, starts, axis=0) / sizes[:, None]                # (k, d)
        centred = estimates - np.repeat(means, sizes, axis=0)
        squares = centred * centred
        m2 = np.add.reduceat(squares, starts, axis=0)                                      # (k, d)
        m3 = np.add.reduceat(squares * centred, starts, axis=0)                            # (k, d)
        m4 = np.add.reduceat(squares * squares, starts, axis=0)                            # (k, d)
        errors = estimates - self.target
        sse = np.add.reduceat(np.einsum("rj,rj->r", errors, errors), starts)              # (k,)
        corr = np.add.reduceat(self._row_correlations(estimates), starts) / self.corr_groups
        for k in range(parts):
            self._push((int(sizes[k]), means[k], m2[k], float(sse[k]), float(corr[k]), m3[k], m4[k]))
        self._keep_outlying(estimates)

    def _keep_outlying(self, estimates: np.ndarray) -> None:
        """Keep the `TAIL_CAPACITY` estimates seen so far farthest from their block's mean."""
        deviations = estimates - estimates.mean(axis=0)
        scores = np.einsum("rj,rj->r", deviations, deviations)
        if scores.size > TAIL_CAPACITY:
            chosen = np.argpartition(scores, scores.size - TAIL_CAPACITY)[-TAIL_CAPACITY:]
            estimates, scores = estimates[chosen], scores[chosen]
        rows = np.concatenate([self._tail_rows, estimates])
        scores = np.concatenate([self._tail_scores, scores])
        if scores.size > TAIL_CAPACITY:
            chosen = np.sort(np.argpartition(scores, scores.size - TAIL_CAPACITY)[-TAIL_CAPACITY:])
            rows, scores = rows[chosen], scores[chosen]
        self._tail_rows, self._tail_scores = rows, scores

    def _row_correlations(self, estimates: np.ndarray) -> np.ndarray:
        """`(n,)` Σ_g pearson(g_r block g, g* block g): `pearson_with_target` per group, summed
        (nan for every r when some group's target is constant)."""
        blocks = estimates.reshape(estimates.shape[0], self.corr_groups, -1)
        targets = self.target.reshape(self.corr_groups, -1)
        return sum(pearson_with_target(blocks[:, group], targets[group]) for group in range(self.corr_groups))

    def _push(self, unit: tuple) -> None:
        """Pool one batch's sums into the pending unit; complete and merge units (class docstring)."""
        self._count += unit[0]
        self._pending = unit if self._pending is None else _merge(self._pending, unit)
        self._pending_batches += 1
        if self._pending_batches < 2**self._level:
            return
        self._units.append(self._pending)
        self._pending, self._pending_batches = None, 0
        if len(self._units) > self.max_batches:
            units = self._units
            self._units = [_merge(units[i], units[i + 1]) for i in range(0, len(units) - 1, 2)]
            if len(units) % 2:
                self._pending, self._pending_batches = units[-1], 2**self._level
            self._level += 1

    def _arrays(self):
        units = self._units + ([self._pending] if self._pending is not None else [])
        n = np.array([u[0] for u in units], dtype=float)
        means = np.array([u[1] for u in units]).reshape(len(units), self.dim)
        m2 = np.array([u[2] for u in units]).reshape(len(units), self.dim)
        sse = np.array([u[3] for u in units], dtype=float)
        corr = np.array([u[4] for u in units], dtype=float)
        return n, means, m2, sse, corr

    def _higher_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """`(U, d)` per-unit centred third and fourth power sums."""
        units = self._units + ([self._pending] if self._pending is not None else [])
        m3 = np.array([u[5] for u in units]).reshape(len(units), self.dim)
        m4 = np.array([u[6] for u in units]).reshape(len(units), self.dim)
        return m3, m4

    def _largest_share(self, mean: np.ndarray, m2_total: np.ndarray) -> float:
        """The share of Σ_r ‖g_r − m‖² carried by the single largest term (0 when the sum is 0)."""
        squares = float(m2_total.sum())
        if squares <= 0 or not len(self._tail_rows):
            return 0.0
        return float(np.max(np.sum((self._tail_rows - mean) ** 2, axis=1)) / squares)

    def _infinite_variance_tail(self, mean: np.ndarray, level: float) -> bool:
        """`variance_unbounded` of the stored most outlying estimates' ‖g_r − m‖², at `level`."""
        ranked = np.sort(np.sum((self._tail_rows - mean) ** 2, axis=1))[::-1]
        return variance_unbounded(ranked, self._count, level)

    def _tail_diagnostics(self, n, means, m2, mean, m2_total) -> dict[str, float]:
        """kurtosis, tail_share and trimmed_variance (module docstring) of the pooled sample."""
        out = {"kurtosis": float("nan"), "tail_share": float("nan"), "tail_index": float("nan"),
               "trimmed_variance": float("nan")}
        total = float(n.sum())
        m3, m4 = self._higher_arrays()
        deviations = means - mean                                             # (U, d)
        m4_total = np.sum(m4 + 4 * deviations * m3 + 6 * deviations**2 * m2 + n[:, None] * deviations**4, axis=0)
        spread = m2_total > ROUNDING_FLOOR**2 * np.max(m2_total, initial=0.0)
        if spread.any():
            out["kurtosis"] = float(np.max(total * m4_total[spread] / m2_total[spread] ** 2))
        squares = float(m2_total.sum())
        k = tail_count(self._count)
        ranked = np.sort(np.sum((self._tail_rows - mean) ** 2, axis=1))[::-1]
        largest = ranked[:k]
        top = float(largest.sum())
        h = hill_count(self._count)
        if self._count > h and ranked.size > h:
            out["tail_index"] = _hill(ranked, h)
        if squares > 0:
            out["tail_share"] = float(min(top / squares, 1.0))
        if total - k - 1 > 0:
            out["trimmed_variance"] = float(max(squares - top, 0.0) / (total - k - 1))
        return out

    def summary(self, rng: np.random.Generator, *, n_bootstrap: int = 1000,
                confidence: float = 0.95) -> dict[str, float]:
        """Point metrics (module docstring) and bootstrap confidence intervals.

        Bootstrap: draw `n_bootstrap` resamples of the U held units with replacement, as a
        `(n_bootstrap, U)` matrix W of multinomial counts; pooled sums are W @ (per-unit sums),
        so there is no Python loop over draws (only over chunks of ~4M matrix entries that
        bound the temporary memory). ‖m* - m‖² is computed from W @ A `(B, d)` when d <= U
        and as a quadratic form in the `(U, U)` Gram matrix A Aᵀ otherwise, so the cost per
        draw is O(U · min(d, U)) (see `_PooledMetrics`).
        Every interval is read at the expanded level `expanded_confidence(confidence, U)`
        (slightly wider than nominal, which corrects the known narrowness of the bootstrap
        over U units; BCa was tried and did not help).
        - variance, std_sum, mse: studentized (bootstrap-t, `studentized_interval`), each
          replicate divided by its own standard error from the per-unit sums (`_PooledMetrics`);
          the union of the interval from full-size resamples and from resamples of
          m = `subsample_size(U)` ≈ U/4 units (m-out-of-n), lower ends held at 0. The
          percentile interval used before covers a heavy-tailed variance far less often
          (docs/methods.md, Heavy tails: ~0.89 at kurtosis 10³, R = 1000, and 0.69 when a few
          rare estimates carry it).
        - upper ends of variance, std_sum, mse and bias are +∞ when the single largest term
          carries at least `TAIL_SHARE_LIMIT` = 1/2 of Σ_r ‖g_r − m‖², or unless Hill's
          estimate rejects a tail index ≤ 1 (a variance that does not exist) at one-sided level
          1 − `confidence`, at depth 2⌊√R⌋ or a quarter of it (`variance_unbounded`): the data
          do not bound the variance, nor the error of m that the bias interval rests on. The
          burden of proof is on the finite limit, so where the variance does not exist at most
          1 − `confidence` of the cells get one.
        - bias: percentile interval (full-size resamples) of the recentred replicates bias2* - v/R, mapped
          through sqrt(max(·, 0)). Recentring is needed because bias2* is unbiased for the
          squared bias of the resampled (empirical) population, ‖m - g*‖² = bias2 + v/R,
          not for bias2: the plain percentile interval sits v/R too high, and at zero bias
          with d ≳ 20 its lower end exceeds 0 in almost every cell (reporting pure noise as
          bias). The basic interval 2·bias2 + v/R - q was also tried and undercovers badly
          when bias is a few noise floors (d = 1). The recentred interval is conservative
          at zero bias (a boundary: bias_lo > 0 in well under 2.5% of unbiased cells) and
          close to nominal once bias ≳ noise_floor (tests/test_statistics.py).
        With fewer than 2 units (or R < 2) the intervals are nan.

        Args:
          rng: the generator for the bootstrap (the only randomness).
          n_bootstrap: B, the number of bootstrap resamples.
          confidence: coverage of the intervals.

        Returns:
          dict with keys `SUMMARY_KEYS` (floats; `count` an int).
        """
        _check_confidence(confidence)
        if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 1:
            raise ValueError(f"n_bootstrap: expected a positive integer, got {n_bootstrap!r}")
        nan = float("nan")
        out = dict.fromkeys(SUMMARY_KEYS, nan)
        out["count"] = self._count
        target_norm = float(np.linalg.norm(self.target))
        out["target_norm"] = target_norm
        if self._count == 0:
            return out

        n, means, m2, sse, corr = self._arrays()
        total = n.sum()
        mean = (n @ means) / total
        m2_total = m2.sum(axis=0) + n @ (means - mean) ** 2       # (d,) Σ_r (g_rj - m_j)²
        out["mse"] = float(sse.sum() / total)
        out["corr"] = float(corr.sum() / total)
        out["cosine"] = _cosine(mean, self.target)
        if total < 2:
            return out
        per_coordinate_variance = m2_total / (total - 1)
        v = float(per_coordinate_variance.sum())
        bias2 = float(np.sum((mean - self.target) ** 2) - v / total)
        bias = float(np.sqrt(max(bias2, 0.0)))
        out.update(
            variance=v, bias2=bias2, bias=bias,
            rel_bias=bias / target_norm if target_norm > 0 else nan,
            std_sum=float(np.sqrt(per_coordinate_variance).sum()),
            noise_floor=float(np.sqrt(v / total)),
        )
        out.update(self._tail_diagnostics(n, means, m2, mean, m2_total))
        if len(n) < 2:
            return out

        pooled = _PooledMetrics(n, means, m2, sse, mean, self.target)
        sample = pooled(np.ones((1, len(n))))
        boot = _bootstrap_replicates(pooled, rng, n_bootstrap)
        subsamples = _bootstrap_replicates(pooled, rng, n_bootstrap, size=subsample_size(len(n)))
        level = expanded_confidence(confidence, len(n))
        unresolved = (self._largest_share(mean, m2_total) >= TAIL_SHARE_LIMIT
                      or self._infinite_variance_tail(mean, 1.0 - confidence))
        for key in ("variance", "std_sum", "mse"):
            error = float(sample[f"{key}_se"][0])
            full = studentized_interval(out[key], error, boot[key], boot[f"{key}_se"], level)
            sub = studentized_interval(out[key], error, subsamples[key], subsamples[f"{key}_se"], level)
            lo, hi = min(full[0], sub[0]), max(full[1], sub[1])      # the union of the two
            out[f"{key}_lo"] = max(lo, 0.0)
            out[f"{key}_hi"] = float("inf") if unresolved else max(hi, out[key])
        bias2_lo, bias2_hi = percentile_interval(boot["bias2"] - v / total, level)
        out["bias_lo"] = float(np.sqrt(max(bias2_lo, 0.0)))
        out["bias_hi"] = float("inf") if unresolved else float(np.sqrt(max(bias2_hi, 0.0)))
        return out


TARGET_ERROR_MULTIPLE = 2.0   # bias limits widen by this many target standard errors (mse limits: with_target_error)


def with_target_error(summary: dict[str, float], target_se: float | None) -> dict[str, float]:
    """The bias and mse of a cell whose target is itself an estimate, ĝ = g* + e with E‖e‖² = s².

    `summary` measures against ĝ. With b = E g − g* the estimator's bias against g*, its
    bias2 is unbiased for ‖b − e‖², whose expectation is ‖b‖² + s², and its mse for
    E‖g − g*‖² − 2⟨b, e⟩ + ‖e‖², whose expectation is E‖g − g*‖² + s² (e is independent of
    the estimates); its intervals cover those quantities at the drawn e. Against g*
    (s = `target_se`, k = `TARGET_ERROR_MULTIPLE` = 2):

      bias2 ← bias2 − s²,  bias = sqrt(max(bias2, 0)),  rel_bias = bias / ‖ĝ‖,
      bias_lo ← max(bias_lo − k s, 0),  bias_hi ← bias_hi + k s,
      mse ← max(mse − s², 0),
      mse_lo ← max(mse_lo − k² s² − 2k s · bias_hi, 0),  mse_hi ← mse_hi + 2k s · bias_hi

    (bias_hi the widened one), since ‖b‖ lies within ‖b − e‖ ± ‖e‖, E‖g − g*‖² within
    [−‖e‖² − 2‖b‖‖e‖, 2‖b‖‖e‖] of what the mse interval covers, and P(‖e‖ > k s) ≤
    P(χ²₁ > 4) ≈ 4.6 % for Gaussian e (one coordinate is the worst case). So a bias within
    the target's own error is not resolved, and the mse no longer counts that error:
    mse − s² = bias2 + variance, as against an exact target, unbiased, so that means over
    cells stay unbiased too (it can fall below the variance when bias2 − s² < 0, as bias2
    can fall below 0; it is held at 0 only when s² exceeds the whole raw mse, a target too
    noisy for the cell). Variance, corr, cosine and the rest are unchanged; `target_se` None
    or 0 (an exact target) returns `summary` as it is.

    Args:
      summary: `CellStatistics.summary` against ĝ.
      target_se: s, or None.
    Returns:
      a new dict with the same keys.
    """
    if not target_se:
        return dict(summary)
    error = float(target_se)
    spread = TARGET_ERROR_MULTIPLE * error
    out = dict(summary)
    bias2 = summary["bias2"] - error**2
    out["bias2"] = bias2
    out["bias"] = float(np.sqrt(max(bias2, 0.0)))
    norm = summary["target_norm"]
    out["rel_bias"] = out["bias"] / norm if norm > 0 else float("nan")
    out["bias_lo"] = max(summary["bias_lo"] - spread, 0.0)
    out["bias_hi"] = summary["bias_hi"] + spread
    out["mse"] = max(summary["mse"] - error**2, 0.0)
    out["mse_lo"] = max(summary["mse_lo"] - spread**2 - 2.0 * spread * out["bias_hi"], 0.0)
    out["mse_hi"] = summary["mse_hi"] + 2.0 * spread * out["bias_hi"]
    return out


def bias_variance(estimates: np.ndarray, target: np.ndarray, rng: np.random.Generator, *,
                  n_batches: int = 100, n_bootstrap: int = 1000,
                  confidence: float = 0.95) -> dict[str, float]:
    """`CellStatistics.summary` of estimates held in memory.

    The R estimates are split, in order, into min(n_batches, R) consecutive batches of
    equal size (sizes differ by at most one when n_batches does not divide R), which are
    the bootstrap units; no merging happens.

    Args:
      estimates: `(R, d)` or `(R, ...)` iid estimates.
      target: g*, `(d,)` or the shape of one estimate.
      rng: the generator for the bootstrap.
      n_batches: the number of bootstrap units.
      n_bootstrap, confidence: as in `CellStatistics.summary`.

    Returns:
      dict with keys `SUMMARY_KEYS`.
    """
    estimates = np.asarray(estimates, dtype=float)
    if estimates.ndim == 0:
        raise ValueError("estimates: expected an array of shape (R, d) or (R, ...)")
    if isinstance(n_batches, bool) or not isinstance(n_batches, (int, np.integer)) or n_batches < 1:
        raise ValueError(f"n_batches: expected a positive integer, got {n_batches!r}")
    n_units = max(1, min(int(n_batches), estimates.shape[0]))
    stats = CellStatistics(target, max_batches=max(2, n_units))
    for batch in np.array_split(estimates, n_units, axis=0):
        stats.add_batch(batch)
    return stats.summary(rng, n_bootstrap=n_bootstrap, confidence=confidence)


class _PooledMetrics:
    """bias2, variance and mse of reweighted units, for the bootstrap and the jackknife.

    A weight vector w `(U,)` (counts of each unit in a resample; 1 - e_u for the jackknife)
    defines a pooled sample with n* = w·n. With unit means centred on the pooled mean
    (D_u = mean_u - m, A_u = n_u D_u):
      m* - m          = (wᵀA) / n*,   ‖m* - m‖² = wᵀ(A Aᵀ)w / n*²
      Σ_r ‖g_r - m*‖² = w·tr(m2) + w·(n ‖D‖²) - n* ‖m* - m‖²,   v* = that / (n* - 1)
      bias2*          = ‖m* - m‖² + 2 <m* - m, m - g*> + ‖m - g*‖² - v*/n*
      mse*            = (w·sse) / n*
      v*_j            = (w·within_j − n* (m*_j − m_j)²) / (n* − 1),  std_sum* = Σ_j sqrt(v*_j)
    ‖wᵀA‖² is computed directly (cost U·d per draw) when d <= U, else through the `(U, U)`
    Gram matrix (U² per draw); std_sum* needs the per-coordinate U·d anyway.
    Standard errors of v*, mse*, std_sum* (for the studentized intervals): the influence of
    unit u on a ratio θ = Σ_u a_u / Σ_u n_u is a_u − n_u θ (delta method), so
      se*(θ*)² = Σ_u w_u (a_u − n_u θ*)² / n*²
    with a_u = Σ_{r∈u} ‖g_r − m‖² (variance), sse_u (mse) and Σ_j Σ_{r∈u} (g_rj − m_j)² /
    (2 sqrt(v*_j)) (std_sum, with θ* = std_sum*/2); the shift of the centre from m to m* and
    the factor n*/(n* − 1) are left out (O(1/n*) relative), and so is the factor U/(U − 1),
    which the bootstrap-t cancels.
    """

    def __init__(self, n, means, m2, sse, mean, target):
        self.n, self.sse = n, sse
        deviations = means - mean                                    # (U, d)
        self.scaled = n[:, None] * deviations                        # A (U, d)
        self.direct = deviations.shape[1] <= n.size
        self.gram = None if self.direct else self.scaled @ self.scaled.T
        offset = mean - target                                       # m - g*
        self.linear = self.scaled @ offset                           # (U,)
        self.within_coordinates = m2 + n[:, None] * deviations**2    # (U, d) Σ_{r∈u} (g_rj − m_j)²
        self.within = self.within_coordinates.sum(axis=1)
        self.offset2 = float(offset @ offset)

    @property
    def entries_per_draw(self) -> int:
        return 4 * self.n.size + 3 * self.scaled.shape[1] + (0 if self.direct else self.n.size)

    def __call__(self, weights: np.ndarray, errors: bool = True) -> dict[str, np.ndarray]:
        """Metrics `(b,)` for weights `(b, U)` (with their standard errors `<metric>_se` unless not `errors`)."""
        count = weights @ self.n
        if self.direct:
            shift2 = np.sum((weights @ self.scaled) ** 2, axis=1) / count**2
        else:
            shift2 = np.sum((weights @ self.gram) * weights, axis=1) / count**2
        squares = weights @ self.within - count * shift2
        shifts = (weights @ self.scaled) / count[:, None]                       # (b, d) m* − m
        with np.errstate(divide="ignore", invalid="ignore"):
            variance = np.where(count > 1, squares / (count - 1), np.nan)
            coordinates = (weights @ self.within_coordinates - count[:, None] * shifts**2) / (count[:, None] - 1)
            roots = np.sqrt(np.maximum(coordinates, 0.0))                       # (b, d)
            std_sum = roots.sum(axis=1)
            halves = np.where(roots > 0, 0.5 / roots, 0.0)
            mse = (weights @ self.sse) / count
            out = {
                "bias2": shift2 + 2 * (weights @ self.linear) / count + self.offset2 - variance / count,
                "variance": variance,
                "mse": mse,
                "std_sum": std_sum,
            }
            if errors:
                out["variance_se"] = self._error(weights, self.within, variance)
                out["mse_se"] = self._error(weights, self.sse, mse)
                influence = halves @ self.within_coordinates.T - self.n[None, :] * (0.5 * std_sum)[:, None]
                out["std_sum_se"] = np.sqrt(np.sum(weights * influence**2, axis=1)) / count
        return out

    def _error(self, weights: np.ndarray, sums: np.ndarray, ratio: np.ndarray) -> np.ndarray:
        """`(b,)` sqrt(Σ_u w_u (a_u − n_u θ)²) / n* for per-unit sums a `(U,)` and θ `(b,)`, expanded
        as w·a² − 2θ w·(n a) + θ² w·n² (matrix-vector products; the terms differ by O(1))."""
        squares = weights @ sums**2 - 2 * ratio * (weights @ (self.n * sums)) + ratio**2 * (weights @ self.n**2)
        return np.sqrt(np.maximum(squares, 0.0)) / (weights @ self.n)


def _bootstrap_replicates(pooled: _PooledMetrics, rng: np.random.Generator,
                          n_bootstrap: int, size: int | None = None, errors: bool = True) -> dict[str, np.ndarray]:
    """`(B,)` bootstrap replicates of each metric of `pooled` (and their standard errors when
    `errors`), resampling `size` of its U units (default U) with replacement, in chunks."""
    n_units = pooled.n.size
    chunk = max(1, _MAX_BOOTSTRAP_ENTRIES // pooled.entries_per_draw)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, n_bootstrap, chunk):
        replicates = pooled(_resampling_counts(rng, min(chunk, n_bootstrap - start), n_units, size), errors)
        for key, value in replicates.items():
            parts.setdefault(key, []).append(value)
    return {key: np.concatenate(value) for key, value in parts.items()}


def _resampling_counts(rng: np.random.Generator, n_draws: int, n_units: int, size: int | None = None) -> np.ndarray:
    """`(n_draws, n_units)` counts of each unit in n_draws resamples of `size` (default n_units)
    units drawn from n_units with replacement."""
    picks = rng.integers(0, n_units, size=(n_draws, n_units if size is None else size))
    picks += n_units * np.arange(n_draws)[:, None]
    return np.bincount(picks.ravel(), minlength=n_draws * n_units).reshape(n_draws, n_units).astype(float)


def _hill(ranked: np.ndarray, h: int) -> float:
    """Hill's estimate h / Σ_{i<h} ln(x_i / x_h) from values sorted in decreasing order; nan when
    x_h <= 0 or the h + 1 largest are all equal (no tail to estimate)."""
    if not ranked[h] > 0:
        return float("nan")
    spread = float(np.sum(np.log(ranked[:h] / ranked[h])))
    return float(h / spread) if spread > 0 else float("nan")


def _merge(a, b):
    """Pool two units' sums (Chan et al. 1979; Pébay 2008 for M3, M4): means weighted, each
    centred power sum re-centred on the pooled mean (binomial expansion, exact)."""
    n_a, mean_a, m2_a, sse_a, corr_a, m3_a, m4_a = a
    n_b, mean_b, m2_b, sse_b, corr_b, m3_b, m4_b = b
    n = n_a + n_b
    delta = mean_b - mean_a
    mean = mean_a + delta * (n_b / n)
    m2 = m2_a + m2_b + delta**2 * (n_a * n_b / n)
    m3 = (m3_a + m3_b + delta**3 * (n_a * n_b * (n_a - n_b) / n**2)
          + 3 * delta * (n_a * m2_b - n_b * m2_a) / n)
    m4 = (m4_a + m4_b + delta**4 * (n_a * n_b * (n_a**2 - n_a * n_b + n_b**2) / n**3)
          + 6 * delta**2 * (n_a**2 * m2_b + n_b**2 * m2_a) / n**2 + 4 * delta * (n_a * m3_b - n_b * m3_a) / n)
    return n, mean, m2, sse_a + sse_b, corr_a + corr_b, m3, m4


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    """cos(a, b) = <a, b> / (‖a‖ ‖b‖); nan when either is zero."""
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms > 0 else float("nan")


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected a value in (0, 1), got {confidence!r}")
