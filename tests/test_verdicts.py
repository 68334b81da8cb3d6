"""Bound scope and power on real (quick) sweeps: `benchmark.analysis.verdicts` and the sweep report.

The cases of issue 10: tang-toy judges only (LSF, LSF bounds) and (SF, Θ(N)); hessian-bias
reports (it crashed on the axis `c`); no `tight` or `violated` from an interval wider than
the precision (default --quick, comp-sample --quick); the compositional bound only on split lee.
"""
from __future__ import annotations

import pandas as pd
import pytest

from benchmark.analysis.claims import DEFAULT_PRECISION, VERDICTS
from benchmark.analysis.bounds import BOUNDS
from benchmark.cli import main
from benchmark.sweeps.loading import load_stored_sweep
from benchmark.sweeps.store import load_results
from benchmark.reports.sweep import report_frame, bound_checks, bounds_not_applied
from benchmark.sweeps.loading import load_sweep
from benchmark.sweeps.runner import run_sweep

REQUIRED = ["estimator", "split", "axis", "bound", "slope", "slope_lo", "slope_hi", "verdict"]


def quick_run(preset: str, tmp_path_factory) -> tuple[pd.DataFrame, dict]:
    out = tmp_path_factory.mktemp(preset)
    summary = run_sweep(load_sweep(preset).quick(), out, jobs=1, quiet=True)
    return stored_report_frame(summary.directory) + (summary.directory,)


@pytest.fixture(scope="module")
def tang(tmp_path_factory):
    return quick_run("tang-toy", tmp_path_factory)


def test_tang_toy_judges_only_lsf_with_lsf_bounds_and_sf_with_theta_n(tang):
    frame, settings, _ = tang
    checks = bound_checks(frame, settings)
    pairs = set(zip(checks["estimator"], checks["bound"]))
    assert pairs == {("lsf", "lsf_bias"), ("lsf", "lsf_bias_abstract"), ("lsf", "lsf_variance"),
                     ("sf", "sf_variance")}
    skipped = bounds_not_applied(frame, settings)
    assert set(skipped["bound"]) == set(BOUNDS)                    # one line per bound
    assert all("\n" not in reason for reason in skipped["reason"])
    line = skipped.set_index("bound").loc["sf_variance", "reason"]
    assert "LSF" in line and "PW" in line                          # says which curves it skipped


def no_unpowered_verdicts(checks: pd.DataFrame) -> None:
    decided = checks[checks["verdict"].isin(["tight", "violated"])]
    assert ((decided["slope_hi"] - decided["slope_lo"]) / 2 <= DEFAULT_PRECISION + 1e-12).all()
    assert set(checks["verdict"]) <= set(VERDICTS)
    assert checks.loc[checks["slope"].notna(), "cells_resolved"].ge(3).all()    # < 3 resolved cells: no slope


def test_default_quick_gives_no_tight_from_a_wide_interval(tmp_path_factory):
    frame, settings, _ = quick_run("default", tmp_path_factory)
    no_unpowered_verdicts(bound_checks(frame, settings))


def test_comp_sample_quick_judges_lee_only_and_never_without_power(tmp_path_factory):
    frame, settings, _ = quick_run("comp-sample", tmp_path_factory)
    checks = bound_checks(frame, settings)
    assert set(checks["split"]) == {"lee"} and set(checks["bound"]) == {"compositional"}
    no_unpowered_verdicts(checks)
    maml = checks[(checks["estimator"] == "maml") & (checks["range"] == "all")].iloc[0]
    assert maml["verdict"] == "inconclusive"


def test_decompose_applies_the_compositional_bound_to_split_lee_only(tmp_path_factory):
    frame, settings, _ = quick_run("decompose", tmp_path_factory)
    checks = bound_checks(frame, settings)
    assert set(checks["split"]) == {"lee"}
    reason = bounds_not_applied(frame, settings).set_index("bound").loc["compositional", "reason"]
    assert "split lee" in reason and "lll" in reason


def test_hessian_bias_quick_writes_its_report_with_verdicts_along_c(tmp_path, tmp_path_factory, capsys):
    frame, settings, directory = quick_run("hessian-bias", tmp_path_factory)
    checks = bound_checks(frame, settings)
    assert set(checks["bound"]) == {"multi_step_hessian"} and set(checks["axis"]) == {"c"}
    assert checks["slope"].notna().all()
    assert main(["report", str(directory), "--out", str(tmp_path / "report")]) == 0
    table = pd.read_csv(tmp_path / "report" / "verdicts.csv")
    assert set(REQUIRED) <= set(table.columns)
    text = (tmp_path / "report" / "index.html").read_text()
    for verdict in VERDICTS:                                       # the vocabulary is defined on the page
        assert verdict in text
    assert "Bounds not applied" in text and "Quick run" in text and "What was found" in text


def test_report_precision_is_settable(tang, tmp_path):
    _, _, directory = tang
    assert main(["report", str(directory), "--out", str(tmp_path / "r"), "--precision", "10"]) == 0
    wide = pd.read_csv(tmp_path / "r" / "verdicts.csv")
    assert (wide["precision"] == 10).all()
    assert main(["report", str(directory), "--out", str(tmp_path / "r"), "--precision", "0"]) == 2


def stored_report_frame(directory):
    """`report_frame` of a sweep directory's stored results and its stored sweep."""
    return report_frame(load_results(directory), load_stored_sweep(directory))
