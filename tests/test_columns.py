"""`benchmark.sweeps.columns`: every results column has one role, and the report's curve keys follow it."""
from __future__ import annotations

import pandas as pd

from benchmark.analysis.statistics import SUMMARY_KEYS
from benchmark.analysis.verdicts import curve_keys
from benchmark.sweeps.columns import AXIS, BOOKKEEPING, INTERVAL, METRIC, STORED_METRICS, axes, role
from benchmark.sweeps.store import CSV_COLUMNS, KEY_COLUMNS


def test_every_statistic_is_a_metric_or_an_interval_end():
    assert set(SUMMARY_KEYS) <= set(STORED_METRICS)
    assert {role(name) for name in SUMMARY_KEYS} == {METRIC, INTERVAL}
    assert role("bias_lo") == role("variance_hi") == INTERVAL and role("bias") == role("sigma_in") == METRIC


def test_named_axes_and_estimator_parameters_are_axes_settings_and_seeds_are_not():
    assert [role(name) for name in ("estimator", "split", "steps", "lr", "batch", "N", "lambda_", "c")] == [AXIS] * 8
    assert [role(name) for name in ("cell_id", "mdp_seed", "problem", "target", "status", "target_method")] == \
        [BOOKKEEPING] * 6
    assert set(axes(CSV_COLUMNS)) == set(KEY_COLUMNS) - {"problem", "target", "meta_parameter", "mdp_seed"}


def test_a_curve_is_keyed_by_axes_only():
    frame = pd.DataFrame({"estimator": ["a", "a", "b"], "batch": [1, 2, 4], "lambda_": [0.5, 0.9, 0.5],
                          "bias": [0.1, 0.2, 0.3], "noise_floor": [1.0, 2.0, 3.0], "mdp_seed": [0, 1, 2],
                          "hessian_error": [0.1, 0.2, 0.3], "status": ["ok"] * 3})
    assert curve_keys(frame, "batch", axes(frame.columns)) == ["estimator", "lambda_"]
