"""Shared analysis of the figure modules: aggregation over problem seeds, fitted bound curves,
and the number formatting of the comparison sentences.

Statistics live here and in `benchmark.statistics` / `benchmark.bounds`; `benchmark.plotting`
only draws. Every bootstrap gets a generator seeded through `numpy.random.SeedSequence`.
"""
from __future__ import annotations

import hashlib
import math
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmark.bounds import BOUNDS, BoundCheck, check_bound
from benchmark.statistics import percentile_interval

ANALYSIS_SEED = 20220101      # seeds the bootstraps over problem seeds (SeedSequence entropy)
N_BOOTSTRAP = 2000


# ----------------------------------------------------------------------------- aggregation

def seed_summary(df: pd.DataFrame, by: Sequence[str], metrics: Sequence[str], *,
                 n_bootstrap: int = N_BOOTSTRAP, confidence: float = 0.95) -> pd.DataFrame:
    """Mean of each metric over the problem seeds (`mdp_seed`), with a 95% interval.

    Interval: with two or more problem seeds, the percentile interval of the mean over a
    bootstrap that resamples the seeds (the uncertainty of the average over random MDPs,
    which includes the within-cell noise); with one seed (or none, the toy), the cell's
    own bootstrap interval `<metric>_lo/_hi` when it has one, else none.

    Args:
      df: one row per cell (the ok cells of a sweep).
      by: the columns that identify a point of a curve (e.g. estimator, split, batch).
      metrics: the metric columns to average.
    Returns:
      one row per group: `by`, `<metric>`, `<metric>_lo`, `<metric>_hi`, `n_mdps`, and the
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
            values = group[metric].to_numpy(dtype=float)
            values = values[np.isfinite(values)]
            row[metric] = float(values.mean()) if values.size else math.nan
            lo = hi = math.nan
            if values.size >= 2:
                lo, hi = _bootstrap_mean_interval(values, key, metric, n_bootstrap, confidence)
            elif values.size == 1 and f"{metric}_lo" in group and f"{metric}_hi" in group:
                lo, hi = float(group[f"{metric}_lo"].iloc[0]), float(group[f"{metric}_hi"].iloc[0])
            row[f"{metric}_lo"], row[f"{metric}_hi"] = lo, hi
        for name in extra:
            row[name] = float(pd.to_numeric(group[name], errors="coerce").mean())
        rows.append(row)
    return pd.DataFrame(rows)


def _bootstrap_mean_interval(values: np.ndarray, key: tuple, metric: str, n_bootstrap: int,
                             confidence: float) -> tuple[float, float]:
    """Percentile interval of the mean of `values` under resampling, seeded by the group."""
    spawn = tuple(_stable_int(part) for part in (*key, metric))
    rng = np.random.default_rng(np.random.SeedSequence(ANALYSIS_SEED, spawn_key=spawn))
    draws = rng.integers(0, values.size, size=(n_bootstrap, values.size))
    return percentile_interval(values[draws].mean(axis=1), confidence)


def _stable_int(value: Any) -> int:
    """A process-independent non-negative integer for a group key part (no `hash`)."""
    text = repr(value.item() if isinstance(value, np.generic) else value).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=6).digest(), "big")


# ----------------------------------------------------------------------------- bounds

def bound_check(df: pd.DataFrame, bound: str, axis: str, *, metric: str | None = None,
                min_points: int = 3) -> BoundCheck:
    """`benchmark.bounds.check_bound` on the cells of `df` (every problem seed a point).

    The bias is used only where its lower confidence limit is above zero (resolved).
    """
    spec = BOUNDS[bound]
    metric = metric or spec.quantity
    columns = {name: pd.to_numeric(df[name], errors="coerce").to_numpy(dtype=float) for name in spec.axes}
    y = df[metric].to_numpy(dtype=float)
    y_lo = df[f"{metric}_lo"].to_numpy(dtype=float) if f"{metric}_lo" in df else None
    return check_bound(spec, axis, columns, y, y_lo, min_points=min_points)


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


def check_phrase(check: BoundCheck, *, what: str) -> str:
    """'the bias of X falls as |τ|^-0.52 [-0.61, -0.43] (bound -0.5: tight, 20 cells)'."""
    if not np.isfinite(check.slope):
        return f"{what}: no fit ({check.note or 'too few resolved cells'})"
    interval = f"[{fmt(check.slope_lo)}, {fmt(check.slope_hi)}]" if np.isfinite(check.slope_lo) else "(no interval)"
    expected = "slope 1 against the bound's shape" if check.exponent is None else f"exponent {fmt(check.exponent)}"
    excluded = f", {check.n_excluded} unresolved cells left out" if check.n_excluded else ""
    return (f"{what}: log-log slope {fmt(check.slope)} {interval} vs the bound's {expected} → "
            f"{check.verdict} ({check.n_used} cells{excluded})")


def check_row(check: BoundCheck, **labels: Any) -> dict[str, Any]:
    """A row of the details table of a comparison."""
    return {**labels, "bound": BOUNDS[check.bound].formula, "axis": check.axis,
            "slope": fmt(check.slope), "interval": f"[{fmt(check.slope_lo)}, {fmt(check.slope_hi)}]",
            "expected": "1 (vs shape)" if check.exponent is None else fmt(check.exponent),
            "C (least squares)": fmt(check.constant_ls), "C (envelope)": fmt(check.constant_envelope),
            "verdict": check.verdict, "cells used / excluded": f"{check.n_used} / {check.n_excluded}"}


def overall_verdict(verdicts: Iterable[str], *, good: Sequence[str] = ("tight", "consistent")) -> str:
    """Combine bound verdicts: `inconclusive` when fewer than half are decided; otherwise
    `agrees` when every decided one is good, `disagrees` when none is, else `partly agrees`."""
    verdicts = list(verdicts)
    decided = [verdict for verdict in verdicts if verdict != "inconclusive"]
    if not decided or len(decided) < len(verdicts) / 2:
        return "inconclusive"
    if all(verdict in good for verdict in decided):
        return "agrees"
    if not any(verdict in good for verdict in decided):
        return "disagrees"
    return "partly agrees"


# ----------------------------------------------------------------------------- formatting

def fmt(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits ('nan' for missing)."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(value):
        return "nan"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def fmt_interval(value: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    """'0.52 [0.48, 0.57]'."""
    return f"{fmt(value, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def rows_at(summary: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows of an aggregated table matching every `column=value`."""
    mask = np.ones(len(summary), dtype=bool)
    for column, value in where.items():
        mask &= (summary[column] == value).to_numpy()
    return summary[mask]
