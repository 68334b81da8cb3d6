"""Every column of a sweep's results and its role: the one owner of the results schema.

A results frame (`benchmark.sweeps.store.load_results`) has one row per cell and columns of
four roles:

- `axis`: what a cell varies along: the estimator, the problem axes (`steps`, `lr`, `N`),
  `split`, `batch` and every estimator parameter swept in a grid (`c`, `lambda_`, `window`,
  ...). A column whose name is not listed below is an estimator parameter, hence an axis;
- `metric`: a number measured per cell: the statistics of `benchmark.analysis.statistics`
  (`SUMMARY_KEYS` without the interval ends), the cell's own measurements (`sigma_in`,
  `target_se`) and the columns the reports derive (`hessian_error` = Δ_H);
- `interval`: the ends `<metric>_lo`, `<metric>_hi` of a metric's 95% interval;
- `bookkeeping`: what identifies, seeds or describes a cell without being swept: its id,
  problem instance (`mdp_seed`), settings fixed for the whole sweep (`problem`, `target`,
  `meta_parameter`), status, timing, error.

The statistics name the metrics they compute (`SUMMARY_KEYS`); this module gives every name
its role, so that a new statistic is a metric everywhere and never a curve key by accident.
"""
from __future__ import annotations

from typing import Literal

from benchmark.analysis.statistics import SUMMARY_KEYS

Role = Literal["axis", "metric", "interval", "bookkeeping"]
AXIS: Role = "axis"
METRIC: Role = "metric"
INTERVAL: Role = "interval"
BOOKKEEPING: Role = "bookkeeping"

# The axes every sweep knows by name (estimator parameters are axes too, by elimination).
NAMED_AXES = ("estimator", "split", "steps", "lr", "batch", "N")
# Measured per cell besides the statistics, in the order they are stored.
CELL_METRICS = ("sigma_in", "target_se")
# Numbers stored as text (the method that produced the target: exact, enumeration, reference).
TEXT_METRICS = ("target_method",)
# Derived by the reports from a metric or an axis and the problem (Δ_H = 2c/(S·A)).
DERIVED_METRICS = ("hessian_error",)
# Every number stored per cell, statistics first (the order of the SQLite table).
STORED_METRICS = (*SUMMARY_KEYS, *CELL_METRICS)
INTERVAL_ENDS = tuple(name for name in SUMMARY_KEYS if name.endswith(("_lo", "_hi")))
METRICS = tuple(name for name in (*STORED_METRICS, *DERIVED_METRICS) if name not in INTERVAL_ENDS)
BOOKKEEPING_COLUMNS = ("cell_id", "position", "key", "sweep", "problem", "target", "meta_parameter", "mdp_seed",
                       "repetitions", "status", "seconds", "error", "finished_at", *TEXT_METRICS)


def role(column: str) -> Role:
    """The role of a results column: `axis`, `metric`, `interval` or `bookkeeping`."""
    if column in METRICS:
        return METRIC
    if column in INTERVAL_ENDS:
        return INTERVAL
    if column in BOOKKEEPING_COLUMNS:
        return BOOKKEEPING
    return AXIS


def axes(columns) -> list[str]:
    """The columns among `columns` that are axes, in their order."""
    return [column for column in columns if role(column) == AXIS]
