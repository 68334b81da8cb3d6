"""Drawing only: tidy tables already summarised in, matplotlib Figures out (rliable style).

No statistics happen here: every function draws the points, intervals and bound curves it
is given and returns the `Figure`. The numbers come from `benchmark.analysis.statistics` (per cell),
`benchmark.analysis.bounds` (fitted bound curves) and the analysis functions of `benchmark.analysis.aggregation`
(aggregation over problem seeds).

Conventions shared by every figure:
- one look per estimator (`benchmark.present.looks`: colour, marker, name), the same in every figure
  and page; other hue values take seaborn's colour-blind-safe palette in order;
- estimator names as the papers write them (`benchmark.present.looks.estimator_label`);
- a metric `m` with columns `m_lo` and `m_hi` gets a shaded 95% interval;
- a bias point whose interval reaches zero (`m_lo <= 0`, not resolved from zero) is an
  upper limit: a hollow marker at the interval's upper end with a downward arrow, not joined
  into the line and without a band;
- fitted bounds are dashed (dotted, dash-dot for a second and third bound) in the colour of
  the curve they bound, or grey when they bound no particular curve.
"""
from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.present.looks import estimator_label, look  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

__all__ = [
    "AXIS_LABELS", "METRIC_LABELS", "axis_label", "metric_label",
    "colours", "metric_vs_axis", "frontier", "optimisation_curves", "save_figure",
]

PALETTE = ("#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4", "#949494",
           "#ece133", "#56b4e9")   # seaborn "colorblind"
PALE_YELLOW = "#ece133"
BOUND_STYLES = ("--", ":", "-.", (0, (5, 2, 1, 2, 1, 2)))
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")

AXIS_LABELS: dict[str, str] = {
    "batch": "batch size |τ| (trajectories)",
    "N": "sample count N",
    "lr": "inner learning rate α",
    "steps": "inner steps K",
    "c": "injected Hessian error c",
    "delta_h": "Hessian error Δ_H = ‖E Ĥ − H‖",
    "lambda_c": "sampling-correction coefficient λ_c",
    "window": "truncation window L (inner steps)",
    "iteration": "iteration (gradient-ascent steps)",
    "sigma": "ES perturbation scale σ",
}
METRIC_LABELS: dict[str, str] = {
    "bias": "bias ‖E ĝ − g*‖",
    "rel_bias": "relative bias ‖E ĝ − g*‖/‖g*‖",
    "variance": "variance tr Cov(ĝ)",
    "mse": "mean squared error E‖ĝ − g*‖²",
    "corr": "correlation of ĝ with g* (Pearson)",
    "std_sum": "std_sum Σ_j std(ĝ_j)",
    "cosine": "cosine(E ĝ, g*)",
    "objective": "objective −(θ − c)² − σ²/N",
    "theta": "parameter θ",
}


# ----------------------------------------------------------------------------- labels

def axis_label(axis: str) -> str:
    """Axis label with units for a sweep axis (the name itself when unknown)."""
    return AXIS_LABELS.get(axis, axis)


def metric_label(metric: str) -> str:
    """Axis label for a metric column (the name itself when unknown)."""
    return METRIC_LABELS.get(metric, metric)


def colours(values: Iterable[Any], *, estimators: bool = False, avoid: Iterable[str] = ()) -> dict[Any, str]:
    """One colour-blind-safe colour per value, in order of first appearance.

    With `estimators=True` every value is an estimator name and gets its one colour from
    `benchmark.present.looks` (the same in every figure and run, whatever else is drawn).
    `avoid`: colours already standing for something else in the figure (e.g. estimators
    drawn as single points beside the curves), skipped while the palette has others.
    """
    values = list(dict.fromkeys(values))
    if estimators:
        return {value: look(str(value)).colour for value in values}
    from matplotlib.colors import to_rgb

    taken = [np.array(to_rgb(colour)) for colour in avoid]
    palette = [colour for colour in PALETTE                 # neither the same nor a look-alike (RGB distance)
               if all(np.linalg.norm(np.array(to_rgb(colour)) - other) > 0.35 for other in taken)]
    if taken:                                               # the pale yellow (faint on white) only as a last resort
        palette = [colour for colour in palette if colour != PALE_YELLOW] + [PALE_YELLOW]
    return {value: palette[index % len(palette)] for index, value in enumerate(values)}


# ----------------------------------------------------------------------------- metric against an axis

def metric_vs_axis(df: pd.DataFrame, axis: str, metric: str | Sequence[str], *, hue: str | None = "estimator",
                   facet: str | None = None, bound: pd.DataFrame | None = None, logx: bool = False,
                   logy: bool | Sequence[bool] = False, labels: Mapping[Any, str] | None = None,
                   hue_order: Sequence[Any] | None = None, facet_order: Sequence[Any] | None = None,
                   facet_label: str | None = None, reference: Sequence[tuple[float, str]] = (),
                   title: str | None = None, xlabel: str | None = None, ylabel: str | Sequence[str] | None = None,
                   sharey: bool = True, col_wrap: int = 4, panel_size: tuple[float, float] = (3.6, 2.9),
                   colour_map: Mapping[Any, str] | None = None) -> Figure:
    """Lines of `metric` against `axis`, one per `hue` value, one panel per `facet` value.

    Args:
      df: one row per (hue, facet, axis value) with the `metric` column and optionally
        `<metric>_lo` and `<metric>_hi` (drawn as a shaded interval).
      axis: the x column.
      metric: the y column, or several (one row of panels per metric).
      hue: the column that separates lines (None: one line).
      facet: the column that separates panels (None: one panel per metric).
      bound: fitted bound curves, columns `axis`, `bound`, optionally `metric` (the panel
        row), the `hue` and `facet` columns (a curve per value) and `label` (legend text,
        also selects the dash style).
      logx, logy: log scales (`logy` may be one flag per metric).
      labels: legend text per hue value (default: `looks.estimator_label` for estimators).
      hue_order, facet_order: the order of lines and panels (default: first appearance).
      facet_label: the panel title prefix (default: the facet column name).
      reference: horizontal reference lines `(y, label)` drawn in grey, e.g. a noise floor.
      title: the figure title.
      xlabel, ylabel: override the axis labels (default: `axis_label`, `metric_label`).
      sharey: share the y axis between the panels of one metric.
      col_wrap: panels per row when there is one metric and many facets.
      colour_map: colour per hue value (default: `colours`).
    Returns:
      the Figure.
    """
    metrics = [metric] if isinstance(metric, str) else list(metric)
    log_ys = [logy] * len(metrics) if isinstance(logy, bool) else list(logy)
    ylabels = [ylabel] * len(metrics) if ylabel is None or isinstance(ylabel, str) else list(ylabel)
    facets = _order(df, facet, facet_order)
    hues = _order(df, hue, hue_order)
    palette = dict(colour_map) if colour_map else colours(hues, estimators=hue == "estimator")
    legend_text = _legend_text(hue, hues, labels)
    grid = _panel_grid(len(metrics), len(facets), col_wrap)
    figure, axes = plt.subplots(grid[0], grid[1], figsize=(panel_size[0] * grid[1], panel_size[1] * grid[0]),
                                squeeze=False, sharex=True, sharey="row" if sharey and len(metrics) > 1 else sharey,
                                constrained_layout=True)
    bound_styles = _bound_styles(bound)
    handles: dict[str, Any] = {}
    for row, (name, log_y, y_label) in enumerate(zip(metrics, log_ys, ylabels)):
        for column, facet_value in enumerate(facets):
            position = row * len(facets) + column if len(metrics) > 1 else column
            ax = axes.flat[position]
            panel = _select(df, facet, facet_value)
            for hue_value in hues:
                rows = _select(panel, hue, hue_value).sort_values(axis)
                if rows.empty:
                    continue
                colour = palette.get(hue_value, "black")
                marker = look(str(hue_value)).marker if hue == "estimator" else _marker(colour, hues.index(hue_value))
                handle = _line_with_band(ax, rows, axis, name, colour, log_y, marker=marker)
                handles.setdefault(legend_text[hue_value], handle)
            if bound is not None:
                _draw_bounds(ax, bound, axis, name, hue, facet, facet_value, palette, bound_styles, handles,
                             single_metric=len(metrics) == 1)
            for y_value, text in reference:
                line = ax.axhline(y_value, color="0.45", lw=1, ls=(0, (1, 1)))
                handles.setdefault(text, line)
            _scales(ax, logx, log_y, xticks=sorted(pd.to_numeric(df[axis], errors="coerce").dropna().unique()))
            if facet is not None:
                ax.set_title(f"{facet_label if facet_label is not None else facet} {facet_value}".strip(),
                             fontsize=9)
            ax.set_ylabel(y_label or metric_label(name), fontsize=9)
            ax.set_xlabel(xlabel or axis_label(axis), fontsize=9)
            ax.grid(True, which="major", alpha=0.3)
    for ax in axes.flat[len(metrics) * len(facets) if len(metrics) > 1 else len(facets):]:
        ax.set_visible(False)
    if len(metrics) == 1 and sharey:   # panels share the y axis: label the first column only
        for ax in axes.flat:
            if ax.get_visible() and not ax.get_subplotspec().is_first_col():
                ax.set_ylabel("")
    _legend(figure, handles)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _line_with_band(ax, rows: pd.DataFrame, axis: str, metric: str, colour: str, log_y: bool, *,
                    marker: str, linestyle: Any = "-") -> Any:
    """A curve with its band. Resolved points (lower limit > 0, or no interval) are joined
    by the line; an unresolved point (its interval reaches 0) is never joined into the line:
    `_open_ended` draws it (an upper limit, or arrows both ways when it has none)."""
    x = rows[axis].to_numpy(dtype=float)
    y = rows[metric].to_numpy(dtype=float)
    lo = rows[f"{metric}_lo"].to_numpy(dtype=float) if f"{metric}_lo" in rows else None
    hi = rows[f"{metric}_hi"].to_numpy(dtype=float) if f"{metric}_hi" in rows else None
    unresolved = np.zeros(x.size, bool) if lo is None else ~(lo > 0) & (metric in _UPPER_LIMIT_METRICS)
    shown = np.isfinite(y) & ((y > 0) if log_y else True) & ~unresolved
    if lo is not None and hi is not None:
        ok = np.isfinite(lo) & np.isfinite(hi) & (lo > 0) & (hi > 0 if log_y else True)
        if ok.any():
            ax.fill_between(x[ok], lo[ok], hi[ok], color=colour, alpha=0.18, lw=0)
    line, = ax.plot(x[shown], y[shown], color=colour, lw=1.6, marker=marker, ms=4.5, ls=linestyle)
    if hi is not None:
        _open_ended(ax, x, y, hi, unresolved, np.isfinite(x), colour, marker, 4.5, log_y)
    return line


def _open_ended(ax, x: np.ndarray, y: np.ndarray, hi: np.ndarray, unresolved: np.ndarray, x_ok: np.ndarray,
                colour: str, marker: str, size: float, log_y: bool, xerr: np.ndarray | None = None,
                x_hi: np.ndarray | None = None, log_x: bool = True) -> None:
    """The points whose interval is not a closed bar, drawn with arrows (the one place for them):
    - unresolved from 0 (lower limit 0), finite upper limit: an upper limit, a hollow marker at
      `hi` with a downward arrow;
    - unresolved from 0 and no upper limit (`hi` = +∞: the data bound the value neither way, e.g. a
      bias whose estimates have no variance): a hollow marker at the point estimate with arrows
      up and down;
    - resolved (drawn as a point by the caller) but `hi` = +∞: an upward arrow from the point;
    - `x_hi` = +∞ (e.g. a variance the data cannot bound): an arrow to the right."""
    def arrows(chosen, at, mark=True, **limits):      # without a marker, without the x error bar
        if chosen.any():
            span = 0.35 * at[chosen] if log_y else np.full(chosen.sum(), 0.1 * np.nanmax(np.abs(at[chosen])))
            ax.errorbar(x[chosen], at[chosen], xerr=None if xerr is None or not mark else xerr[:, chosen], yerr=span,
                        ls="none", marker=marker if mark else "none", ms=size,
                        mfc="white" if unresolved[chosen].all() else colour,
                        mec=colour, color=colour, elinewidth=0.9, capsize=2.5, mew=1.0, **limits)
    positive = (lambda v: np.isfinite(v) & (v > 0)) if log_y else np.isfinite
    arrows(x_ok & unresolved & positive(hi), hi, uplims=True)
    both = x_ok & unresolved & (hi == np.inf) & positive(y)
    arrows(both, y, uplims=True)
    arrows(both, y, mark=False, lolims=True)
    arrows(x_ok & ~unresolved & (hi == np.inf) & positive(y), y, mark=False, lolims=True)
    if x_hi is not None:
        right = x_ok & (x_hi == np.inf) & np.isfinite(y) & ((y > 0) if log_y else True)
        at = np.where(unresolved & (hi < np.inf), hi, y)
        if right.any():
            ax.errorbar(x[right], at[right], xerr=1.5 * x[right] if log_x else 0.1 * np.nanmax(np.abs(x[right])),
                        xlolims=True, ls="none", marker="none", color=colour, elinewidth=0.9, capsize=2.5)


# What the open intervals' marks mean (`_open_ended`): the one caption sentence for every page.
OPEN_INTERVALS_NOTE = ("Hollow markers with a downward arrow: upper limits, the bias is not resolved from zero (its "
                       "interval reaches 0), drawn at the interval's upper end and not joined into a line; hollow "
                       "markers with arrows up and down: not resolved either way (no upper limit: the estimates' "
                       "variance is not bounded by the data); an arrow up or to the right from a point: its interval "
                       "has no upper end.")

# Metrics whose interval reaching 0 means "not resolved from 0" (drawn as upper limits).
_UPPER_LIMIT_METRICS = {"bias", "rel_bias"}


def _draw_bounds(ax, bound: pd.DataFrame, axis: str, metric: str, hue: str | None, facet: str | None,
                 facet_value: Any, palette: Mapping[Any, str], styles: Mapping[str, Any],
                 handles: dict[str, Any], *, single_metric: bool) -> None:
    curves = bound
    if "metric" in curves:
        curves = curves[curves["metric"] == metric]
    elif not single_metric:
        return
    if facet is not None and facet in curves:
        curves = _select(curves, facet, facet_value)
    group_columns = [column for column in (hue, "label") if column is not None and column in curves]
    groups = curves.groupby(group_columns, sort=False, dropna=False) if group_columns else [((), curves)]
    for key, rows in groups:
        key = key if isinstance(key, tuple) else (key,)
        values = dict(zip(group_columns, key))
        label = str(values.get("label", "fitted bound"))
        colour = palette.get(values[hue], "0.35") if hue in values else "0.35"
        rows = rows.sort_values(axis)
        line, = ax.plot(rows[axis].to_numpy(float), rows["bound"].to_numpy(float), color=colour, lw=1.3,
                        ls=styles.get(label, "--"))
        handles.setdefault(label, Line2D([], [], color="0.35", lw=1.3, ls=styles.get(label, "--")))


def _bound_styles(bound: pd.DataFrame | None) -> dict[str, Any]:
    if bound is None:
        return {}
    labels = list(dict.fromkeys(bound["label"])) if "label" in bound else ["fitted bound"]
    return {str(label): BOUND_STYLES[index % len(BOUND_STYLES)] for index, label in enumerate(labels)}


# ----------------------------------------------------------------------------- frontier

def frontier(df: pd.DataFrame, *, x: str = "variance", y: str = "bias", hue: str = "family",
             order: str | None = None, annotate: str | None = None, annotate_ends: bool = False,
             facet: str | None = None, labels: Mapping[Any, str] | None = None, hue_order: Sequence[Any] | None = None,
             facet_order: Sequence[Any] | None = None, facet_label: str | None = None,
             highlight: pd.DataFrame | None = None, highlight_label: str = "label",
             highlight_annotate: str | None = None, logx: bool = True, logy: bool = True, reference: Sequence[tuple[float, str]] = (),
             title: str | None = None, xlabel: str | None = None, ylabel: str | None = None,
             panel_size: tuple[float, float] = (4.6, 3.8)) -> Figure:
    """Bias against variance: each `hue` group a curve ordered by `order`, with error bars.

    Args:
      df: one row per point with `x`, `y` and optionally `<x>_lo/_hi`, `<y>_lo/_hi`.
      hue: the column naming a curve (e.g. the truncation window).
      order: the column along which a curve's points are connected (e.g. `lambda_c`).
      annotate: a column whose values are written next to the points of each curve.
      annotate_ends: write them at each curve's first and last point only (crowded frontiers).
      facet: one panel per value of this column.
      highlight: single estimators drawn as large markers (same columns as `df`, plus
        `highlight_label`, optionally `look`: the estimator whose look they take; a `facet`
        value of NaN puts a point on every panel).
      highlight_annotate: a column of `highlight` written next to each of its points (what
        tells apart several points of one estimator, e.g. its window); ignored where absent.
      reference: horizontal reference lines `(y, label)`, e.g. the target's standard error.
    Returns:
      the Figure.
    """
    facets, hues, palette, legend_text, figure, axes = _panel_row(df, hue, facet, hue_order, facet_order, labels,
                                                                  panel_size, sharex=True, sharey=True)
    if highlight is not None and hue != "estimator":     # a curve never takes a single point's colour
        stands_for = highlight["look"] if "look" in highlight else highlight[highlight_label]
        palette = colours(hues, avoid={look(str(name)).colour for name in stands_for.dropna()})
    handles: dict[str, Any] = {}
    highlight_names = list(dict.fromkeys(highlight[highlight_label])) if highlight is not None else []
    for ax, facet_value in zip(axes.flat, facets):
        panel = _select(df, facet, facet_value)
        for index, hue_value in enumerate(hues):
            rows = _select(panel, hue, hue_value)
            if order is not None:
                rows = rows.sort_values(order)
            if rows.empty:
                continue
            marker = look(str(hue_value)).marker if hue == "estimator" else _marker(palette[hue_value], index)
            handle = _points_with_errors(ax, rows, x, y, palette[hue_value], marker,
                                         connect=True, size=5, logx=logx, logy=logy)
            handles.setdefault(legend_text[hue_value], handle)
            if annotate is not None:
                for _, point in (rows.iloc[[0, -1]] if annotate_ends and len(rows) > 2 else rows).iterrows():
                    at = _drawn_at(point, y)
                    if _positive(point[x]) and _positive(at):
                        ax.annotate(_number(point[annotate]), (point[x], at), textcoords="offset points",
                                    xytext=(4, 3), fontsize=6.5, color=palette[hue_value])
        if highlight is not None:
            chosen = highlight
            if facet is not None and facet in highlight:
                chosen = highlight[highlight[facet].isna() | (highlight[facet] == facet_value)]
            for index, name in enumerate(highlight_names):
                rows = chosen[chosen[highlight_label] == name]
                if rows.empty:
                    continue
                # the look of the estimator the point stands for (column `look`), else of its label:
                # the same colour and marker in every run, whatever else is highlighted
                chosen_look = look(str(rows["look"].iloc[0]) if "look" in rows and pd.notna(rows["look"].iloc[0])
                                   else str(name))
                handle = _points_with_errors(ax, rows, x, y, chosen_look.colour, chosen_look.marker, connect=False,
                                             size=11, logx=logx, logy=logy)
                handles.setdefault(str(name), handle)
                if highlight_annotate in rows:
                    _annotate_groups(ax, rows, x, y, highlight_annotate, chosen_look.colour)
        for y_value, text in reference:
            handles.setdefault(text, ax.axhline(y_value, color="0.45", lw=1, ls=(0, (1, 1))))
        _scales(ax, logx, logy)
        if facet is not None:
            ax.set_title(f"{facet_label if facet_label is not None else facet} {facet_value}".strip(), fontsize=9)
        ax.set_xlabel(xlabel or metric_label(x), fontsize=9)
        ax.set_ylabel(ylabel or metric_label(y), fontsize=9)
        ax.grid(True, which="major", alpha=0.3)
    _legend(figure, handles)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


def _drawn_at(point: pd.Series, y: str) -> float:
    """Where a point is drawn in `y`: at its value, or for an upper limit (an unresolved bias)
    at its interval's upper end (`_points_with_errors`)."""
    if y in _UPPER_LIMIT_METRICS and f"{y}_lo" in point and not point[f"{y}_lo"] > 0:
        return point.get(f"{y}_hi", point[y])
    return point[y]


def _as_number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.inf


def _annotate_groups(ax, rows: pd.DataFrame, x: str, y: str, text: str, colour: str) -> None:
    """Write `rows[text]` beside each point; points drawn on top of each other (within a
    factor 2 in both coordinates) share one label, their texts joined: `window 21, 41, 61`."""
    placed: list[tuple[float, float, list[str]]] = []
    for _, point in rows.sort_values(x).iterrows():
        at = _drawn_at(point, y)
        if pd.isna(point[text]) or not str(point[text]) or not (_positive(point[x]) and _positive(at)):
            continue
        near = next((group for group in placed if max(point[x] / group[0], group[0] / point[x]) < 2
                     and max(at / group[1], group[1] / at) < 2), None)
        if near is None:
            placed.append((float(point[x]), float(at), [str(point[text])]))
        else:
            near[2].append(str(point[text]))
    for x_value, y_value, texts in placed:
        words = [re.match(r"^(.*?)(-?[\d.]+)$", text) for text in texts]   # `L=21`, `L=41` -> `L=21, 41`
        if len(texts) > 1 and all(word is not None and word.group(1) == words[0].group(1) for word in words):
            values = sorted((word.group(2) for word in words), key=_as_number)
            label = f"{words[0].group(1)}{', '.join(values)}"
        else:
            label = "; ".join(texts)
        ax.annotate(label, (x_value, y_value), textcoords="offset points", xytext=(6, -9), fontsize=6.5, color=colour)


def _points_with_errors(ax, rows: pd.DataFrame, x: str, y: str, colour: str, marker: str, *, connect: bool,
                        size: float, logx: bool = True, logy: bool = True) -> Any:
    """Points (resolved ones connected in row order when `connect`) with error bars from
    `<col>_lo/_hi`.

    A point whose `y` interval reaches zero (a bias not resolved from zero) is never joined
    into the line: it is drawn by `_open_ended` (an upper limit, or arrows both ways when it has
    none), with its x error bar.
    """
    xs, ys = rows[x].to_numpy(float), rows[y].to_numpy(float)
    x_ok = np.isfinite(xs) & ((xs > 0) if logx else True)
    lo = rows[f"{y}_lo"].to_numpy(float) if f"{y}_lo" in rows else np.full(xs.size, np.inf)
    hi = rows[f"{y}_hi"].to_numpy(float) if f"{y}_hi" in rows else np.full(xs.size, np.nan)
    unresolved = ~(lo > 0) & (y in _UPPER_LIMIT_METRICS)
    shown = x_ok & np.isfinite(ys) & ((ys > 0) if logy else True) & ~unresolved
    xerr = _error_bars(rows, x, xs, logx) if f"{x}_lo" in rows else None
    yerr = _error_bars(rows, y, ys, logy) if f"{y}_lo" in rows else None
    handle = ax.errorbar(xs[shown], ys[shown], xerr=None if xerr is None else xerr[:, shown],
                         yerr=None if yerr is None else yerr[:, shown], color=colour, marker=marker, ms=size,
                         lw=1.3 if connect else 0, elinewidth=0.8, capsize=1.5, ls="-" if connect else "none",
                         mec="black" if size > 8 else colour, mew=0.6)
    _open_ended(ax, xs, ys, hi, unresolved, x_ok, colour, marker, size, logy, xerr,
                rows[f"{x}_hi"].to_numpy(float) if f"{x}_hi" in rows else None, logx)
    return handle


def _error_bars(rows: pd.DataFrame, column: str, values: np.ndarray, log: bool) -> np.ndarray:
    lo = rows[f"{column}_lo"].to_numpy(float)
    hi = rows[f"{column}_hi"].to_numpy(float)
    below = np.clip(values - np.where(np.isfinite(lo), lo, values), 0, None)
    above = np.clip(np.where(np.isfinite(hi), hi, values) - values, 0, None)
    if log:   # an interval reaching zero has no lower whisker (its marker is hollow instead)
        below = np.where((values > 0) & (lo > 0), np.minimum(below, values * 0.999), 0.0)
    return np.vstack([below, above])


# ----------------------------------------------------------------------------- optimisation curves

def optimisation_curves(df: pd.DataFrame, *, x: str = "iteration", y: str = "objective", hue: str = "estimator",
                        facet: str | None = None, labels: Mapping[Any, str] | None = None,
                        hue_order: Sequence[Any] | None = None, facet_order: Sequence[Any] | None = None,
                        facet_label: str | None = None, optimum: pd.DataFrame | None = None,
                        logy: bool = False, title: str | None = None, xlabel: str | None = None,
                        ylabel: str | None = None, panel_size: tuple[float, float] = (3.8, 3.0),
                        sharey: bool = False) -> Figure:
    """Mean curves with shaded intervals against iterations, one panel per `facet` value.

    Args:
      df: one row per (hue, facet, iteration) with `y` and optionally `<y>_lo`, `<y>_hi`.
      optimum: horizontal reference per panel: columns `facet` (if any), `value`, `label`.
    Returns:
      the Figure.
    """
    facets, hues, palette, legend_text, figure, axes = _panel_row(df, hue, facet, hue_order, facet_order, labels,
                                                                  panel_size, sharey=sharey)
    handles: dict[str, Any] = {}
    for ax, facet_value in zip(axes.flat, facets):
        panel = _select(df, facet, facet_value)
        for hue_value in hues:
            rows = _select(panel, hue, hue_value).sort_values(x)
            if rows.empty:
                continue
            colour = palette[hue_value]
            xs, ys = rows[x].to_numpy(float), rows[y].to_numpy(float)
            if f"{y}_lo" in rows and f"{y}_hi" in rows:
                ax.fill_between(xs, rows[f"{y}_lo"].to_numpy(float), rows[f"{y}_hi"].to_numpy(float), color=colour,
                                alpha=0.2, lw=0)
            line, = ax.plot(xs, ys, color=colour, lw=1.5)
            handles.setdefault(legend_text[hue_value], line)
        if optimum is not None:
            rows = _select(optimum, facet, facet_value) if facet is not None and facet in optimum else optimum
            for _, row in rows.iterrows():
                handles.setdefault(str(row.get("label", "optimum")),
                                   ax.axhline(float(row["value"]), color="0.3", lw=1, ls="--"))
        _scales(ax, False, logy)
        if facet is not None:
            ax.set_title(f"{facet_label if facet_label is not None else facet} {facet_value}".strip(), fontsize=9)
        ax.set_xlabel(xlabel or axis_label(x), fontsize=9)
        if ax is axes.flat[0] or not sharey:
            ax.set_ylabel(ylabel or metric_label(y), fontsize=9)
        ax.grid(True, alpha=0.3)
    _legend(figure, handles)
    if title:
        figure.suptitle(title, fontsize=11)
    return figure


# ----------------------------------------------------------------------------- output

def save_figure(figure: Figure, directory: str | Path, stem: str, *, dpi: int = 150,
                close: bool = True) -> list[Path]:
    """Write `<directory>/<stem>.png` and `.pdf`; returns both paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{stem}.png", directory / f"{stem}.pdf"]
    figure.savefig(paths[0], dpi=dpi, bbox_inches="tight")
    figure.savefig(paths[1], bbox_inches="tight")
    if close:
        plt.close(figure)
    return paths


# ----------------------------------------------------------------------------- helpers

def _present(value: Any) -> bool:
    if value is None or value is pd.NA:
        return False
    try:
        return not (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return True


def _positive(value: Any) -> bool:
    try:
        return bool(np.isfinite(float(value)) and float(value) > 0)
    except (TypeError, ValueError):
        return False


def _number(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def _panel_row(df: pd.DataFrame, hue: str, facet: str | None, hue_order, facet_order, labels,
               panel_size: tuple[float, float], **share: Any):
    """Facets, hues, their colours and legend text, and a one-row grid of panels (one per facet)."""
    facets = _order(df, facet, facet_order)
    hues = _order(df, hue, hue_order)
    figure, axes = plt.subplots(1, len(facets), figsize=(panel_size[0] * len(facets), panel_size[1]), squeeze=False,
                                constrained_layout=True, **share)
    return (facets, hues, colours(hues, estimators=hue == "estimator"), _legend_text(hue, hues, labels),
            figure, axes)


def _order(df: pd.DataFrame, column: str | None, order: Sequence[Any] | None) -> list[Any]:
    if column is None:
        return [None]
    present = list(dict.fromkeys(df[column].tolist()))
    if order is None:
        return present
    return [value for value in order if value in present] + [value for value in present if value not in order]


def _select(df: pd.DataFrame, column: str | None, value: Any) -> pd.DataFrame:
    if column is None or value is None:
        return df
    return df[df[column] == value]


def _legend_text(hue: str | None, hues: list[Any], labels: Mapping[Any, str] | None) -> dict[Any, str]:
    text = {}
    for value in hues:
        if labels is not None and value in labels:
            text[value] = labels[value]
        elif hue == "estimator":
            text[value] = estimator_label(str(value))
        elif value is None:
            text[value] = ""
        else:
            text[value] = f"{hue} {_number(value)}" if hue not in ("label", "family") else str(value)
    return text


def _marker(colour: str, index: int) -> str:
    """One marker per colour, so a curve keeps its marker wherever its colour is fixed."""
    return MARKERS[PALETTE.index(colour) % len(MARKERS)] if colour in PALETTE else MARKERS[index % len(MARKERS)]


def _panel_grid(n_metrics: int, n_facets: int, col_wrap: int) -> tuple[int, int]:
    if n_metrics > 1:
        return n_metrics, n_facets
    columns = min(n_facets, col_wrap)
    return math.ceil(n_facets / columns), columns


def _scales(ax, logx: bool, logy: bool, xticks: Sequence[float] | None = None) -> None:
    if logx:
        ax.set_xscale("log")
        if xticks is not None and 1 < len(xticks) <= 12:   # the sweep's own values, as plain numbers
            xticks = list(xticks)[::2] if len(xticks) > 6 else list(xticks)
            ax.set_xticks(xticks)
            ax.set_xticklabels([_number(value) for value in xticks])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    if logy:
        ax.set_yscale("log")


def _legend(figure: Figure, handles: Mapping[str, Any]) -> None:
    handles = {label: handle for label, handle in handles.items() if label}
    if handles:
        figure.legend(list(handles.values()), list(handles.keys()), loc="outside lower center",
                      ncol=min(len(handles), 4), fontsize=8, frameon=False)
