"""`mgbench compare MODULE:NAME`: a new estimator against the bounds, beside the known ones.

Registers the estimator from the user's module (or `.py` file), runs the standard
bound-checking suite for it and the baselines — sweeps along |τ|, α and K on the
`liu2022` problems for a tabular estimator, along N on the Gaussian toy for a toy one —
and writes a report whose first table gives, for each (bound, axis), the slope with its
interval and the verdict of every estimator side by side.
"""
from __future__ import annotations

import argparse
import html
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from benchmark.cli import subcommand

DEFAULT_AGAINST = {"tabular": ("dice", "lvc", "loaded", "maml"), "gaussian_toy": ("sf", "lsf", "pw")}

# The standard suite: one sweep per axis, Liu et al.'s comp-* settings kept where they are
# well-conditioned with every part sampled (α up to 13 at K = 6 overflows the lll split).
TABULAR_AXES: dict[str, dict[str, Any]] = {
    "batch": {"steps": 2, "lr": 3.0, "batch": [2, 4, 8, 16, 32, 64, 128, 256]},
    "lr": {"steps": 2, "lr": [1.0, 2.0, 3.0, 4.0, 5.0], "batch": 32},
    "steps": {"steps": [1, 2, 3, 4, 5], "lr": 3.0, "batch": 32},
}
TOY_AXIS = {"N": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]}


def standard_suite(estimator: str, kind: str, against: Sequence[str], *, split: str = "lll",
                   repetitions: int | None = None, n_mdps: int = 3, seed: int = 0) -> list[dict[str, Any]]:
    """The sweep definitions (dicts of the TOML schema) of the bound-checking suite."""
    estimators = [estimator, *[name for name in against if name != estimator]]
    if kind == "gaussian_toy":
        return [{"name": f"compare-{estimator}-N", "seed": seed, "repetitions": repetitions or 100_000,
                 "target": "ideal", "problem": {"kind": "gaussian_toy", "theta": 0.5, "sigma": 1.0, "c": 1.0},
                 "grid": {"estimator": estimators, **TOY_AXIS}}]
    sweeps = []
    for axis, grid in TABULAR_AXES.items():
        sweeps.append({"name": f"compare-{estimator}-{axis}", "seed": seed, "repetitions": repetitions or 2000,
                       "target": "ideal", "problem": {"kind": "tabular", "preset": "liu2022", "n_mdps": n_mdps},
                       "grid": {"estimator": estimators, "split": [split], **grid}})
    return sweeps


def comparison_table(checks: pd.DataFrame, estimator: str) -> pd.DataFrame:
    """Rows (bound, axis, fitted range); one column per estimator (the new one first): 'slope [lo, hi] verdict'."""
    if checks.empty:
        return pd.DataFrame()
    from benchmark.bounds import BOUNDS

    cells = checks.assign(result=[_cell(row) for row in checks.itertuples()],
                          bound=checks["bound"].map(lambda name: f"{BOUNDS[name].formula} ({name})"))
    table = cells.pivot_table(index=["bound", "axis", "range"], columns="estimator", values="result", aggfunc="first")
    order = [estimator, *sorted(c for c in table.columns if c != estimator)]
    return table[[c for c in order if c in table.columns]].reset_index()


def _cell(row) -> str:
    if pd.isna(row.slope):
        return f"— {row.verdict}"
    interval = f" [{row.slope_lo:.2f}, {row.slope_hi:.2f}]" if pd.notna(row.slope_lo) else ""
    return f"{row.slope:.2f}{interval} {row.verdict}"


def compare(reference: str, *, against: Sequence[str] | None = None, quick: bool = False, jobs: int | None = None,
            results_dir: str | Path = "results", reports_dir: str | Path = "reports", split: str = "lll",
            quiet: bool = False) -> Path:
    """Run the suite for the estimator(s) registered by `reference` and write the report page."""
    from estimators import load_estimator

    from benchmark.report import bound_checks, load_report_frame, verdict_table_html, write_report
    from benchmark.runner import run_sweep
    from benchmark.schema import sweep_from_dict

    added = load_estimator(reference)
    if not added:
        raise ValueError(f"estimator: {reference!r} registered no new estimator (is there an @register line?)")
    spec = added[0]
    baselines = tuple(against) if against is not None else DEFAULT_AGAINST[spec.problem]
    out = Path(reports_dir) / f"compare-{spec.name}"
    sections, all_checks = [], []
    for definition in standard_suite(spec.name, spec.problem, baselines, split=split):
        sweep = sweep_from_dict(definition, source=f"compare {spec.name}")
        sweep = sweep.quick() if quick else sweep
        summary = run_sweep(sweep, results_dir, jobs=jobs, quiet=quiet, plugins=(reference,))
        frame, settings = load_report_frame(summary.directory)
        all_checks.append(bound_checks(frame, settings))
        write_report(summary.directory, out / sweep.name)
        sections.append(f"<li><a href='{sweep.name}/index.html'>{html.escape(sweep.name)}</a>: "
                        f"{summary.total} cells</li>")
    checks = pd.concat(all_checks, ignore_index=True) if all_checks else pd.DataFrame()
    table = comparison_table(checks, spec.name)
    table.to_csv(out / "comparison.csv", index=False)
    body = [f"<h1>{html.escape(spec.name)} against the bounds</h1>",
            f"<p>{html.escape(spec.description)}; baselines: {html.escape(', '.join(baselines))}"
            f"{' (quick: shrunk sweeps, verdicts are indicative only)' if quick else ''}.</p>",
            "<h2>Slope [95% interval] and verdict, per bound and axis</h2>",
            table.to_html(index=False, escape=True) if not table.empty else "<p>No bound could be checked.</p>",
            "<h2>All checks</h2>", verdict_table_html(checks), "<h2>Sweeps</h2><ul>", *sections, "</ul>"]
    from benchmark.pages import page

    index = out / "index.html"
    index.write_text(page(f"compare {spec.name}", body))
    return index


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("reference", metavar="MODULE:NAME", help="module (or .py file) registering the estimator")
    parser.add_argument("--against", default=None, help="comma-separated baselines (default dice,lvc,loaded,maml; "
                                                        "sf,lsf,pw for a toy estimator)")
    parser.add_argument("--quick", action="store_true", help="shrink every sweep to a seconds-long version")
    parser.add_argument("--jobs", type=int, default=None, help="parallel workers (default: all cores)")
    parser.add_argument("--split", default="lll", help="split of the Liu baselines (default lll: all parts sampled)")
    parser.add_argument("--out", default="results", help="results directory (default results)")
    parser.add_argument("--reports", default="reports", help="reports directory (default reports)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


@subcommand("compare", help="run the bound-checking suite for a new estimator beside the baselines",
            arguments=_arguments)
def compare_command(args: argparse.Namespace) -> int:
    """Print where the comparison report went."""
    against = [name.strip() for name in args.against.split(",") if name.strip()] if args.against else None
    page = compare(args.reference, against=against, quick=args.quick, jobs=args.jobs, results_dir=args.out,
                   reports_dir=args.reports, split=args.split, quiet=args.quiet)
    print(f"comparison report: {page}")
    return 0
