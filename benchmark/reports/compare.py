"""`mgbench compare MODULE:NAME`: judge a new estimator against the bounds it claims, beside
the known estimators.

Registers the estimator from the user's module (or `.py` file) and runs its problem family's
suite (`CompareSuite` of `benchmark.families`): one sweep per axis of each claimed bound
(`@register(..., bounds=...)`) and the family's primary axis always, beside the family's
baselines. Tabular: Liu et al.'s split `lee` (the split of the compositional bound) along |τ|,
α and K on the `liu2022` problems, beside DiCE, LVC, Loaded DiCE and MAML; the toy: along N
beside SF, LSF and PW; the IPD: LOLA along the batch beside LOLA-DiCE; the bandit: along η₀
beside truncated backprop, DiCE and ES. The page says which bounds speak of the family (none
of the IPD and the bandit today); an estimator that claims none is compared on bias,
variance and MSE.

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

def suite_axes(spec, suite) -> list[str]:
    """The axes to sweep for `spec`: every axis of its claimed bounds that the family's suite
    sweeps, its primary axis always."""
    from benchmark.analysis.bounds import BOUNDS

    axes = [suite.primary]
    for name in spec.bounds:
        bound = BOUNDS.get(name)
        if bound is None:
            raise ValueError(f"bounds: estimator {spec.name!r} claims {name!r}; expected one of {sorted(BOUNDS)}")
        if bound.scope.problem != spec.problem:
            raise ValueError(f"bounds: {name!r} is about {bound.scope.problem} problems, but {spec.name!r} "
                             f"serves {spec.problem}")
        axes += [axis for axis in bound.scope.sweep_axes if axis in suite.axes]
    return list(dict.fromkeys(axes))


def standard_suite(spec, against: Sequence[str], *, repetitions: int | None = None, n_mdps: int | None = None,
                   seed: int = 0) -> list[dict[str, Any]]:
    """The sweep definitions (dicts of the TOML schema) of the comparison suite for `spec`: one
    sweep per axis of its family's `CompareSuite` (`benchmark.families`) that it claims a bound
    along, the primary axis always, with the baselines on the same problem."""
    from estimators import get_estimator

    from benchmark.families import family_of

    suite = family_of(spec.problem).compare
    estimators = [spec.name, *[name for name in against if name != spec.name]]
    shared = {name: {parameter: value for parameter, value in suite.shared_parameters.items()
                     if parameter in get_estimator(name, spec.problem).parameters} for name in estimators}
    shared = {name: parameters for name, parameters in shared.items() if parameters}
    problem = dict(suite.problem)
    if n_mdps is not None and "n_mdps" in problem:
        problem["n_mdps"] = n_mdps
    return [{"name": f"compare-{spec.name}-{axis}", "seed": seed, "repetitions": repetitions or suite.repetitions,
             "target": suite.target, "meta_parameter": suite.meta_parameter, "problem": problem,
             "grid": {"estimator": estimators, **suite.axes[axis]},
             **({"estimator_params": shared} if shared else {})}
            for axis in suite_axes(spec, suite)]


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
    from benchmark.analysis.bounds import BOUNDS
    from benchmark.present.looks import estimator_label
    from benchmark.present.pages import fmt, fmt_slope

    lines = []
    if quick:
        lines.append("QUICK RUN (smoke test): few points, 256 repetitions, 2 problem instances; not results.")
    mine = checks[(checks["estimator"] == spec.name) & (checks["range"] == "all")] if len(checks) else checks

    family_bounds = sorted(name for name, bound in BOUNDS.items() if bound.scope.problem == spec.problem)
    if not family_bounds:
        lines.append(f"No theoretical bound of mgbench speaks of {spec.problem} problems, so none is judged here; "
                     f"{spec.name} is compared with the baselines on bias, variance and MSE.")
    elif not spec.bounds:
        lines.append(f"{spec.name} claims no bound (declare them with @register(..., bounds=(...)); those of "
                     f"{spec.problem} problems: {', '.join(family_bounds)}); it is compared on bias, variance and "
                     f"MSE only.")
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
            lines.append("  baselines: " + "; ".join(f"{estimator_label(o.estimator)} {o.verdict} "
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
    from estimators import get_estimator, load_estimator

    from benchmark.analysis.claims import DEFAULT_PRECISION
    from benchmark.present.pages import banner, frame_table, page
    from benchmark.reports.sweep import bound_checks, report_frame, verdict_definitions_html, verdict_table_html, \
        write_report
    from benchmark.families import family_of
    from benchmark.sweeps.loading import sweep_from_dict
    from benchmark.sweeps.runner import run_sweep

    precision = DEFAULT_PRECISION if precision is None else precision
    added = load_estimator(reference)
    if not added:
        raise ValueError(f"estimator: {reference!r} registered no new estimator (is there an @register line?)")
    spec = added[0]
    family = family_of(spec.problem)
    baselines = tuple(against) if against is not None else family.compare.baselines
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
                + f", on {family.compare.setting}. Total run time {seconds:.0f} s.</p>")
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
    if any(family.inner_gradient_source(get_estimator(name, spec.problem)) for name in estimators):
        body += ["<h2>σ_in (compositional bound)</h2>", sigma_table(frames, estimators, family)]
    body += ["<h2>Runs</h2><ul>", *[f"<li>{html.escape(item)}</li>" for item in run_info], "</ul>"]
    index = out / "index.html"
    index.write_text(page(f"compare {spec.name}", body), encoding="utf-8")
    _refuse_failing_everywhere(pd.concat(frames.values(), ignore_index=True), index)
    return index, lines


def sigma_table(frames: dict[str, pd.DataFrame], estimators: Sequence[str], family) -> str:
    """σ_in per estimator (mean over problem instances) and how its inner gradient is formed
    (`family.inner_gradient_source`)."""
    from estimators import get_estimator

    from benchmark.present.pages import fmt, table

    cells = pd.concat(frames.values(), ignore_index=True)
    rows = []
    for name in estimators:
        values = pd.to_numeric(cells.loc[cells["estimator"] == name, "sigma_in"], errors="coerce")
        value = values.mean() if values.notna().any() else float("nan")
        rows.append({"estimator": name, "σ_in (mean over instances)": fmt(value) if pd.notna(value)
                     else "not finite: the bound's shape is undefined, no compositional verdict",
                     "inner gradient": family.inner_gradient_source(get_estimator(name, family.name))})
    return table(rows)


def _refuse_failing_everywhere(frame: pd.DataFrame, index: Path) -> None:
    """Raise `EstimatorFailedEverywhere` naming every estimator without a single `ok` cell."""
    failing = [name for name, cells in frame.groupby("estimator") if not (cells["status"] == "ok").any()]
    if failing:
        first = frame[frame["estimator"] == failing[0]]["error"].dropna()
        reason = f" (first: {first.iloc[0]})" if len(first) else ""
        raise EstimatorFailedEverywhere(f"estimator {', '.join(map(repr, failing))} failed in every cell{reason}; "
                                        f"it is missing from the comparison in {index}")
