"""`mgbench report RESULTS_DIR`: an HTML page of one sweep — what was found (the bound
verdicts) and the figure it was read from first, then the settings, the verdict table, bias
and variance against every swept axis (intervals over problem seeds, fitted bounds
overlaid), then the results table.

Which bounds are checked is decided by each bound's declared scope
(`benchmark.analysis.bounds`, tabulated by `benchmark.analysis.verdicts`): a verdict row
exists only where a bound speaks of the curve (e.g. the compositional bound on split `lee`,
Tang's LSF bounds on `lsf`, Θ(N) on `sf`, and any bound a plug-in claims), and the page
lists in one line per bound where it was not applied and why. A curve is one estimator
with every other axis fixed; it needs three or more axis values.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.analysis.claims import DEFAULT_PRECISION, VERDICT_MEANINGS
from benchmark.analysis.verdicts import SWEPT_AXES, Curve, find_curves, not_applied, verdict_table

__all__ = ["report_frame", "curves_of", "bound_checks", "axis_figures", "lead_figure", "write_report",
           "verdict_table_html", "verdict_definitions_html"]


def report_frame(frame: pd.DataFrame, sweep=None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A results frame with the derived columns, and the settings of its sweep
    (`name`, `kind`, `target`, `sweep` and the problem fields)."""
    from estimators.tabular.liu_probes import injected_hessian_error

    settings: dict[str, Any] = {"name": str(frame["sweep"].iloc[0]) if "sweep" in frame and len(frame) else "sweep"}
    if sweep is not None:
        settings = {"name": sweep.name, "kind": sweep.problem.kind, "target": sweep.target, "sweep": sweep,
                    **sweep.problem.values}
    frame = frame.copy()
    if "c" in frame and {"n_states", "n_actions"} <= settings.keys():
        frame["hessian_error"] = injected_hessian_error(pd.to_numeric(frame["c"], errors="coerce"),
                                                        settings["n_states"], settings["n_actions"])
    return frame, settings


def claimed_bounds(estimators, problem: str) -> dict[str, tuple[str, ...]]:
    """estimator -> the bounds it claims (`@register(..., bounds=...)`); () when not registered here."""
    from estimators import get_estimator

    claims = {}
    for name in estimators:
        try:
            claims[name] = tuple(get_estimator(str(name), problem).bounds)
        except ValueError:
            claims[name] = ()
    return claims


def curves_of(frame: pd.DataFrame) -> list[Curve]:
    """The curves of a results frame (axes from `benchmark.sweeps.columns`, names from the looks)."""
    from benchmark.present.looks import estimator_label
    from benchmark.sweeps.columns import axes

    ok = frame[frame["status"] == "ok"]
    return find_curves(ok, axes(ok.columns), name=estimator_label)


def _context(frame: pd.DataFrame, settings: dict[str, Any]) -> tuple[str, str]:
    from benchmark.families import family_of_columns

    problem = settings.get("kind") or family_of_columns(frame.columns[frame.notna().any()]).name
    target = settings.get("target") or (str(frame["target"].iloc[0]) if "target" in frame and len(frame) else "ideal")
    return problem, target


def bound_checks(frame: pd.DataFrame, settings: dict[str, Any] | None = None, *,
                 precision: float = DEFAULT_PRECISION) -> pd.DataFrame:
    """One row per (curve, applicable bound, range): `benchmark.analysis.verdicts.verdict_table`."""
    settings = settings or {}
    problem, target = _context(frame, settings)
    curves = curves_of(frame)
    claims = claimed_bounds({curve.estimator for curve in curves}, problem)
    return verdict_table(curves, problem=problem, target=target, precision=precision, claims=claims)


def bounds_not_applied(frame: pd.DataFrame, settings: dict[str, Any]) -> pd.DataFrame:
    """One line per bound not applied (to some or every curve), and why."""
    problem, target = _context(frame, settings)
    curves = curves_of(frame)
    claims = claimed_bounds({curve.estimator for curve in curves}, problem)
    return not_applied(curves, problem=problem, target=target, claims=claims)


def axis_figures(frame: pd.DataFrame, checks: pd.DataFrame, settings: dict[str, Any] | None = None,
                 metrics: tuple[str, ...] = ("bias", "variance")) -> dict[str, Any]:
    """Per swept axis (and metric group): every curve aggregated over problem instances
    (mean, 95% interval across instances), one colour per estimator (`benchmark.present.looks`),
    one panel per split or other fixed setting, and each applicable bound drawn as a bound:
    the envelope C_env · shape, the smallest constant above every resolved cell's interval.
    Unresolved points (interval reaching 0) are upper limits, not joined into the line."""
    from benchmark.analysis.aggregation import bound_curve, seed_summary
    from benchmark.analysis.bounds import BOUNDS
    from benchmark.present.looks import look
    from benchmark.present.plotting import metric_vs_axis

    figures = {}
    by_axis: dict[str, list[Curve]] = {}
    for curve in curves_of(frame):
        by_axis.setdefault(curve.axis, []).append(curve)
    for axis, axis_curves in by_axis.items():
        summaries, bounds, colour_map = [], [], {}
        for curve in axis_curves:
            summary = seed_summary(curve.cells, [axis], list(metrics))
            panel = _panel_name(curve)
            summary["estimator"], summary["panel"] = curve.estimator, panel
            colour_map[curve.estimator] = look(curve.estimator).colour
            summaries.append(summary)
            mine = checks[(checks["curve"] == curve.label) & (checks["axis"] == axis) & (checks["range"] == "all")] \
                if len(checks) else checks
            for _, row in mine.iterrows():
                spec = BOUNDS[row["bound"]]
                if not np.isfinite(row["constant_envelope"]) or spec.quantity not in metrics:
                    continue
                columns = _bound_columns(curve.cells, summary, axis, row["bound"])
                if columns is not None:
                    bounds.append(bound_curve(summary, row["bound"], row["constant_envelope"], axis=axis,
                                              columns=columns, estimator=curve.estimator, panel=panel,
                                              metric=spec.quantity, label=f"bound {spec.formula} (envelope)"))
        data = pd.concat(summaries, ignore_index=True)
        positive = bool((pd.to_numeric(data[axis], errors="coerce") > 0).all())
        panels = list(dict.fromkeys(data["panel"]))
        facet = "panel" if len(panels) > 1 else None
        bound_frame = pd.concat(bounds, ignore_index=True) if bounds else None
        groups = [list(metrics)] if len(panels) <= 4 else [[metric] for metric in metrics]
        for group in groups:
            key = axis if len(groups) == 1 else f"{axis}-{group[0]}"
            figures[key] = metric_vs_axis(data, axis, group if len(group) > 1 else group[0], hue="estimator",
                                          facet=facet, facet_label="", logx=positive, logy=[True] * len(group),
                                          bound=bound_frame, colour_map=colour_map, col_wrap=4)
    return figures


FRONTIER_AXES = ("window", "lambda_c")   # truncation and sampling-correction sweeps


def kind_figures(frame: pd.DataFrame, n_instances: int, sweep=None) -> dict[str, tuple[str, Any, str]]:
    """The figures of what the sweep varies and measures, beyond bias and variance:

    - Liu-style decompositions (corr measured, i.e. tabular): corr and std_sum against each
      swept axis, one panel per split (small multiples, one colour per estimator);
    - truncation / correction sweeps (`window` or `lambda_c` swept): the bias-variance
      frontier, one curve per setting ordered by λ_c, other estimators as single points.

    Returns:
      key -> (section title, Figure, caption).
    """
    from benchmark.analysis.aggregation import seed_summary
    from benchmark.present.looks import look
    from benchmark.present.plotting import OPEN_INTERVALS_NOTE, frontier, metric_vs_axis
    from benchmark.sweeps.columns import axes

    ok = frame[frame["status"] == "ok"]
    figures: dict[str, tuple[str, Any, str]] = {}
    interval = ("95% interval across instances" if n_instances >= 3 else
                "the cells' own 95% intervals (fewer than 3 instances: no across-instance interval)")
    measured = "corr" in ok and pd.to_numeric(ok["corr"], errors="coerce").notna().any()
    swept = [axis for axis in SWEPT_AXES if axis in ok and ok[axis].nunique(dropna=True) >= 3]
    if measured:
        for axis in swept:
            keys = ["estimator", axis] + (["split"] if "split" in ok and ok["split"].notna().any() else [])
            summary = seed_summary(ok.dropna(subset=[axis]), keys, ["corr", "std_sum"])
            facet = "split" if "split" in keys and summary["split"].nunique() > 1 else None
            colour_map = {name: look(name).colour for name in summary["estimator"].unique()}
            for metric in ("corr", "std_sum"):
                figure = metric_vs_axis(summary, axis, metric, hue="estimator", facet=facet, facet_label="split",
                                        logx=bool((summary[axis] > 0).all()), logy=metric == "std_sum",
                                        colour_map=colour_map, col_wrap=4)
                figures[f"{axis}-{metric}"] = (
                    f"{metric} against {axis}" + (" (one panel per split)" if facet else ""), figure,
                    f"Liu et al.'s {metric} ({'mean Pearson correlation of an estimate with the exact meta-gradient' if metric == 'corr' else 'sum of the coordinates standard deviations'}), "
                    f"mean over {n_instances} problem instance{'s' if n_instances > 1 else ''}; bands: {interval}. "
                    f"One colour and marker per estimator.")
    frontier_axes = [axis for axis in FRONTIER_AXES if axis in ok and ok[axis].nunique(dropna=True) > 1]
    if frontier_axes:
        order = "lambda_c" if "lambda_c" in frontier_axes else frontier_axes[0]
        # problem axes swept (e.g. the initial η of a bandit): the frontier at their middle values
        # (said in the caption; the tables have every setting); every other axis keys a curve
        problem_axes = sweep.problem.family.problem_axes if sweep is not None else ()
        held = {axis: sorted(ok[axis].dropna().unique())[ok[axis].nunique() // 2] for axis in problem_axes
                if axis in ok and ok[axis].nunique(dropna=True) > 1}
        for axis, value in held.items():
            ok = ok[ok[axis] == value]
        keys = [axis for axis in axes(ok.columns) if axis not in held and ok[axis].notna().any()]
        summary = seed_summary(ok, keys, ["bias", "variance"])
        curve_keys = [key for key in keys if key != order and key != "estimator" and summary[key].nunique() > 1]
        on_curve = summary[order].notna()
        summary["family"] = [", ".join(_setting(key, row[key]) for key in curve_keys if pd.notna(row[key]))
                             or row["estimator"]
                            for _, row in summary.iterrows()]
        points = summary[~on_curve].assign(label=[look(name).name for name in summary.loc[~on_curve, "estimator"]],
                                           look=summary.loc[~on_curve, "estimator"].to_numpy())
        # an estimator with several points off the curves (ES at each window): each labelled with what varies
        varying = {name: [key for key in keys if key not in ("estimator", order) and rows[key].nunique() > 1]
                   for name, rows in points.groupby("estimator")}
        points["note"] = [", ".join(_setting(key, row[key]) for key in varying[row["estimator"]])
                          for _, row in points.iterrows()]
        labelled = sorted({key for names in varying.values() for key in names})
        figure = frontier(summary[on_curve], hue="family", order=order, annotate=order, annotate_ends=True,
                          highlight=points if len(points) else None, highlight_annotate="note")
        figures["frontier"] = (
            "Bias-variance frontier", figure,
            f"Bias against variance, one curve per setting ({', '.join(curve_keys) or 'estimator'}), its points "
            f"ordered by {order} and labelled with it at each curve's ends; other estimators as single large markers"
            + (f", each labelled with its {' and '.join(labelled)}" if labelled else "") + f". Error bars: {interval}. "
            + OPEN_INTERVALS_NOTE
            + (f" Drawn at {', '.join(f'{axis} = {value:g}' for axis, value in held.items())}, the middle of the "
               f"swept values (every setting is in the tables below)." if held else ""))
    return figures


def _setting(name: str, value: Any) -> str:
    """`window 2`, `lambda_c 0.5`: one setting in words."""
    return f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"


def _panel_name(curve: Curve) -> str:
    """The panel of a curve: its split and other fixed settings (the estimator is the colour)."""
    parts = [f"split {curve.split}"] if curve.split else []
    parts += [_setting(name, value) for name, value in curve.settings.items() if name not in ("estimator", "split")]
    return ", ".join(parts) or "all"


def _bound_columns(cells: pd.DataFrame, summary: pd.DataFrame, axis: str, bound: str) -> dict[str, Any] | None:
    """The bound's columns at the summary's axis values (means over problem seeds)."""
    from benchmark.analysis.bounds import BOUNDS

    columns = {}
    for name in BOUNDS[bound].axes:
        if name == axis:
            columns[name] = summary[axis].to_numpy(dtype=float)
        elif name in cells:
            means = cells.groupby(axis)[name].apply(lambda values: pd.to_numeric(values, errors="coerce").mean())
            columns[name] = means.reindex(summary[axis]).to_numpy(dtype=float)
        else:
            return None
    return columns


def write_report(results_dir: str | Path, out_dir: str | Path | None = None, *, frame: pd.DataFrame, sweep=None,
                 precision: float = DEFAULT_PRECISION) -> Path:
    """Write `<out>/index.html`: what was found (the verdicts first) with the figure the first
    verdict was read from right under it (`lead_figure`), the sweep's settings, the bound
    verdicts (with their definitions and the bounds not applied), the other figures with
    captions, and the
    results aggregated over problem instances (per-instance rows collapsed); also
    `<out>/verdicts.csv` and each figure as PNG and PDF.

    `frame` and `sweep` are the sweep's results and the sweep (the runner's `RunSummary`, or
    `load_results` and `load_stored_sweep` of `results_dir`); a sweep of None is named after
    `results_dir`."""
    from benchmark.present.pages import details, page
    from benchmark.present.plotting import save_figure

    frame, settings = report_frame(frame, sweep)
    if sweep is None:
        settings["name"] = Path(results_dir).name
    name = settings["name"]
    out = Path(out_dir) if out_dir is not None else Path("reports") / name
    out.mkdir(parents=True, exist_ok=True)
    ok = frame[frame["status"] == "ok"]
    checks = bound_checks(frame, settings, precision=precision)
    skipped = bounds_not_applied(frame, settings)
    checks.to_csv(out / "verdicts.csv", index=False)
    sweep = settings.get("sweep")
    quick = name.endswith("-quick")
    sections = [f"<h1>mgbench report: {html.escape(name)}</h1>"]
    if quick:
        from benchmark.present.pages import banner
        sections.append(banner("Quick run: a smoke test of the pipeline (few points, few repetitions, at most 2 "
                               "problem instances). Its numbers and verdicts are not results."))
    n_instances = int(ok["mdp_seed"].nunique()) if "mdp_seed" in ok and ok["mdp_seed"].notna().any() else 1
    figures = axis_figures(frame, checks, settings)
    lead = lead_figure(checks, list(figures))
    axis_sections = {}
    for key, figure in figures.items():
        save_figure(figure, out, f"{name}-{key}")
        axis, _, metric = key.partition("-")
        title = f"{metric.capitalize() if metric else 'Bias and variance'} against {axis}"
        axis_sections[key] = (f"<section><h2>{html.escape(title)}</h2><img src='{name}-{key}.png' "
                              f"alt='{html.escape(key)}'><p class='caption'>{figure_caption(n_instances, sweep)}</p>"
                              f"<p class='links'><a href='{name}-{key}.pdf'>PDF</a></p></section>")
    sections.append(f"<div class='found'><b>What was found.</b> {found_summary(checks, ok)}</div>")
    if lead is not None:            # the figure the first verdict was read from, right under it
        sections.append(axis_sections.pop(lead))
    sections += ["<h2>Sweep</h2>", header_table(settings, frame, results_dir),
                 "<h2>Bound verdicts</h2>", verdict_definitions_html(precision),
                 verdict_table_html(checks)]
    if len(skipped):
        items = "".join(f"<li><b>{html.escape(row.bound)}</b> {html.escape(row.reason.removeprefix(row.bound + ' '))}"
                        f"</li>" for row in skipped.itertuples())
        sections.append(f"<h3>Bounds not applied</h3><ul class='notes'>{items}</ul>")
    sections += list(axis_sections.values())
    for key, (title, figure, caption) in kind_figures(frame, n_instances, sweep).items():
        save_figure(figure, out, f"{name}-{key}")
        sections.append(f"<section><h2>{html.escape(title)}</h2><img src='{name}-{key}.png' alt='{html.escape(key)}'>"
                        f"<p class='caption'>{html.escape(caption)}</p>"
                        f"<p class='links'><a href='{name}-{key}.pdf'>PDF</a></p></section>")
    sections += _failed_cells_section(frame)
    sections += heavy_tail_section(ok)
    sections += ["<h2>Results, aggregated over problem instances</h2>", aggregated_table(ok, n_instances),
                 details(f"Per-instance rows ({len(frame)} cells)", _results_table(frame))]
    index = out / "index.html"
    index.write_text(page(f"mgbench report: {name}", sections), encoding="utf-8")
    return index


def lead_figure(checks: pd.DataFrame, keys: list[str]) -> str | None:
    """The figure that leads the page: the one of the axis of the first decided verdict over
    the whole axis (else of the first verdict row, else the first figure); the bias figure of
    that axis when the figures are split per metric. None without figures."""
    if not keys:
        return None
    whole = checks[checks["range"] == "all"] if len(checks) else checks
    decided = whole[whole["verdict"] != "inconclusive"] if len(whole) else whole
    for rows in (decided, whole):
        if len(rows):
            row = rows.iloc[0]
            for key in (str(row["axis"]), f"{row['axis']}-{row['quantity']}"):
                if key in keys:
                    return key
    return keys[0]


def found_summary(checks: pd.DataFrame, ok: pd.DataFrame) -> str:
    """What was found, in plain words: the decided verdicts over the whole axis, then how
    many checks were inconclusive and why (HTML)."""
    from benchmark.present.pages import badge, fmt, fmt_slope

    if ok.empty:
        return "No cell finished; nothing to report."
    whole = checks[checks["range"] == "all"] if len(checks) else checks
    if whole.empty:
        return ("No bound speaks of the curves of this sweep (see <i>Bounds not applied</i>); the figures and "
                "tables show the measured bias and variance.")
    decided = whole[whole["verdict"] != "inconclusive"]
    sentences = []
    for row in decided.itertuples():
        expected = "the bound's shape (slope 1)" if row.exponent is None or pd.isna(row.exponent) \
            else f"exponent {fmt(row.exponent)}"
        slope = fmt_slope(row.slope, row.slope_lo, row.slope_hi,
                          cells=(row.cells_resolved, row.cells_censored, row.cells_excluded))
        sentences.append(f"{badge(row.verdict)} {html.escape(row.bound)} ({html.escape(row.formula)}) for "
                         f"{html.escape(row.curve)} along "
                         f"{html.escape(row.axis)}: slope {slope} vs {expected}.")
    undecided = whole[whole["verdict"] == "inconclusive"]
    if len(undecided):
        no_slope = int(undecided["slope"].isna().sum())
        wide = int(undecided["note"].str.contains("precision", regex=False).sum())
        sentences.append(f"{len(undecided)} of {len(whole)} checks are {badge('inconclusive')}: "
                         f"{no_slope} with fewer than 3 resolved cells (no slope), {wide} with a slope interval "
                         f"wider than the precision, {len(undecided) - no_slope - wide} for other reasons (see notes).")
    return " ".join(sentences)


def header_table(settings: dict[str, Any], frame: pd.DataFrame, results_dir: str | Path) -> str:
    """The sweep's name, seed, repetitions, target, grid, problem, instances and provenance."""
    from benchmark.present.pages import now, table
    from benchmark.sweeps.provenance import git_commit, package_version

    sweep = settings.get("sweep")
    row: dict[str, Any] = {"sweep": settings["name"]}
    if sweep is not None:
        seeds = sweep.problem.mdp_seeds
        row.update({"description": sweep.description, "seed": sweep.seed, "repetitions per cell": sweep.repetitions,
                    "target": sweep.target, "meta-parameter": sweep.meta_parameter,
                    "problem": f"{sweep.problem.label}: " + ", ".join(f"{k}={v}" for k, v in sweep.problem.values.items()),
                    "problem instances": f"{len(seeds)} (mdp_seed {seeds[0]}..{seeds[-1]})" if seeds else "1 (no seed)",
                    "grid": "; ".join(f"{axis} = {', '.join(map(str, values))}" for axis, values in sweep.grid),
                    "sweep hash": sweep.sweep_hash})
    n_ok = int((frame["status"] == "ok").sum())
    row.update({"cells": f"{len(frame)} ({n_ok} ok, {len(frame) - n_ok} failed)",
                "results": str(results_dir), "mgbench version": package_version(),
                "git commit": git_commit(short=True) or "not a git checkout", "written": now()})
    return table([{"setting": key, "value": value} for key, value in row.items()])


def figure_caption(n_instances: int, sweep) -> str:
    """What the points, bands, hollow markers and dashed lines of a report figure mean."""
    from benchmark.present.plotting import OPEN_INTERVALS_NOTE
    reps = f"{sweep.repetitions} estimates per cell" if sweep is not None else "the cells' estimates"
    if n_instances >= 3:
        points = (f"Points: the mean over {n_instances} problem instances ({reps}; the bias as the root mean "
                  f"square of the debiased squared bias). Bands: 95% interval across the instances (bootstrap "
                  f"over instances), widened to contain the cells' own intervals.")
    elif n_instances == 2:
        points = (f"Points: the mean over 2 problem instances ({reps}). With fewer than 3 instances no "
                  f"across-instance interval is given: bands are the cells' own 95% bootstrap intervals, pooled.")
    else:
        points = f"Points: one problem instance ({reps}). Bands: the cell's own 95% bootstrap interval."
    return (f"{points} {OPEN_INTERVALS_NOTE} Dashed lines: the "
            f"applicable bound C·shape with its envelope constant (the smallest C above every resolved cell's "
            f"interval), in the colour of the estimator it bounds. One colour and marker per estimator, the same "
            f"on every mgbench page.")


def aggregated_table(ok: pd.DataFrame, n_instances: int) -> str:
    """Bias, variance and MSE (and corr, std_sum when measured) per curve point, aggregated
    over problem instances, with intervals; unresolved biases as '< upper'."""
    from benchmark.analysis.aggregation import seed_summary
    from benchmark.present.pages import fmt, fmt_bias, fmt_interval, frame_table
    from benchmark.sweeps.columns import axes

    if ok.empty:
        return "<p>No cell finished.</p>"
    keys = [c for c in axes(ok.columns) if ok[c].notna().any()]     # every axis: only problem seeds are pooled
    metrics = [m for m in ("bias", "variance", "mse", "corr", "std_sum") if m in ok and ok[m].notna().any()]
    summary = seed_summary(ok, keys, metrics)
    rows = []
    for record in summary.to_dict("records"):
        row = {key: fmt(record[key]) if isinstance(record[key], float) else record[key] for key in keys}
        for metric in metrics:
            lo, hi = record.get(f"{metric}_lo"), record.get(f"{metric}_hi")
            row[metric] = (fmt_bias if metric == "bias" else fmt_interval)(record[metric], lo, hi)
        row["instances"] = record["n_mdps"]
        rows.append(row)
    note = ("" if n_instances >= 3 else
            "<p class='meta'>Fewer than 3 problem instances: no across-instance interval is given; intervals are "
            "the cells' own.</p>")
    return note + frame_table(pd.DataFrame(rows))


def heavy_tail_section(ok: pd.DataFrame) -> list[str]:
    """'Heavy tails': the cells whose tail diagnostics are large (`statistics.heavy_tailed`),
    one row each with the variance, its trimmed value, kurtosis and tail share; empty when none."""
    from benchmark.analysis.statistics import KURTOSIS_NOTE, TAIL_SHARE_NOTE, heavy_tailed
    from benchmark.present.pages import tail_section
    from benchmark.sweeps.columns import axes

    if ok.empty or not {"kurtosis", "tail_share", "variance_hi"} <= set(ok.columns):
        return []
    heavy = ok[heavy_tailed(ok["kurtosis"], ok["tail_share"], ok["variance_hi"], ok.get("tail_index"))]
    if heavy.empty:
        return []
    keys = [c for c in (*axes(ok.columns), "mdp_seed") if c in heavy and heavy[c].notna().any()]
    return ["<h2>Heavy tails</h2>", tail_section(heavy, len(ok), keys, kurtosis_note=KURTOSIS_NOTE,
                                                 share_note=TAIL_SHARE_NOTE)]


def verdict_definitions_html(precision: float = DEFAULT_PRECISION) -> str:
    """The verdict vocabulary with the precision used."""
    from benchmark.present.pages import verdict_definitions

    return verdict_definitions(VERDICT_MEANINGS, precision=precision)


def verdict_table_html(checks: pd.DataFrame) -> str:
    """The verdicts as an HTML table (or a sentence when no bound applies)."""
    from benchmark.present.pages import badge, fmt, fmt_slope, table

    if checks.empty:
        return "<p>No bound applies to any curve of this sweep (see below).</p>"
    rows = [{"estimator (settings)": row.curve, "axis": row.axis, "range": row.range,
             "bound": f"{row.formula} ({row.bound})",
             "slope [95%] (cells)": fmt_slope(row.slope, row.slope_lo, row.slope_hi, cells=(row.cells_resolved, row.cells_censored, row.cells_excluded)),
             "expected": "1 (vs shape)" if row.exponent is None or pd.isna(row.exponent) else fmt(row.exponent),
             "verdict": badge(row.verdict), "C envelope": fmt(row.constant_envelope),
             "C fit (least squares)": fmt(row.constant_ls),
             "note": row.note}
            for row in checks.itertuples()]
    return table(rows, raw=("verdict",))


def _failed_cells_section(frame: pd.DataFrame) -> list[str]:
    """'Failed cells': how many cells of each estimator failed, and why (empty when none did)."""
    failed = frame[frame["status"] != "ok"]
    if failed.empty:
        return []
    from benchmark.present.pages import frame_table

    reasons = failed.assign(error=failed["error"].fillna("(no reason stored)"))
    counts = reasons.groupby(["estimator", "error"]).size().rename("cells").reset_index()
    return [f"<h2>Failed cells</h2><p>{len(failed)} of {len(frame)} cells failed; they have no metrics and are left "
            f"out of the verdicts and figures (<code>mgbench sweep ... --retry-failed</code> evaluates them "
            f"again).</p>", frame_table(counts[["estimator", "cells", "error"]])]


def _results_table(frame: pd.DataFrame) -> str:
    from benchmark.present.pages import fmt, fmt_bias, table
    from benchmark.sweeps.columns import axes

    columns = [c for c in (*axes(frame.columns), "mdp_seed", "status", "rel_bias", "variance", "mse", "cosine",
                           "corr", "std_sum", "sigma_in", "target_norm", "target_method", "seconds")
               if c in frame and frame[c].notna().any()]
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for column in columns:
            value = record[column]
            row[column] = "" if value is None or (isinstance(value, float) and np.isnan(value)) else \
                (fmt(value, 4) if isinstance(value, float) else value)
            if column == "status" and "bias" in record:
                row["bias [95%]"] = fmt_bias(record["bias"], record.get("bias_lo"), record.get("bias_hi"))
        rows.append(row)
    return table(rows)
