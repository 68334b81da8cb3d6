"""Shared analysis of the figure modules: aggregation over problem seeds, fitted bound curves,
and the number formatting of the comparison sentences.

Statistics live here and in `benchmark.analysis.statistics` / `benchmark.analysis.bounds`; `benchmark.present.plotting`
only draws. Every bootstrap gets a generator seeded through `numpy.random.SeedSequence`.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Sequence

import numpy as np
import pandas as pd

from benchmark.analysis.claims import DEFAULT_PRECISION
from benchmark.analysis.bounds import BOUNDS, BoundCheck, check_bound
from benchmark.analysis.statistics import percentile_interval

ANALYSIS_SEED = 20220101      # seeds the bootstraps over problem seeds (SeedSequence entropy)
N_BOOTSTRAP = 2000


# ----------------------------------------------------------------------------- aggregation

SQUARED_BIAS_METRICS = {"bias": 1, "rel_bias": 2}   # aggregated through the unbiased bias2


MIN_INSTANCES = 3    # fewest problem instances for an interval across instances


def seed_summary(df: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], *,
                 n_bootstrap: int = N_BOOTSTRAP, confidence: float = 0.95,
                 min_instances: int = MIN_INSTANCES) -> pd.DataFrame:
    """Each metric aggregated over the problem seeds (`mdp_seed`), with a 95% interval.

    Aggregate: the mean over seeds, except for `bias` and `rel_bias`, which are averaged
    as squares through the unbiased per-cell `bias2` (and `bias2 / target_norm²`): the root
    mean square bias sqrt(max(mean bias2, 0)). Averaging the per-cell `bias` itself would not
    do: it is clipped at 0, so a mean of unresolved (noise-only) cells is positive and its
    interval would exclude zero.

    Interval: with `min_instances` (3) or more problem seeds, the percentile interval of the aggregate over
    a bootstrap that resamples the seeds (the uncertainty of the average over random MDPs,
    which includes the within-cell noise); for the bias, widened to contain the root mean
    square of the cells' own limits, sqrt(mean bias_lo²) and sqrt(mean bias_hi²), so that cells
    unresolved on their own (bias_lo = 0) do not become resolved by averaging a few seeds;
    with 2 seeds no across-instance interval is given (a "95% interval" of two numbers is
    their range): the cells' own limits pooled as above (for the bias, as root mean squares;
    otherwise their means); with one seed (or none, the toy), the cell's own
    bootstrap interval `<metric>_lo/_hi` when it has one (for `rel_bias`, `bias_lo/_hi`
    divided by `target_norm`), else none.

    Args:
      df: one row per cell (the ok cells of a sweep).
      by: the columns that identify a point of a curve (e.g. estimator, split, batch).
      metrics: the metric columns to aggregate.
    Returns:
      one row per group: `by`, `<metric>`, `<metric>_lo`, `<metric>_hi`, `n_mdps`,
      `interval` (`across instances`, `cells' own` or `none`), and the
      means of `sigma_in`, `target_norm`, `target_se`, `noise_floor` when present.
    """
    extra = [name for name in ("sigma_in", "target_norm", "target_se", "noise_floor") if name in df
             and name not in metrics]
    rows = []
    for key, group in df.groupby(list(by), sort=True, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key))
        row["n_mdps"] = len(group)
        for metric in metrics:
            squared = metric in SQUARED_BIAS_METRICS and "bias2" in group
            if squared:
                scale = 1.0 if metric == "bias" else group["target_norm"].to_numpy(dtype=float) ** 2
                values = group["bias2"].to_numpy(dtype=float) / scale
            else:
                values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            if not values.size:
                row[metric] = row[f"{metric}_lo"] = row[f"{metric}_hi"] = math.nan
                continue
            mean = float(values.mean())
            row[metric] = math.sqrt(max(mean, 0.0)) if squared else mean
            lo = hi = math.nan
            row["interval"] = "across instances" if values.size >= min_instances else "cells' own"
            if 2 <= values.size < min_instances:
                if squared and {"bias_lo", "bias_hi"} <= set(group):
                    lo = math.sqrt(np.nanmean(group["bias_lo"].to_numpy(dtype=float) ** 2 / scale))
                    hi = math.sqrt(np.nanmean(group["bias_hi"].to_numpy(dtype=float) ** 2 / scale))
                elif f"{metric}_lo" in group and f"{metric}_hi" in group:
                    lo = float(np.nanmean(group[f"{metric}_lo"].to_numpy(dtype=float)))
                    hi = float(np.nanmean(group[f"{metric}_hi"].to_numpy(dtype=float)))
            elif values.size >= 2:
                lo, hi = _bootstrap_mean_interval(values, key, metric, n_bootstrap, confidence)
                if squared:
                    lo, hi = math.sqrt(max(lo, 0.0)), math.sqrt(max(hi, 0.0))
                    if {"bias_lo", "bias_hi"} <= set(group):     # the cells' own limits, as squares
                        cell_lo = np.nanmean(group["bias_lo"].to_numpy(dtype=float) ** 2 / scale)
                        cell_hi = np.nanmean(group["bias_hi"].to_numpy(dtype=float) ** 2 / scale)
                        lo, hi = min(lo, math.sqrt(cell_lo)), max(hi, math.sqrt(cell_hi))
            elif metric == "rel_bias" and {"bias_lo", "bias_hi", "target_norm"} <= set(group):
                norm = float(group["target_norm"].iloc[0])
                lo, hi = float(group["bias_lo"].iloc[0]) / norm, float(group["bias_hi"].iloc[0]) / norm
            elif f"{metric}_lo" in group and f"{metric}_hi" in group:
                lo, hi = float(group[f"{metric}_lo"].iloc[0]), float(group[f"{metric}_hi"].iloc[0])
            row[f"{metric}_lo"], row[f"{metric}_hi"] = lo, hi
        for name in extra:
            row[name] = float(pd.to_numeric(group[name], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def bootstrap_mean_interval(values: np.ndarray, rng: np.random.Generator, *, n_bootstrap: int = N_BOOTSTRAP,
                            confidence: float = 0.95):
    """The interval over seeds (or problem instances): the mean over the last axis (NaN ignored)
    with a percentile bootstrap interval that resamples that axis, the same draws for every row.

    Args:
      values: `(n,)` or `(rows, n)`: one value per seed (per row).
      rng: the bootstrap's generator (seeded by the caller, `numpy.random.SeedSequence`).
    Returns:
      `(mean, lo, hi)`: floats for `(n,)` values, `(rows,)` arrays otherwise.
    """
    values = np.asarray(values, float)
    draws = rng.integers(0, values.shape[-1], size=(n_bootstrap, values.shape[-1]))
    means = np.nanmean(values[..., draws], axis=-1)
    if means.ndim == 1:
        return (float(np.nanmean(values)), *percentile_interval(means, confidence))
    bounds = np.array([percentile_interval(row, confidence) for row in means])
    return np.nanmean(values, axis=-1), bounds[:, 0], bounds[:, 1]


def _bootstrap_mean_interval(values: np.ndarray, key: tuple, metric: str, n_bootstrap: int,
                             confidence: float) -> tuple[float, float]:
    """`bootstrap_mean_interval` of `values` with a generator seeded by the group."""
    spawn = tuple(_stable_int(part) for part in (*key, metric))
    rng = np.random.default_rng(np.random.SeedSequence(ANALYSIS_SEED, spawn_key=spawn))
    return bootstrap_mean_interval(values, rng, n_bootstrap=n_bootstrap, confidence=confidence)[1:]


def _stable_int(value: Any) -> int:
    """A process-independent non-negative integer for a group key part (no `hash`)."""
    text = repr(value.item() if isinstance(value, np.generic) else value).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=6).digest(), "big")


# ----------------------------------------------------------------------------- bounds

def bound_check(df: pd.DataFrame, bound: str, axis: str, *, metric: str | None = None,
                min_points: int = 3, precision: float = DEFAULT_PRECISION) -> BoundCheck:
    """`benchmark.analysis.bounds.check_bound` on the cells of `df` (every problem seed a point).

    The bias enters as a point where its lower confidence limit is above zero (resolved) and
    as an upper limit (its `_hi`) where it is not (censored; `benchmark.analysis.slopes`); the
    envelope constant lies above every resolved cell's upper limit. `axis` is a bound column;
    when the bound's scope makes its claim toward 0 along the sweep axis that moves it
    (Δ_H, moved by `c`), the rule is mirrored.
    """
    spec = BOUNDS[bound]
    metric = metric or spec.quantity
    columns = {name: pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float) for name in spec.axes}
    y = df[metric].to_numpy(dtype=float)
    y_lo = df[f"{metric}_lo"].to_numpy(dtype=float) if f"{metric}_lo" in df else None
    y_hi = df[f"{metric}_hi"].to_numpy(dtype=float) if f"{metric}_hi" in df else None
    scope = spec.scope
    toward_zero = scope is not None and any(column == axis and sweep_axis in scope.toward_zero
                                            for sweep_axis, column in scope.sweep_axes.items())
    return check_bound(spec, axis, columns, y, y_lo, y_hi=y_hi, min_points=min_points, precision=precision,
                       toward_zero=toward_zero)


def bound_curve(summary: pd.DataFrame, bound: str, constant: float, *, axis: str,
                columns: dict[str, Any] | None = None, **labels: Any) -> pd.DataFrame:
    """`constant · shape` at the points of an aggregated curve, for `plotting` (dashed).

    Args:
      summary: the aggregated points (one row per axis value), with the bound's columns
        (or `columns` giving them).
      constant: the fitted constant C.
      labels: further constant columns of the curve (e.g. estimator, label, metric).
    """
    spec = BOUNDS[bound]
    values = {name: (np.asarray(columns[name], float) if columns and name in columns
                     else summary[name].to_numpy(dtype=float)) for name in spec.axes}
    frame = pd.DataFrame({axis: summary[axis].to_numpy(), "bound": constant * spec.shape(**values)})
    for name, value in labels.items():
        frame[name] = value
    return frame



