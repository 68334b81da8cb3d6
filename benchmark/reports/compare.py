"""`mgbench compare MODULE:NAME`: judge a new estimator against the bounds it claims, beside
the known estimators.

Registers the estimator from the user's module (or `.py` file) and runs, on the problems the
bounds speak of, one sweep per axis of each claimed bound (`@register(..., bounds=...)`):
for a tabular estimator Liu et al.'s split `lee` (sampled inner gradient, exact Hessian and
outer gradient; the split of the compositional bound) along |τ|, α and K on the `liu2022`
problems, with the baselines (DiCE, LVC, Loaded DiCE, MAML) on the same split; for a toy
estimator the Gaussian toy along N with SF, LSF and PW. An estimator that claims no bound is
still compared on bias, variance and MSE along |τ| (or N).

The page opens with what was found in plain words, then per sweep a side-by-side table of
bias, variance and MSE (with intervals, aggregated over problem instances) of the new
estimator and the baselines at every axis value, and a figure; then every bound check and
σ_in with how its inner gradient is formed. The terminal prints the headline verdicts.
"""
from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

DEFAULT_AGAINST = {"tabular": ("dice", "lvc", "loaded", "maml"), "gaussian_toy": ("sf", "lsf", "pw")}
COMPARE_SPLIT = "lee"          # the split the compositional bound speaks of

# Repetitions per cell and problem instances of the default (not --quick) suite: enough to
# resolve the baselines' compositional biases on split lee at every |τ| (docs/plugins.md
# gives the measurement).
TABULAR_REPETITIONS = 5000
TABULAR_INSTANCES = 3
TOY_REPETITIONS = 100_000

# One sweep per axis; Liu et al.'s comp-* settings (K = 2, α = 3 along |τ|).
TABULAR_AXES: dict[str, dict[str, Any]] = {
    "batch": {"steps": 2, "lr": 3.0, "batch": [2, 4, 8, 16, 32, 64]},
    "lr": {"steps": 2, "lr": [1.0, 2.0, 3.0, 4.0, 5.0], "batch": 16},
    "steps": {"steps": [1, 2, 3, 4, 5], "lr": 3.0, "batch": 16},
}
TOY_AXES: dict[str, dict[str, Any]] = {"N": {"N": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]}}


def suite_axes(spec) -> list[str]:
    """The axes to sweep for `spec`: every axis of its claimed bounds, the primary one always."""
    from benchmark.analysis.bounds import BOUNDS

    primary = "batch" if spec.problem == "tabular" else "N"
    axes = [primary]
    for name in spec.bounds:
        bound = BOUNDS.get(name)
        if bound is None:
            raise ValueError(f"bounds: estimator {spec.name!r} claims {name!r}; expected one of {sorted(BOUNDS)}")
        if bound.scope.problem != spec.problem:
            raise ValueError(f"bounds: {name!r} is about {bound.scope.problem} problems, but {spec.name!r} "
                             f"serves {spec.problem}")
        axes += [axis for axis in bound.scope.sweep_axes if axis in (TABULAR_AXES if spec.problem == "tabular"
                                                                       else TOY_AXES)]
    return list(dict.fromkeys(axes))


def standard_suite(spec, against: Sequence[str], *, repetitions: int | None = None, n_mdps: int | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    """The sweep definitions (dicts of the TOML schema) of the comparison suite for `spec`."""
    estimators = [spec.name, *[name for name in against if name != spec.name]]
    sweeps = []
    if spec.problem == "gaussian_toy":
        for axis, grid in TOY_AXES.items():
            sweeps.append({"name": f"compare-{spec.name}-{axis}", "seed": seed,
                           "repetitions": repetitions or TOY_REPETITIONS, "target": "ideal",
                           "problem": {"kind": "gaussian_toy", "theta": 0.5, "sigma": 1.0, "c": 1.0},
                           "grid": {"estimator": estimators, **grid}})
        return sweeps
    split_params = {name: {"split": COMPARE_SPLIT} for name in estimators if _has_parameter(name, "split")}
    for axis in suite_axes(spec):
        sweeps.append({"name": f"compare-{spec.name}-{axis}", "seed": seed,
                       "repetitions": repetitions or TABULAR_REPETITIONS, "target": "ideal",
                       "problem": {"kind": "tabular", "preset": "liu2022", "n_mdps": n_mdps or TABULAR_INSTANCES},
                       "grid": {"estimator": estimators, **TABULAR_AXES[axis]},
                       **({"estimator_params": split_params} if split_params else {})})
    return sweeps


def _has_parameter(estimator: str, name: str) -> bool:
    from estimators import get_estimator

    return name in get_estimator(estimator, "tabular").parameters


def comparison_table(checks: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """Rows (bound, axis, fitted range); one column per estimator (the new one first):
    'slope [lo, hi] verdict', '—' where the bound does not speak of that estimator."""
    from benchmark.present.pages import fmt_slope

    if checks.empty:
        return pd.DataFrame()
    cells = checks.assign(result=[f"{fmt_slope(row.slope, row.slope_lo, row.slope_hi, cells=(row.cells_resolved, row.cells_censored, row.cells_excluded))} {row.verdict}"
                                  for row in checks.itertuples()],
                          bound=[f"{row.formula} ({row.bound})" for row in checks.itertuples()])
    table = cells.pivot_table(index=["bound", "axis", "range"], columns="estimator", values="result",
                              aggfunc="first").fillna("— (does not apply)")
    order = [estimator, *sorted(c for c in table.columns if c != estimator)]
    table = table[[c for c in order if c in table.columns]]
    table.columns.name = None
    return table.reset_index()


def metric_tables(frame: pd.DataFrame, axis: str, estimators: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Per metric (bias, variance, mse): rows = axis values, one column per estimator (the
    new one first), 'value [lo, hi]' aggregated over problem instances; unresolved biases
    as '< upper'."""
    from benchmark.analysis.aggregation import seed_summary
    from benchmark.present.pages import fmt, fmt_bias, fmt_interval

    ok = frame[frame["status"] == "ok"]
    summary = seed_summary(ok, ["estimator", axis], ["bias", "variance", "mse"])
    tables = {}
    for metric in ("bias", "variance", "mse"):
        formatter = fmt_bias if metric == "bias" else fmt_interval
        summary[f"{metric}_text"] = [formatter(row[metric], row[f"{metric}_lo"], row[f"{metric}_hi"])
                                     for _, row in summary.iterrows()]
        table = summary.pivot(index=axis, columns="estimator", values=f"{metric}_text")
        table = table[[name for name in estimators if name in table.columns]]
        table.index = [fmt(value) for value in table.index]
        table.index.name, table.columns.name = axis, None
        tables[metric] = table.reset_index().fillna("failed")
    return tables


def headline(spec, checks: pd.DataFrame, frames: dict[str, pd.DataFrame], *, quick: bool) -> list[str]:
    """What was found, in plain sentences (also printed on the terminal)."""
    from benchmark.analysis.aggregation import seed_summary
    from benchmark.present.looks import display_name
    from benchmark.present.pages import fmt, fmt_slope

    lines = []
    if quick:
        lines.append("QUICK RUN (smoke test): few points, 256 repetitions, 2 problem instances; not results.")
    mine = checks[(checks["estimator"] == spec.name) & (checks["range"] == "all")] if len(checks) else checks
    if not spec.bounds:
        lines.append(f"{spec.name} claims no bound (declare them with @register(..., bounds=(...))); it is "
                     f"compared on bias, variance and MSE only.")
    for row in mine.itertuples():
        where = ", ".join(part for part in (f"split {row.split}" if isinstance(row.split, str) else "",
                                            row.settings if isinstance(row.settings, str) else "") if part)
        where = where.replace("split=", "split ")
        expected = "slope 1 against the bound's shape" if pd.isna(row.exponent) else f"the bound's {fmt(row.exponent)}"
        lines.append(f"{row.bound} ({row.formula}) along {row.axis}" + (f" ({where})" if where else "") + f": {spec.name} is "
                     f"{row.verdict.upper()}, slope {fmt_slope(row.slope, row.slope_lo, row.slope_hi, cells=(row.cells_resolved, row.cells_censored, row.cells_excluded))} vs "
                     f"{expected}" + (f" [{row.note}]" if row.verdict == "inconclusive" else "") + ".")
        others = checks[(checks["bound"] == row.bound) & (checks["axis"] == row.axis) & (checks["range"] == "all")
                        & (checks["estimator"] != spec.name)]
        if len(others):
            lines.append("  baselines: " + "; ".join(f"{display_name(o.estimator)} {o.verdict} "
                                                    f"{fmt_slope(o.slope, o.slope_lo, o.slope_hi, cells=(o.cells_resolved, o.cells_censored, o.cells_excluded))}"
                                                    for o in others.itertuples()) + ".")
    for axis, frame in frames.items():
        ok = frame[frame["status"] == "ok"]
        if ok.empty or spec.name not in set(ok["estimator"]):
            continue
        summary = seed_summary(ok, ["estimator", axis], ["mse"])
        best = summary.loc[summary.groupby(axis)["mse"].idxmin()]
        wins = int((best["estimator"] == spec.name).sum())
        lines.append(f"Along {axis}: {spec.name} has the lowest MSE at {wins} of {len(best)} values "
                     f"(lowest elsewhere: {', '.join(sorted(set(best['estimator']) - {spec.name})) or 'none'}).")
    return lines


class EstimatorFailedEverywhere(RuntimeError):
    """Every cell of an estimator of the comparison failed: it has no row to compare."""


class SuiteLost(RuntimeError):
    """An infrastructure fault left cells of the suite pending (running again resumes)."""


def compare(reference: str, *, against: Sequence[str] | None = None, quick: bool = False, jobs: int | None = None,
            results_dir: str | Path = "results", reports_dir: str | Path = "reports", quiet: bool = False,
            repetitions: int | None = None, precision: float | None = None,
            overwrite: bool = False) -> tuple[Path, list[str]]:
    """Run the suite for the estimator registered by `reference`; write the page.

    Returns:
      (the page's path, the headline lines).
    Raises:
      SuiteLost: an infrastructure fault left cells pending (running again resumes).
      EstimatorFailedEverywhere: (after writing the page) an estimator has no `ok` cell in
        any sweep of the suite; the message names it and its first failure.
    """
    from estimators import load_estimator

    from benchmark.analysis.bounds import DEFAULT_PRECISION
    from benchmark.present.pages import banner, frame_table, page
    from benchmark.reports.sweep import bound_checks, report_frame, verdict_definitions_html, verdict_table_html, \
        write_report
    from benchmark.sweeps.cells import inner_gradient_source
    from benchmark.sweeps.loading import sweep_from_dict
    from benchmark.sweeps.runner import run_sweep

    precision = DEFAULT_PRECISION if precision is None else precision
    added = load_estimator(reference)
    if not added:
        raise ValueError(f"estimator: {reference!r} registered no new estimator (is there an @register line?)")
    spec = added[0]
    baselines = tuple(against) if against is not None else DEFAULT_AGAINST[spec.problem]
    estimators = [spec.name, *[name for name in baselines if name != spec.name]]
    out = Path(reports_dir) / (f"compare-{spec.name}" + ("-quick" if quick else ""))
    out.mkdir(parents=True, exist_ok=True)
    checks_list, frames, figures, run_info = [], {}, [], []
    started = time.perf_counter()
    for definition in standard_suite(spec, baselines, repetitions=repetitions):
        sweep = sweep_from_dict(definition, source=f"compare {spec.name}")
        sweep = sweep.quick() if quick else sweep
        axis = definition["name"].rsplit("-", 1)[1]
        summary = run_sweep(sweep, results_dir, jobs=jobs, quiet=quiet, plugins=(reference,), overwrite=overwrite)
        if summary.interrupted:
            raise KeyboardInterrupt
        if summary.lost:
            raise SuiteLost(f"lost {summary.lost_reason}; {summary.pending} cells of {sweep.name} not computed "
                            f"(run the same command again to resume)")
        frame, settings = report_frame(summary.results, summary.sweep)
        frames[axis] = frame
        checks_list.append(bound_checks(frame, settings, precision=precision))
        write_report(summary.directory, out / sweep.name, precision=precision, frame=summary.results,
                     sweep=summary.sweep)
        run_info.append(f"{sweep.name}: {summary.total} cells, {sweep.repetitions} repetitions per cell, "
                        f"{max(1, len(sweep.problem.mdp_seeds))} problem instances, {summary.seconds:.0f} s")
        pngs = sorted((out / sweep.name).glob(f"{sweep.name}-{axis}*.png"),
                      key=lambda path: (path.stem != f"{sweep.name}-{axis}", path.stem))   # bias/variance first
        figures.append((axis, sweep.name, pngs))
    seconds = time.perf_counter() - started
    checks = pd.concat(checks_list, ignore_index=True) if checks_list else pd.DataFrame()
    table = comparison_table(checks, spec.name)
    table.to_csv(out / "comparison.csv", index=False)
    lines = headline(spec, checks, frames, quick=quick)

    body = [f"<h1>{html.escape(spec.name)} against the bounds it claims</h1>"]
    if quick:
        body.append(banner("Quick run: a smoke test (shrunk sweeps, 256 repetitions, 2 problem instances). "
                           "Verdicts here are not results; run without --quick."))
    body.append("<div class='found'><b>What was found.</b><ul>"
                + "".join(f"<li>{html.escape(line)}</li>" for line in lines) + "</ul></div>")
    body.append(f"<p class='meta'>{html.escape(spec.description)}. Claimed bounds: "
                f"{html.escape(', '.join(spec.bounds) or 'none')}. Baselines: {html.escape(', '.join(baselines))}"
                + (f", on split {COMPARE_SPLIT} (sampled inner gradient, exact Hessian and outer gradient: the "
                   f"split of the compositional bound)" if spec.problem == "tabular" else "")
                + f". Total run time {seconds:.0f} s.</p>")
    for axis, sweep_name, pngs in figures:
        body.append(f"<section><h2>Along {html.escape(axis)}</h2>")
        for metric, metric_table in metric_tables(frames[axis], axis, estimators).items():
            body.append(f"<h3>{html.escape(metric)} (mean over problem instances, 95% interval)</h3>"
                        + frame_table(metric_table))
        for png in pngs:
            body.append(f"<img src='{html.escape(sweep_name)}/{html.escape(png.name)}' alt='{html.escape(axis)}'>")
        body.append(f"<p class='links'><a href='{html.escape(sweep_name)}/index.html'>full report of "
                    f"{html.escape(sweep_name)}</a> (captions, per-instance rows)</p></section>")
    body += ["<h2>Bound verdicts, side by side</h2>", verdict_definitions_html(precision),
             frame_table(table) if not table.empty else "<p>No bound applies to any estimator of the suite.</p>",
             "<h2>Every check</h2>", verdict_table_html(checks)]
    if spec.problem == "tabular":
        body += ["<h2>σ_in (compositional bound)</h2>", sigma_table(frames, estimators, inner_gradient_source)]
    body += ["<h2>Runs</h2><ul>", *[f"<li>{html.escape(item)}</li>" for item in run_info], "</ul>"]
    index = out / "index.html"
    index.write_text(page(f"compare {spec.name}", body), encoding="utf-8")
    _refuse_failing_everywhere(pd.concat(frames.values(), ignore_index=True), index)
    return index, lines


def sigma_table(frames: dict[str, pd.DataFrame], estimators: Sequence[str], source) -> str:
    """σ_in per estimator (mean over problem instances) and how its inner gradient is formed."""
    from estimators import get_estimator

    from benchmark.present.pages import fmt, table

    cells = pd.concat(frames.values(), ignore_index=True)
    rows = []
    for name in estimators:
        values = pd.to_numeric(cells.loc[cells["estimator"] == name, "sigma_in"], errors="coerce")
        value = values.mean() if values.notna().any() else float("nan")
        rows.append({"estimator": name, "σ_in (mean over instances)": fmt(value) if pd.notna(value)
                     else "not finite: the bound's shape is undefined, no compositional verdict",
                     "inner gradient": source(get_estimator(name, "tabular"))})
    return table(rows)


def _refuse_failing_everywhere(frame: pd.DataFrame, index: Path) -> None:
    """Raise `EstimatorFailedEverywhere` naming every estimator without a single `ok` cell."""
    failing = [name for name, cells in frame.groupby("estimator") if not (cells["status"] == "ok").any()]
    if failing:
        first = frame[frame["estimator"] == failing[0]]["error"].dropna()
        reason = f" (first: {first.iloc[0]})" if len(first) else ""
        raise EstimatorFailedEverywhere(f"estimator {', '.join(map(repr, failing))} failed in every cell{reason}; "
                                        f"it is missing from the comparison in {index}")
