"""`mgbench report RESULTS_DIR`: an HTML page of one sweep — bound verdicts first, then bias
and variance against every swept axis (intervals over problem seeds, fitted bounds
overlaid), then the results table.

Which bounds are checked (docs/methods.md, Bounds and verdicts), for every estimator alike so that a new one
sits beside the known ones:
- Gaussian toy, along `N`: `lsf_bias` (1/N), `lsf_bias_abstract` (1/√N), `lsf_variance`
  (1/N) and `sf_variance` (N);
- tabular, ideal target, along `batch`, `lr` or `steps`: `compositional` (K α^K σ_in |τ|^-½);
- tabular, along the injected Hessian error `c`: `multi_step_hessian` ((K−1) Δ_H^(K−1), with
  Δ_H = ‖E[Ĥ] − H‖ = 2c/(S·A) for `hessian_bias`).
A curve is one estimator with every other axis fixed; it needs three or more axis values.
"""
from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


SWEPT_AXES = ("batch", "lr", "steps", "N", "c")
TOY_BOUNDS = ("lsf_bias", "lsf_bias_abstract", "lsf_variance", "sf_variance")


@dataclass(frozen=True)
class Curve:
    """The cells of one estimator along one axis, every other setting fixed."""

    axis: str
    label: str                  # e.g. "MAML (naive autodiff), split lee"
    settings: dict[str, Any]    # the fixed settings that define it
    cells: pd.DataFrame


def load_report_frame(results_dir: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The ok cells of a sweep directory with derived columns, and the sweep's settings."""
    from benchmark.sweeps.loading import load_sweep
    from benchmark.sweeps.store import load_results
    from estimators.liu_probes import injected_hessian_error

    directory = Path(results_dir)
    frame = load_results(directory)
    settings: dict[str, Any] = {"name": directory.name}
    sweep_file = directory / "sweep.toml"
    if sweep_file.exists():
        sweep = load_sweep(sweep_file, check_estimators=False)
        settings = {"name": sweep.name, **sweep.problem.values}
    if "c" in frame and {"n_states", "n_actions"} <= settings.keys():
        frame["hessian_error"] = injected_hessian_error(pd.to_numeric(frame["c"], errors="coerce"),
                                                        settings["n_states"], settings["n_actions"])
    return frame, settings


def curve_keys(frame: pd.DataFrame, axis: str) -> list[str]:
    """Columns that identify a curve along `axis`: the estimator and every other varying setting."""
    from benchmark.sweeps.columns import axes

    keys = []
    for column in axes(frame.columns):
        if column == axis:
            continue
        if column == "estimator" or frame[column].nunique(dropna=True) > 1:
            keys.append(column)
    return keys


def curves(frame: pd.DataFrame) -> list[Curve]:
    """Every (axis, curve) with at least three distinct axis values among the ok cells."""
    from benchmark.present.plotting import estimator_label

    ok = frame[frame["status"] == "ok"]
    found = []
    for axis in SWEPT_AXES:
        if axis not in ok or ok[axis].nunique(dropna=True) < 3:
            continue
        keys = curve_keys(ok, axis)
        for key, cells in ok.dropna(subset=[axis]).groupby(keys, dropna=False, sort=True):
            key = key if isinstance(key, tuple) else (key,)
            settings = {name: value for name, value in zip(keys, key) if not _missing(value)}
            if cells[axis].nunique() < 3:
                continue
            estimator = settings.get("estimator", "?")
            others = ", ".join(f"{name} {value}" for name, value in settings.items() if name != "estimator")
            label = estimator_label(estimator) + (f" ({others})" if others else "")
            found.append(Curve(axis, label, settings, cells))
    return found


def applicable_bounds(frame: pd.DataFrame, axis: str) -> list[str]:
    """Names of the bounds checked along `axis` for the problem and target of `frame`."""
    problem = str(frame["problem"].iloc[0]) if len(frame) else ""
    if problem == "gaussian_toy":
        return list(TOY_BOUNDS) if axis == "N" else []
    if axis == "c":
        return ["multi_step_hessian"] if "hessian_error" in frame else []
    if axis in ("batch", "lr", "steps") and (frame["target"] == "ideal").all():
        return ["compositional"]
    return []


def fit_ranges(cells: pd.DataFrame, axis: str) -> dict[str, pd.DataFrame]:
    """The whole axis, and — with six or more values — its upper half, where asymptotic
    claims (O(1/N), Θ(N), O(|τ|^-½)) are meant to hold."""
    values = np.sort(pd.to_numeric(cells[axis], errors="coerce").dropna().unique())
    ranges = {"all": cells}
    if len(values) >= 6:
        start = values[len(values) // 2]
        ranges[f"{axis} >= {start:g}"] = cells[pd.to_numeric(cells[axis], errors="coerce") >= start]
    return ranges


def bound_checks(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (curve, bound, range): slope with interval, constants, verdict and notes."""
    from benchmark.analysis.aggregation import bound_check

    rows = []
    for curve in curves(frame):
        for bound in applicable_bounds(frame, curve.axis):
            for span, cells in fit_ranges(curve.cells, curve.axis).items():
                check = bound_check(cells, bound, curve.axis)
                rows.append({"estimator": curve.settings.get("estimator"), "curve": curve.label,
                             "axis": curve.axis, "range": span, "bound": bound, "slope": check.slope,
                             "slope_lo": check.slope_lo, "slope_hi": check.slope_hi, "exponent": check.exponent,
                             "constant_ls": check.constant_ls, "constant_envelope": check.constant_envelope,
                             "verdict": check.verdict, "cells_used": check.n_used,
                             "cells_excluded": check.n_excluded, "note": check.note})
    return pd.DataFrame(rows)


def axis_figures(frame: pd.DataFrame, checks: pd.DataFrame) -> dict[str, Any]:
    """Per swept axis: bias and variance of every curve (mean over problem seeds, 95%
    interval), with the least-squares fitted bound of each checked curve dashed."""
    from benchmark.analysis.aggregation import bound_curve, seed_summary
    from benchmark.present.plotting import metric_vs_axis

    figures = {}
    by_axis: dict[str, list[Curve]] = {}
    for curve in curves(frame):
        by_axis.setdefault(curve.axis, []).append(curve)
    for axis, axis_curves in by_axis.items():
        summaries, bounds = [], []
        for curve in axis_curves:
            summary = seed_summary(curve.cells, [axis], ["bias", "variance"])
            summary["curve"] = curve.label
            summaries.append(summary)
            fitted = (checks[(checks["curve"] == curve.label) & (checks["axis"] == axis) & (checks["range"] == "all")]
                      if len(checks) else checks)
            for _, row in fitted.iterrows():
                if np.isfinite(row["constant_ls"]) and row["verdict"] != "inconclusive":
                    columns = _bound_columns(curve.cells, summary, axis, row["bound"])
                    if columns is not None:
                        from benchmark.analysis.bounds import BOUNDS
                        metric = BOUNDS[row["bound"]].quantity
                        bounds.append(bound_curve(summary, row["bound"], row["constant_ls"], axis=axis, columns=columns,
                                                  curve=curve.label, metric=metric,
                                                  label=f"fitted {BOUNDS[row['bound']].formula}"))
        data = pd.concat(summaries, ignore_index=True)
        positive = (data[axis] > 0).all()
        figures[axis] = metric_vs_axis(data, axis, ["bias", "variance"], hue="curve", logx=bool(positive),
                                       logy=[True, True], bound=pd.concat(bounds, ignore_index=True) if bounds else None,
                                       labels={label: label for label in data["curve"].unique()})
    return figures


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


def write_report(results_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write `<out>/index.html` with the verdicts, the figures (PNG and PDF) and the table."""
    from benchmark.present.plotting import save_figure

    frame, settings = load_report_frame(results_dir)
    name = settings["name"]
    out = Path(out_dir) if out_dir is not None else Path("reports") / name
    out.mkdir(parents=True, exist_ok=True)
    checks = bound_checks(frame)
    checks.to_csv(out / "verdicts.csv", index=False)
    sections = [f"<h1>mgbench report: {html.escape(name)}</h1>",
                f"<p>{len(frame)} cells ({int((frame['status'] == 'ok').sum())} ok) from "
                f"<code>{html.escape(str(results_dir))}</code>; settings: "
                f"{html.escape(', '.join(f'{k}={v}' for k, v in settings.items() if k != 'name'))}.</p>",
                "<h2>Bound verdicts</h2>", verdict_table_html(checks)]
    for axis, figure in axis_figures(frame, checks).items():
        save_figure(figure, out, f"{name}-{axis}")
        sections.append(f"<h2>Against {html.escape(axis)}</h2><img src='{name}-{axis}.png' style='max-width:100%'>"
                        f"<p><a href='{name}-{axis}.pdf'>PDF</a></p>")
    sections += _failed_cells_section(frame)
    sections += ["<h2>Results</h2>", _results_table(frame)]
    page = out / "index.html"
    page.write_text(html_page(f"mgbench report: {name}", "\n".join(sections)))
    return page


def verdict_table_html(checks: pd.DataFrame) -> str:
    """The verdicts as an HTML table (or a sentence when no bound applies)."""
    if checks.empty:
        return "<p>No bound applies: no axis with three or more values that a bound speaks of.</p>"
    shown = checks.assign(slope=[_interval(r.slope, r.slope_lo, r.slope_hi) for r in checks.itertuples()],
                          exponent=checks["exponent"].map(lambda e: "1 vs shape" if e is None or pd.isna(e) else f"{e:g}"))
    columns = ["curve", "axis", "range", "bound", "slope", "exponent", "constant_ls", "constant_envelope", "verdict",
               "cells_used", "cells_excluded", "note"]
    return shown[columns].to_html(index=False, float_format=lambda v: f"{v:.3g}", escape=True)


def _failed_cells_section(frame: pd.DataFrame) -> list[str]:
    """'Failed cells': how many cells of each estimator failed, and why (empty when none did)."""
    failed = frame[frame["status"] != "ok"]
    if failed.empty:
        return []
    reasons = failed.assign(error=failed["error"].fillna("(no reason stored)"))
    table = reasons.groupby(["estimator", "error"]).size().rename("cells").reset_index()
    return [f"<h2>Failed cells</h2><p>{len(failed)} of {len(frame)} cells failed; they have no metrics and are left "
            f"out of the verdicts and figures (<code>mgbench sweep ... --retry-failed</code> evaluates them "
            f"again).</p>", table[["estimator", "cells", "error"]].to_html(index=False, escape=True)]


def _results_table(frame: pd.DataFrame) -> str:
    columns = [c for c in ("estimator", "split", "steps", "lr", "batch", "N", "c", "mdp_seed", "status", "bias",
                           "bias_lo", "bias_hi", "rel_bias", "variance", "mse", "cosine", "corr", "std_sum",
                           "sigma_in", "target_norm", "target_method", "seconds") if c in frame]
    return frame[columns].to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")


def _interval(value: float, lo: float, hi: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:.3g} [{lo:.3g}, {hi:.3g}]" if np.isfinite(lo) else f"{value:.3g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA


def html_page(title: str, body: str) -> str:
    """A complete HTML page (title, the report's style) around `body`."""
    style = ("body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
             "table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}")
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>")
