"""The one tabulation of bound checks: which bounds speak of which curves of a sweep, and
their verdicts (used by the sweep report, `mgbench compare` and the study figures).

A *curve* is one estimator along one swept axis with every other setting fixed (split,
K, α, ...), over every problem instance; it needs three or more axis values. For each
curve and each bound of `benchmark.analysis.bounds.BOUNDS`:
- the bound's `Scope` decides whether it speaks of the curve (`not_applicable`); a plug-in
  estimator joins a bound's estimators by claiming it (`@register(..., bounds=...)`);
- where it does, `check_bound` judges the cells (one per problem instance and axis value:
  a point where the quantity's lower limit is above 0, i.e. resolved, an upper limit where
  it is not; the row counts the resolved, censored and excluded cells) over the whole axis
  and, with six or more values, its upper half, where asymptotic claims are meant to hold;
- where it does not, one line per bound says why (`not_applied`).

The multi-step Hessian bound, stated along Δ_H = ‖E[Ĥ] − H‖, is judged along the swept
injected error `c` (Δ_H = 2c/(S·A) ∝ c, the column `hessian_error` the report derives).
This module imports no other part of `benchmark` but the bounds: the caller names the axis
columns (`benchmark.sweeps.columns.axes`), the bounds each estimator claims (the registry)
and how curves are named (`benchmark.present.looks.estimator_label`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from benchmark.analysis.claims import DEFAULT_PRECISION
from benchmark.analysis.bounds import BOUNDS, check_bound, not_applicable

__all__ = ["SWEPT_AXES", "VERDICT_COLUMNS", "NOT_APPLIED_COLUMNS", "Curve", "find_curves", "curve_keys",
           "fit_ranges", "verdict_table", "not_applied"]

SWEPT_AXES = ("batch", "lr", "steps", "N", "c", "critic_noise")
VERDICT_COLUMNS = ("estimator", "split", "axis", "range", "bound", "slope", "slope_lo", "slope_hi", "verdict",
                   "exponent", "precision", "quantity", "formula", "constant_envelope", "constant_ls",
                   "cells_resolved", "cells_censored", "cells_excluded", "note", "curve", "settings")
NOT_APPLIED_COLUMNS = ("bound", "reason")

@dataclass(frozen=True)
class Curve:
    """The cells of one estimator along one axis, every other setting fixed.

    Attributes:
      axis: the swept axis.
      estimator: the estimator name.
      split: its split (Liu et al.'s letters) or None.
      settings: the other fixed settings that define it (name -> value).
      cells: its cells, one row per (axis value, problem instance).
      name: the estimator's display name (with its split), given by `find_curves`' caller.
    """

    axis: str
    estimator: str
    split: str | None
    settings: dict[str, Any]
    cells: pd.DataFrame
    name: str = ""

    @property
    def label(self) -> str:
        """'MAML (naive autodiff), split lee (lr 3)': the display name and the other settings."""
        others = ", ".join(f"{name} {_plain(value)}" for name, value in self.settings.items()
                           if name not in ("estimator", "split"))
        return self.name + (f" ({others})" if others else "")


def curve_keys(frame: pd.DataFrame, axis: str, axis_columns: Sequence[str]) -> list[str]:
    """Columns that identify a curve along `axis`: the estimator and every other varying axis."""
    keys = []
    for column in axis_columns:
        if column == axis or column not in frame:
            continue
        if column == "estimator" or frame[column].nunique(dropna=True) > 1:
            keys.append(column)
    return keys


def find_curves(frame: pd.DataFrame, axis_columns: Sequence[str], *, axes: Sequence[str] = SWEPT_AXES,
                name: Callable[..., str]) -> list[Curve]:
    """Every (axis, curve) with at least three distinct axis values among the ok cells.

    Args:
      frame: a sweep's results (one row per cell).
      axis_columns: its axis columns (`benchmark.sweeps.columns.axes(frame.columns)`).
      axes: the swept axes a bound can be judged along.
      name: `name(estimator, split=split)` -> display name (`benchmark.present.looks.estimator_label`).
    """
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    found = []
    for axis in axes:
        if axis not in ok or ok[axis].nunique(dropna=True) < 3:
            continue
        keys = curve_keys(ok, axis, axis_columns)
        for key, cells in ok.dropna(subset=[axis]).groupby(keys, dropna=False, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            settings = {name: value for name, value in zip(keys, key) if not _missing(value)}
            if cells[axis].nunique() < 3:
                continue
            split = cells["split"].dropna().iloc[0] if "split" in cells and cells["split"].notna().any() else None
            estimator = str(settings.get("estimator", "?"))
            split = None if split is None else str(split)
            found.append(Curve(axis, estimator, split, settings, cells, name(estimator, split=split)))
    return found


def fit_ranges(cells: pd.DataFrame, axis: str) -> dict[str, pd.DataFrame]:
    """The whole axis, and — with six or more values — its upper half, where asymptotic
    claims (O(1/N), Θ(N), O(|τ|^-½)) are meant to hold."""
    values = np.sort(pd.to_numeric(cells[axis], errors="coerce").dropna().unique())
    ranges = {"all": cells}
    if len(values) >= 6:
        start = values[len(values) // 2]
        ranges[f"{axis} >= {start:g}"] = cells[pd.to_numeric(cells[axis], errors="coerce") >= start]
    return ranges


def verdict_table(curves: Sequence[Curve], *, problem: str, target: str, precision: float = DEFAULT_PRECISION,
                  claims: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One row per (curve, applicable bound, fit range): slope with interval, verdict, constants.

    Args:
      curves: the curves of one sweep (`find_curves`; cells with derived columns).
      problem, target: the sweep's problem kind and target.
      precision: the largest slope-interval half-width for `tight` or `violated`.
      claims: estimator -> the bounds it claims (plug-ins; `EstimatorSpec.bounds`).

    Returns:
      DataFrame with `VERDICT_COLUMNS` (empty, with those columns, when nothing applies).
    """
    rows = []
    for curve in curves:
        claimed = tuple((claims or {}).get(curve.estimator, ()))
        for name, bound in BOUNDS.items():
            if not_applicable(bound, problem=problem, target=target, estimator=curve.estimator, axis=curve.axis,
                              split=curve.split, claimed=claimed) is not None:
                continue
            column = bound.scope.sweep_axes[curve.axis]
            for span, cells in fit_ranges(curve.cells, curve.axis).items():
                check = _check(cells, name, column, precision, curve.axis in bound.scope.toward_zero)
                rows.append({"estimator": curve.estimator, "split": curve.split, "axis": curve.axis, "range": span,
                             "bound": name, "slope": check.slope, "slope_lo": check.slope_lo,
                             "slope_hi": check.slope_hi, "verdict": check.verdict, "exponent": check.exponent,
                             "precision": check.precision, "quantity": bound.quantity, "formula": bound.formula,
                             "constant_envelope": check.constant_envelope, "constant_ls": check.constant_ls,
                             "cells_resolved": check.n_resolved, "cells_censored": check.n_censored,
                             "cells_excluded": check.n_excluded, "note": check.note,
                             "curve": curve.label, "settings": _settings_text(curve)})
    return pd.DataFrame(rows, columns=list(VERDICT_COLUMNS))


def not_applied(curves: Sequence[Curve], *, problem: str, target: str,
                claims: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """One line per bound that was not applied to some (or every) curve, and why.

    Returns:
      DataFrame with `NOT_APPLIED_COLUMNS`: e.g. ("compositional", "speaks of split lee
      (sampled inner gradient, exact Hessian and outer gradient); not applied to MAML lll,
      DiCE eel"), or ("lsf_bias", "is about gaussian_toy problems, not tabular").
    """
    rows = []
    for name, bound in BOUNDS.items():
        if not curves:
            rows.append({"bound": name, "reason": "no swept axis with three or more values"})
            continue
        skipped: dict[str, list[str]] = {}
        applied = 0
        for curve in curves:
            claimed = tuple((claims or {}).get(curve.estimator, ()))
            reason = not_applicable(bound, problem=problem, target=target, estimator=curve.estimator,
                                    axis=curve.axis, split=curve.split, claimed=claimed)
            if reason is None:
                applied += 1
            else:
                skipped.setdefault(_general(reason, name), []).append(f"{curve.label} along {curve.axis}")
        if not skipped:
            continue
        if len(skipped) == 1 and not applied and next(iter(skipped)).startswith(f"{name} is"):
            rows.append({"bound": name, "reason": next(iter(skipped))})      # one reason for every curve
            continue
        parts = []
        for reason, which in skipped.items():
            shown = ", ".join(dict.fromkeys(which))
            parts.append(f"{reason}: not applied to {len(which)} curve{'s' if len(which) > 1 else ''} "
                         f"[{_shorten(shown)}]")
        rows.append({"bound": name, "reason": "; ".join(parts)})
    return pd.DataFrame(rows, columns=list(NOT_APPLIED_COLUMNS))


def _general(reason: str, bound: str) -> str:
    """A reason without the curve-specific tail ('..., not lll' -> the scope statement)."""
    if reason.startswith(f"{bound} speaks of"):
        return reason.rsplit(", not ", 1)[0]
    if reason.startswith(f"{bound} is judged along"):
        return reason.rsplit(", not ", 1)[0]
    return reason


def _shorten(text: str, limit: int = 220) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(",", 1)[0] + ", …"


def _check(cells: pd.DataFrame, bound: str, column: str, precision: float, toward_zero: bool):
    spec = BOUNDS[bound]
    metric = spec.quantity
    columns = {name: pd.to_numeric(cells[name], errors="coerce").to_numpy(dtype=float) if name in cells
               else np.full(len(cells), np.nan) for name in spec.axes}
    y = cells[metric].to_numpy(dtype=float)
    y_lo = cells[f"{metric}_lo"].to_numpy(dtype=float) if f"{metric}_lo" in cells else None
    y_hi = cells[f"{metric}_hi"].to_numpy(dtype=float) if f"{metric}_hi" in cells else None
    return check_bound(spec, column, columns, y, y_lo, y_hi=y_hi, precision=precision, toward_zero=toward_zero)


def _settings_text(curve: Curve) -> str:
    return ", ".join(f"{name}={_plain(value)}" for name, value in curve.settings.items() if name != "estimator")


def _plain(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return f"{value:g}" if isinstance(value, (float, np.floating)) else str(value)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA
