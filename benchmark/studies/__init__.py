"""Regenerate the published figures: one command per study.

    mgbench figures STUDY [--quick] [--jobs N] [--kernel K] [--out results] [--reports reports]

STUDY is `liu2022`, `tang2022`, `vuorio2022`, `beyond` (the estimators against both
targets, which no paper shows), `tang2021` (off-policy evaluation Hessians, simulations only) or `all`.
`make_figures` runs the preset sweeps a study
needs that are not stored yet (the runner resumes), draws each figure into
`reports/figures/<study>/<name>.{png,pdf}` and writes `reports/<study>.html` (with
`--quick`: `reports/figures/<study>-quick/` and `reports/<study>-quick.html`): each figure
with what it reproduces, the settings, and a comparison with the published claim in
numbers. The figures of a study are listed in `benchmark/studies/<study>.py` (`FIGURES`).

Importing this package is cheap (no pandas, no matplotlib); `mgbench figures` is
`benchmark.cli.figures_command`.
"""
from __future__ import annotations

import importlib
import shutil
import time
import traceback
from pathlib import Path
from typing import Any, Callable

__all__ = ["STUDIES", "ALL", "FiguresError", "make_figures", "figure_specs", "study_names", "study_stem"]

STUDIES = ("liu2022", "tang2022", "vuorio2022", "beyond", "tang2021")
ALL = "all"
FIGURES_DIRECTORY = "figures"
GALLERY_DIRECTORY = "gallery"


class FiguresError(RuntimeError):
    """Some figures could not be drawn (the pages are still written; the message lists them)."""


def study_names(study: str) -> tuple[str, ...]:
    """The studies `study` stands for (`all`: every study)."""
    if study == ALL:
        return STUDIES
    if study not in STUDIES:
        raise ValueError(f"study: expected one of {', '.join((*STUDIES, ALL))}, got {study!r}")
    return (study,)


def study_stem(study: str, quick: bool) -> str:
    """`<study>` or, for a quick run, `<study>-quick`: quick pages and figures never overwrite full ones."""
    return f"{study}-quick" if quick else study


def figure_specs(study: str) -> list:
    """The `FigureSpec`s of one study (`benchmark/studies/<study>.py`, `FIGURES`)."""
    study_names(study)
    return list(importlib.import_module(f"benchmark.studies.{study}").FIGURES)


def make_figures(study: str, *, quick: bool = False, jobs: int | None = None, results_dir: str | Path = "results",
                 reports_dir: str | Path = "reports", overwrite: bool = False,
                 progress: Callable[[str], None] | None = None, kernel: str = "compiled") -> list[Path]:
    """Run the missing sweeps of a study, draw its figures and write its HTML page.

    Args:
      study: `liu2022`, `tang2022`, `vuorio2022`, `beyond` or `all`.
      quick: use the quick version of every sweep (`Sweep.quick()`, results under
        `<results_dir>/<name>-quick/`) and of every simulation.
      jobs: parallel workers for the sweeps (default: all cores).
      results_dir: where sweep results are stored (and resumed from).
      reports_dir: figures go to `<reports_dir>/figures/<study>/`, pages to
        `<reports_dir>/<study>.html` (and `<reports_dir>/all.html` for `all`); a quick run
        writes `<study>-quick` in both places instead, never over a full run; a full run
        also copies the PNGs of the gallery figures to `<reports_dir>/gallery/`.
      overwrite: discard stored results of a sweep whose preset has changed (otherwise
        such a sweep is an error, so that stale numbers are never drawn).
      progress: called with one line per step (e.g. `print`), or None for silence.
      kernel: `compiled` or `numpy`, the sweeps' sampling path (`run_sweep`); simulations run
        numpy code either way.
    Returns:
      every file written: PNG and PDF per figure, then the HTML pages.
    Raises:
      FiguresError: after writing everything else, when some figure could not be drawn
        (a sweep that cannot run, a failing analysis); the message says which and why.
    """
    from benchmark.studies.page import FigureRecord, write_index_page, write_study_page

    say = progress or (lambda message: None)
    studies = study_names(study)
    results_dir, reports_dir = Path(results_dir), Path(reports_dir)
    runner = _SweepCache(results_dir, quick=quick, jobs=jobs, overwrite=overwrite, say=say,
                         progress_bars=progress is not None, kernel=kernel)
    written: list[Path] = []
    pages: dict[str, Path] = {}
    problems: list[str] = []
    for name in studies:
        records = []
        for spec in figure_specs(name):
            record = FigureRecord(spec)
            try:
                _make_one(record, name, runner, reports_dir, quick, say)
                written += record.paths
            except Exception as error:  # noqa: BLE001 - one broken figure must not lose the others
                record.skipped = f"{type(error).__name__}: {error}"
                problems.append(f"{name}/{spec.filename}: {record.skipped}")
                say(f"figures: {name}/{spec.filename} not drawn: {record.skipped}")
                say(traceback.format_exc(limit=3))
            records.append(record)
        command = f"mgbench figures {name}" + (" --quick" if quick else "")
        pages[name] = write_study_page(reports_dir / f"{study_stem(name, quick)}.html", name, records, quick=quick,
                                       command=command)
        written.append(pages[name])
        say(f"figures: wrote {pages[name]}")
    if study == ALL:
        written.append(write_index_page(reports_dir / f"{study_stem(ALL, quick)}.html", pages, quick=quick,
                                        command="mgbench figures all" + (" --quick" if quick else "")))
    if problems:
        raise FiguresError(f"{len(problems)} figure(s) not drawn: " + " | ".join(problems))
    return written


def _heavy_tails(ok) -> str:
    """The page's note and table of the cells with large tail diagnostics (`statistics.heavy_tailed`), or ''."""
    from benchmark.analysis.statistics import KURTOSIS_NOTE, TAIL_SHARE_NOTE, heavy_tailed
    from benchmark.present.pages import tail_section
    from benchmark.sweeps.columns import axes

    if ok.empty or not {"kurtosis", "tail_share", "variance_hi"} <= set(ok.columns):
        return ""
    heavy = ok[heavy_tailed(ok["kurtosis"], ok["tail_share"], ok["variance_hi"], ok.get("tail_index"))]
    if heavy.empty:
        return ""
    keys = [c for c in ("preset", *axes(ok.columns), "mdp_seed") if c in heavy and heavy[c].notna().any()]
    return tail_section(heavy, len(ok), list(dict.fromkeys(keys)), kurtosis_note=KURTOSIS_NOTE,
                        share_note=TAIL_SHARE_NOTE)


def _make_one(record, study: str, runner: "_SweepCache", reports_dir: Path, quick: bool,
              say: Callable[[str], None]) -> None:
    import pandas as pd

    from benchmark.studies.spec import FigureData
    from benchmark.present.plotting import save_figure

    spec = record.spec
    if spec.simulation is not None:
        from benchmark.studies.simulations import run_simulation

        run = run_simulation(spec.simulation, quick=quick, results_dir=runner.results_dir, jobs=runner.jobs, say=say)
        record.run_seconds, record.cell_seconds = run.seconds, run.unit_seconds
        record.settings = [{"simulation": spec.filename, **run.settings}]
        record.results_paths.append(run.csv)
        record.cells_ok = len(run.table)
        data = FigureData(run.table, {}, quick, None, run.settings)
        say(f"figures: {spec.filename}: {run.computed} simulation units run in {run.seconds:.1f} s, "
            f"{run.stored} read from {run.path}")
    else:
        frames, sweeps = [], {}
        for preset in spec.sweeps:
            sweep, frame, seconds = runner.results(preset)
            sweeps[preset] = sweep
            frames.append(frame.assign(preset=preset))
            record.run_seconds += seconds
            record.results_paths.append(runner.directory(sweep) / "results.csv")
            record.settings.append(_settings_row(sweep))
        results = pd.concat(frames, ignore_index=True)
        ok = results["status"] == "ok"
        failed = results[~ok]
        record.cells_ok, record.cells_failed = int(ok.sum()), int((~ok).sum())
        record.first_error = None if failed.empty else str(failed["error"].iloc[0])
        record.cell_seconds = float(pd.to_numeric(results["seconds"], errors="coerce").sum())
        if not record.cells_ok:
            raise RuntimeError(f"every cell of {', '.join(spec.sweeps)} failed (first error: {record.first_error})")
        record.heavy_tails = _heavy_tails(results[ok])
        data = FigureData(results[ok].reset_index(drop=True), sweeps, quick, failed.reset_index(drop=True))
    start = time.perf_counter()
    figure = spec.draw(data)
    record.paths = save_figure(figure, reports_dir / FIGURES_DIRECTORY / study_stem(study, quick), spec.filename)
    if spec.gallery and not quick:
        gallery = reports_dir / GALLERY_DIRECTORY
        gallery.mkdir(parents=True, exist_ok=True)
        copy = gallery / f"{study}_{spec.filename}.png"
        shutil.copyfile(record.paths[0], copy)
        record.paths.append(copy)
    record.comparison = spec.compare(data)
    record.draw_seconds = time.perf_counter() - start
    say(f"figures: drew {study}/{spec.filename} ({record.comparison.verdict})")


class _SweepCache:
    """Runs each preset sweep at most once per `make_figures` call and loads its results."""

    def __init__(self, results_dir: Path, *, quick: bool, jobs: int | None, overwrite: bool,
                 say: Callable[[str], None], progress_bars: bool = False, kernel: str = "compiled"):
        self.results_dir, self.quick, self.jobs, self.overwrite, self.say = results_dir, quick, jobs, overwrite, say
        self.kernel = kernel
        self.progress_bars = progress_bars     # a tqdm bar per sweep while it runs (stderr)
        self._done: dict[str, tuple[Any, Any, float]] = {}
        self._failed: dict[str, Exception] = {}

    def directory(self, sweep) -> Path:
        return self.results_dir / sweep.name

    def results(self, preset: str):
        """(Sweep as run, its results table, wall seconds spent running it in this call)."""
        if preset in self._failed:
            raise self._failed[preset]
        if preset in self._done:
            sweep, frame, _ = self._done[preset]
            return sweep, frame, 0.0
        try:
            return self._run(preset)
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:  # noqa: BLE001 - remembered, so other figures of the preset fail fast
            self._failed[preset] = error
            raise

    def _run(self, preset: str):
        from benchmark.sweeps.runner import run_sweep
        from benchmark.sweeps.loading import load_sweep
        from benchmark.sweeps.store import load_results

        sweep = load_sweep(preset)
        if self.quick:
            sweep = sweep.quick()
        self.say(f"figures: sweep {sweep.name} ({len(sweep.cells())} cells, resuming any stored)")
        summary = run_sweep(sweep, self.results_dir, jobs=self.jobs, quiet=not self.progress_bars,
                            overwrite=self.overwrite, kernel=self.kernel)
        if summary.interrupted:
            raise KeyboardInterrupt
        self.say(f"figures: sweep {sweep.name}: {summary.computed} computed, {summary.skipped} stored, "
                 f"{summary.failed} failed, {summary.seconds:.1f} s")
        frame = load_results(summary.directory)
        self._done[preset] = (sweep, frame, summary.seconds)
        return sweep, frame, summary.seconds


def _settings_row(sweep) -> dict[str, Any]:
    data = sweep.to_dict()
    problem = dict(data["problem"])
    seeds = problem.pop("mdp_seeds", None)
    fields = sweep.problem.values
    row: dict[str, Any] = {"sweep": sweep.name, "target": sweep.target, "meta-parameter": sweep.meta_parameter,
                           "repetitions per cell": sweep.repetitions, "seed": sweep.seed,
                           "problem": f"{sweep.problem.label}: " + ", ".join(f"{k}={v}" for k, v in fields.items()),
                           "problem seeds": "1 (no problem seed)" if not seeds else f"{len(seeds)} ({seeds[0]}..{seeds[-1]})"}
    for axis, values in data["grid"].items():
        row[axis] = values
    for estimator, parameters in data.get("estimator_params", {}).items():
        row[f"{estimator} (fixed)"] = parameters
    return row
