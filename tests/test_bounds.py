"""benchmark.analysis.bounds: bound shapes and exponents, constants and verdicts (the slope fit
itself: tests/test_slopes.py)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.analysis.bounds import (BOUNDS, Bound, BoundCheck, bound_table, check_bound, fit_bound_constant,
                                       not_applicable)
from benchmark.analysis.claims import DEFAULT_PRECISION, VERDICT_MEANINGS, VERDICTS

BATCH = np.array([2.0, 4, 8, 16, 32, 64, 128, 256])


def log_normal_noise(regressor, scale=0.05, seed=0):
    """exp(ε), ε random but orthogonal to (1, log regressor): a log-log fit of y·exp(ε) has
    exactly y's slope and a nonzero residual, so "tight" does not depend on the draw."""
    design = np.column_stack([np.ones(np.size(regressor)), np.log(regressor)])
    eps = np.random.default_rng(seed).standard_normal(np.size(regressor))
    eps -= design @ np.linalg.lstsq(design, eps, rcond=None)[0]
    return np.exp(scale * eps / eps.std())


def compositional_columns(batch=BATCH, steps=2, lr=3.0, sigma_in=1.5):
    return {"steps": steps, "lr": lr, "sigma_in": sigma_in, "batch": batch}


# ----------------------------------------------------------------------------- bounds as data

def test_bound_shapes_match_their_formulas():
    K, a, s, tau, dh, n = 3.0, 0.7, 2.0, 16.0, 0.4, 25.0
    shapes = {
        "compositional": K * a**K * s / np.sqrt(tau),
        "multi_step_hessian": (K - 1) * dh ** (K - 1),
        "lsf_bias": 1 / n,
        "lsf_bias_abstract": 1 / np.sqrt(n),
        "lsf_variance": 1 / n,
        "sf_variance": n,
    }
    columns = {"steps": K, "lr": a, "sigma_in": s, "batch": tau, "hessian_error": dh, "N": n}
    assert set(BOUNDS) == set(shapes)
    for name, expected in shapes.items():
        bound = BOUNDS[name]
        assert bound.name == name and bound.quantity in ("bias", "variance") and bound.formula and bound.source
        np.testing.assert_allclose(bound.shape(**columns), expected, rtol=1e-14, err_msg=name)
    assert BOUNDS["lsf_variance"].quantity == "variance" and BOUNDS["lsf_bias"].quantity == "bias"
    with pytest.raises(KeyError):
        BOUNDS["compositional"].shape(steps=1, lr=1.0)


@pytest.mark.parametrize("name", sorted(BOUNDS))
def test_exponents_are_the_log_derivatives_of_the_shapes(name):
    bound: Bound = BOUNDS[name]
    base = {"steps": 4.0, "lr": 1.7, "sigma_in": 0.8, "batch": 32.0, "hessian_error": 0.6, "N": 20.0}
    for axis in bound.axes:
        exponent = bound.exponent(axis, steps=base["steps"])
        if axis == "steps":
            assert exponent is None
            continue
        x = base[axis] * np.array([1.0, 1.5])
        y = bound.shape(**{**base, axis: x})
        np.testing.assert_allclose(np.diff(np.log(y)) / np.diff(np.log(x)), exponent, rtol=1e-12, err_msg=axis)


def test_documented_exponents():
    assert BOUNDS["compositional"].exponent("batch") == -0.5
    assert BOUNDS["compositional"].exponent("lr", steps=6) == 6.0
    assert BOUNDS["multi_step_hessian"].exponent("hessian_error", steps=3) == 2.0
    assert [BOUNDS[name].exponent("N") for name in ("lsf_bias", "lsf_bias_abstract", "lsf_variance", "sf_variance")] \
        == [-1.0, -0.5, -1.0, 1.0]
    with pytest.raises(ValueError):
        BOUNDS["compositional"].exponent("lr")  # needs K
    with pytest.raises(ValueError):
        BOUNDS["lsf_bias"].exponent("batch")


# ----------------------------------------------------------------------------- constants

def test_bound_constants():
    rng = np.random.default_rng(1)
    shape = np.geomspace(0.01, 10, 9)
    y = 0.3 * shape * np.exp(0.5 * rng.standard_normal(shape.size))
    least_squares, envelope = fit_bound_constant(shape, y)
    assert np.all(envelope * shape >= y * (1 - 1e-15))
    assert np.isclose(envelope * shape, y).any()  # the smallest such constant
    np.testing.assert_allclose(least_squares, np.exp(np.mean(np.log(y / shape))), rtol=1e-12)
    # least_squares minimises Σ (log y - log C - log shape)²
    loss = lambda c: np.sum((np.log(y) - np.log(c) - np.log(shape)) ** 2)  # noqa: E731
    assert loss(least_squares) < min(loss(least_squares * 1.01), loss(least_squares / 1.01))
    np.testing.assert_allclose(fit_bound_constant(shape, 2.0 * shape), (2.0, 2.0), rtol=1e-12)


# ----------------------------------------------------------------------------- verdicts

def test_faster_decay_than_the_bound_is_consistent():
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), 4.0 / BATCH)
    assert check.verdict == "consistent" and check.exponent == -0.5
    assert check.slope == pytest.approx(-1.0) and check.n_resolved == BATCH.size
    assert check.n_censored == 0 and check.n_excluded == 0


def test_the_bound_rate_with_noise_is_tight():
    y = 4.0 * BATCH**-0.5 * log_normal_noise(BATCH)
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), y)
    assert check.verdict == "tight", check
    assert check.slope_lo < -0.5 < check.slope_hi
    shape = BOUNDS["compositional"].shape(**compositional_columns())
    assert np.all(check.constant_envelope * shape >= y * (1 - 1e-15))


def test_no_decay_violates_the_bound():
    y = 4.0 * BATCH**0.0 * log_normal_noise(BATCH)
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), y)
    assert check.verdict == "violated" and check.slope_lo > -0.5


def test_cells_under_the_noise_floor_enter_as_upper_limits():
    y = 4.0 / BATCH
    unresolved = np.arange(BATCH.size) >= 3                       # the small end: 5 of 8 under the floor
    y_lo = np.where(unresolved, 0.0, 0.5 * y)
    y_hi = np.where(unresolved, 2.0 * y, 1.5 * y)
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), y, y_lo, y_hi=y_hi)
    assert (check.n_resolved, check.n_censored, check.n_excluded) == (3, 5, 0)
    assert check.slope == pytest.approx(-1.0, abs=1e-6) and check.verdict == "consistent"
    assert "5 of 8 cells under the noise floor enter as upper limits (censored)" in check.note
    # without upper limits the unresolved cells cannot enter: excluded, and more than half excluded
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), y, y_lo)
    assert (check.n_resolved, check.n_censored, check.n_excluded) == (3, 0, 5)
    assert check.verdict == "inconclusive" and "5 of 8 cells excluded" in check.note
    assert "without an upper limit" in check.note
    # two of eight excluded: the remaining six still decide
    y_lo = np.where(np.arange(BATCH.size) < 2, 0.0, 0.5 * y)
    check = check_bound(BOUNDS["compositional"], "batch", compositional_columns(), y, y_lo)
    assert check.verdict == "consistent" and check.n_resolved == 6 and check.n_excluded == 2
    assert "excluded 2 of 8" in check.note


def test_a_censored_small_end_no_longer_flattens_the_slope():
    """The issue-24 case: a bias falling as |τ|^-0.5 whose small end is under the noise floor.
    Dropping those cells keeps only the upward fluctuations there (the old fit); as upper
    limits they keep the slope at the bound's rate."""
    rng = np.random.default_rng(7)
    batch = np.repeat(BATCH, 10)
    log_bias = np.log(0.3) - 0.5 * np.log(batch) + 0.4 * rng.standard_normal(batch.size)
    log_floor = np.log(0.05) + 0.2 * rng.standard_normal(batch.size)
    under = log_bias < log_floor
    y, y_lo, y_hi = np.exp(log_bias), np.where(under, 0.0, 0.5 * np.exp(log_bias)), np.exp(log_floor)
    columns = compositional_columns(batch=batch)
    censored = check_bound(BOUNDS["compositional"], "batch", columns, y, y_lo, y_hi=np.where(under, y_hi, 2 * y))
    dropped = check_bound(BOUNDS["compositional"], "batch", columns, y, y_lo)
    assert censored.n_censored == under.sum() > 20 and dropped.n_excluded == under.sum()
    assert censored.slope_lo <= -0.5 <= censored.slope_hi and censored.verdict == "tight"
    assert dropped.slope > censored.slope and not dropped.slope_lo <= -0.5 <= dropped.slope_hi


def test_too_few_points_and_non_positive_values_are_inconclusive():
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": np.array([1.0, 2.0])}, np.array([1.0, 0.5]))
    assert check.verdict == "inconclusive" and check.n_resolved == 2
    y = np.array([1.0, -0.5, np.nan, 0.25, 0.125])
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": np.array([1.0, 2, 3, 4, 8])}, y)
    assert check.n_excluded == 2 and check.n_resolved == 3 and check.verdict == "tight"
    assert "non-positive" in check.note


def test_tang_bounds_on_closed_form_toy_moments():
    """LSF bias 2θ/N (θ = 0.5): tight against 1/N, consistent with 1/sqrt(N); PW variance 4/N."""
    n = np.array([1.0, 2, 4, 8, 16, 32, 64])
    noisy = lambda y: y * log_normal_noise(n)  # noqa: E731
    bias = noisy(2 * 0.5 / n)
    assert check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, bias).verdict == "tight"
    assert check_bound(BOUNDS["lsf_bias_abstract"], "N", {"N": n}, bias).verdict == "consistent"
    assert check_bound(BOUNDS["lsf_variance"], "N", {"N": n}, noisy(4 / n)).verdict == "tight"
    assert check_bound(BOUNDS["sf_variance"], "N", {"N": n}, noisy(3 * n)).verdict == "tight"
    assert check_bound(BOUNDS["sf_variance"], "N", {"N": n}, noisy(3 * n**1.5)).verdict == "violated"


def test_learning_rate_axis_uses_the_exponent_k():
    lr = np.array([1.0, 3, 5, 7, 9, 11, 13])
    columns = compositional_columns(batch=32.0, steps=4, lr=lr)
    assert check_bound(BOUNDS["compositional"], "lr", columns, 0.01 * lr**4).verdict == "tight"
    assert check_bound(BOUNDS["compositional"], "lr", columns, 0.01 * lr**2).verdict == "consistent"
    assert check_bound(BOUNDS["compositional"], "lr", columns, 0.01 * lr**5).verdict == "violated"


@pytest.mark.parametrize("lr, increasing", [(3.0, True), (0.3, False)])
def test_steps_axis_is_judged_against_the_shape(lr, increasing):
    """K α^K increases in K for α = 3 and decreases for α = 0.3 (K = 1..6)."""
    steps = np.arange(1.0, 7.0)
    columns = compositional_columns(batch=32.0, steps=steps, lr=lr)
    shape = BOUNDS["compositional"].shape(**columns)
    assert np.all(np.diff(shape) > 0) == increasing and np.all(np.diff(shape) < 0) == (not increasing)
    bound = BOUNDS["compositional"]
    wiggle = log_normal_noise(shape)
    tight = check_bound(bound, "steps", columns, 0.2 * shape * wiggle)
    assert tight.verdict == "tight" and tight.exponent is None and "shape" in tight.note
    # y ∝ shape^s: along the axis, s < 1 means y changes less than the bound does.
    slower, faster = 0.2 * shape**0.5 * wiggle, 0.2 * shape**2 * wiggle
    if increasing:  # grows slower than the bound: consistent; faster: violated
        assert check_bound(bound, "steps", columns, slower).verdict == "consistent"
        assert check_bound(bound, "steps", columns, faster).verdict == "violated"
    else:  # decays faster than the bound: consistent; slower: violated
        assert check_bound(bound, "steps", columns, faster).verdict == "consistent"
        assert check_bound(bound, "steps", columns, slower).verdict == "violated"


def test_multi_step_hessian_along_both_axes():
    bound = BOUNDS["multi_step_hessian"]
    delta = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    assert check_bound(bound, "hessian_error", {"steps": 3, "hessian_error": delta}, 5 * delta**2).verdict == "tight"
    steps = np.arange(1.0, 7.0)
    y = 0.5 * (steps - 1) * 0.5 ** (steps - 1)
    check = check_bound(bound, "steps", {"steps": steps, "hessian_error": 0.5}, np.where(steps == 1, 1e-3, y))
    assert check.n_excluded == 1 and "bound shape" in check.note  # K = 1: the bound is 0


def test_bound_table():
    checks = [check_bound(BOUNDS["lsf_bias"], "N", {"N": BATCH}, 1 / BATCH),
              check_bound(BOUNDS["compositional"], "batch", compositional_columns(), 1 / BATCH)]
    table = bound_table(checks)
    assert list(table["bound"]) == ["lsf_bias", "compositional"]
    assert {"verdict", "slope", "slope_lo", "slope_hi", "exponent", "constant_ls", "constant_envelope",
            "formula", "source", "quantity", "n_resolved", "n_censored", "n_excluded", "note"} <= set(table.columns)
    assert set(table["verdict"]) <= set(VERDICTS)
    assert table.loc[1, "formula"] == BOUNDS["compositional"].formula
    assert len(bound_table([])) == 0
    assert isinstance(checks[0], BoundCheck)


# ----------------------------------------------------------------------------- scope

def test_every_bound_declares_its_scope():
    for bound in BOUNDS.values():
        scope = bound.scope
        assert scope is not None and scope.estimators and scope.targets and scope.about, bound.name
        assert set(scope.sweep_axes.values()) <= set(bound.axes), bound.name
    assert set(VERDICT_MEANINGS) == set(VERDICTS)


@pytest.mark.parametrize("bound, estimator, split, applies", [
    ("compositional", "maml", "lee", True), ("compositional", "dice", "lee", True),
    ("compositional", "maml", "lll", False), ("compositional", "lvc", "ele", False),
    ("compositional", "hessian_bias", None, False), ("compositional", "sf", None, False),
    ("lsf_bias", "lsf", None, True), ("lsf_bias", "sf", None, False), ("lsf_variance", "pw", None, False),
    ("sf_variance", "sf", None, True), ("sf_variance", "lsf", None, False),
    ("multi_step_hessian", "hessian_bias", None, True), ("multi_step_hessian", "maml", "lee", False),
])
def test_a_bound_applies_only_inside_its_scope(bound, estimator, split, applies):
    spec = BOUNDS[bound]
    problem, axis = spec.scope.problem, next(iter(spec.scope.sweep_axes))
    reason = not_applicable(spec, problem=problem, target="ideal", estimator=estimator, axis=axis, split=split)
    assert (reason is None) == applies, reason
    if reason is not None:
        assert "\n" not in reason and bound in reason


def test_scope_reasons_for_problem_target_axis_and_claims():
    comp = BOUNDS["compositional"]
    assert "gaussian_toy" in not_applicable(comp, problem="gaussian_toy", target="ideal", estimator="maml", axis="N")
    assert "practical" in not_applicable(comp, problem="tabular", target="practical", estimator="maml", axis="batch",
                                         split="lee")
    assert "not c" in not_applicable(comp, problem="tabular", target="ideal", estimator="maml", axis="c", split="lee")
    # a plug-in claims the bound: judged on split lee, not on others
    assert not_applicable(comp, problem="tabular", target="ideal", estimator="mine", axis="batch", split="lee",
                          claimed=("compositional",)) is None
    assert "not lll" in not_applicable(comp, problem="tabular", target="ideal", estimator="mine", axis="batch",
                                       split="lll", claimed=("compositional",))
    assert "mine" in not_applicable(comp, problem="tabular", target="ideal", estimator="mine", axis="batch",
                                    split="lee")
    # the Hessian probe is judged along the injected error c (which moves Δ_H)
    assert BOUNDS["multi_step_hessian"].scope.sweep_axes["c"] == "hessian_error"


# ----------------------------------------------------------------------------- power

def test_a_wide_interval_is_inconclusive_not_tight():
    """The old default-toy case (N = 1, 4, 16, 64): slope -1.13 [-3.3, 1.03] must not be called tight."""
    n = np.array([1.0, 4, 16, 64])
    y = 0.5 / n * log_normal_noise(n, scale=1.5, seed=3)
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, y)
    assert check.half_width > DEFAULT_PRECISION and check.slope_lo < -1 < check.slope_hi
    assert check.verdict == "inconclusive" and "precision" in check.note
    wide = check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, y, precision=5.0)   # settable per report
    assert wide.verdict == "tight" and wide.precision == 5.0


def test_a_wide_interval_cannot_violate_but_can_be_consistent():
    n = np.array([1.0, 4, 16, 64])
    flat = 0.5 * n**0.5 * log_normal_noise(n, scale=0.4, seed=4)          # slope 0.5 vs bound -1, wide
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, flat)
    assert check.slope_lo > -1 and check.half_width > DEFAULT_PRECISION and check.verdict == "inconclusive"
    steep = 0.5 / n**3 * log_normal_noise(n, scale=0.4, seed=4)           # all of it below -1
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, steep)
    assert check.slope_hi < -1 and check.half_width > DEFAULT_PRECISION and check.verdict == "consistent"


def test_fewer_than_three_resolved_cells_give_no_slope_and_no_constant():
    n = np.array([1.0, 2, 4, 8])
    y = 1 / n
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, y, np.array([0.0, 0.0, 0.1, 0.05]))
    assert check.n_resolved == 2 and check.n_excluded == 2 and check.verdict == "inconclusive"
    assert np.isnan(check.slope) and np.isnan(check.constant_envelope) and np.isnan(check.constant_ls)
    assert "no slope" in check.note
    with pytest.raises(ValueError, match="min_points"):
        check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, y, min_points=2)
    with pytest.raises(ValueError, match="precision"):
        check_bound(BOUNDS["lsf_bias"], "N", {"N": n}, y, precision=0)


def test_the_envelope_lies_above_every_resolved_interval():
    shape = np.geomspace(0.01, 10, 6)
    y = 0.3 * shape
    y_hi = y * np.array([1.1, 1.5, 1.2, 1.05, 1.3, 1.0])
    _, envelope = fit_bound_constant(shape, y, y_hi)
    assert np.all(envelope * shape >= y_hi * (1 - 1e-15)) and envelope == pytest.approx(0.45)
    check = check_bound(BOUNDS["lsf_bias"], "N", {"N": 1 / shape}, y, y_hi=y_hi)
    assert check.constant_envelope == pytest.approx(0.45)


def test_a_claim_toward_zero_mirrors_the_rule():
    """The multi-step Hessian bound speaks of Δ_H → 0: a bias falling faster there is consistent."""
    bound = BOUNDS["multi_step_hessian"]
    delta = np.array([0.2, 0.4, 0.6, 0.8, 1.0, 1.2])
    faster = 5 * delta**1.5 * log_normal_noise(delta, scale=0.01)
    columns = {"steps": 2, "hessian_error": delta}
    assert check_bound(bound, "hessian_error", columns, faster, toward_zero=True).verdict == "consistent"
    assert check_bound(bound, "hessian_error", columns, faster).verdict == "violated"
    slower = 5 * delta**0.5 * log_normal_noise(delta, scale=0.01)
    assert check_bound(bound, "hessian_error", columns, slower, toward_zero=True).verdict == "violated"
    assert BOUNDS["multi_step_hessian"].scope.toward_zero == ("c",)
