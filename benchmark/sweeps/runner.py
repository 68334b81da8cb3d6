"""Run a sweep: skip stored cells, evaluate the rest in parallel, store each as it arrives.

Backends:
- `joblib` (default): local processes (loky), `jobs` of them (default all cores);
  results come back unordered, as each cell finishes.
- `dask`: a Dask distributed cluster at `scheduler` (e.g. `tcp://host:8786`), or a local
  cluster of `jobs` single-threaded workers when no address is given. The workers need the
  package installed (and any plug-in estimator modules importable).

Only this (parent) process writes to the store, one commit per cell. Every cell's numbers
are a function of the sweep and the cell alone (`benchmark.sweeps.cells`), so any backend, any
number of workers and any completion order give identical results.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from benchmark.sweeps.cells import evaluate_cell
from benchmark.sweeps.records import Cell, Sweep
from benchmark.sweeps.store import ResultStore
from benchmark.sweeps.vocabulary import SweepError
from estimators.problem import positive_int

BACKENDS = ("joblib", "dask")


@dataclass(frozen=True)
class RunSummary:
    """What a run did.

    Attributes:
      name: the sweep's name.
      directory: `<out>/<name>`.
      csv_path: the results table.
      total: cells in the sweep.
      computed: cells evaluated by this run.
      skipped: cells already stored before it (resume).
      failed: cells of this run stored as `failed`.
      seconds: wall time of the run.
      interrupted: the run was stopped (Ctrl-C) before every cell was done.
      first_error: the reason of the first failed cell of this run, if any.
      sweep: the `Sweep` as run.
      results: the typed results frame (one row per cell; column roles from
        `benchmark.sweeps.columns`), as written to `results.csv`.
    """

    name: str
    directory: Path
    csv_path: Path
    total: int
    computed: int
    skipped: int
    failed: int
    seconds: float
    interrupted: bool = False
    first_error: str | None = None
    sweep: Any = field(default=None, repr=False, compare=False)
    results: Any = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Every cell of the sweep is stored."""
        return self.computed + self.skipped == self.total


def run_sweep(sweep: Sweep, out_dir: str | Path, *, jobs: int | None = None, backend: str = "joblib",
              scheduler: str | None = None, quiet: bool = False, overwrite: bool = False,
              retry_failed: bool = False, plugins: Sequence[str] = ()) -> RunSummary:
    """Run every cell of `sweep` not yet stored under `out_dir`, then write the CSV.

    Args:
      sweep: the validated sweep.
      out_dir: results go to `<out_dir>/<sweep.name>/`.
      jobs: parallel workers (default: all cores; 1 runs in this process with joblib).
      backend: `joblib` or `dask`.
      scheduler: Dask scheduler address (backend `dask` only; default a local cluster).
      quiet: no progress bar.
      overwrite: discard results stored under the same name (needed when the sweep changed).
      retry_failed: evaluate again the cells stored as `failed` (by default a stored cell,
        failed or not, is done: its numbers are a function of the sweep and the code).
      plugins: `module` or `module:attribute` references of estimator modules to import in
        every worker (`estimators.load_estimator`), for estimators outside the package.
    Returns:
      a `RunSummary`. A KeyboardInterrupt stops the run cleanly (`interrupted=True`); the
      CSV is written in every case.
    """
    _check_options(jobs, backend, scheduler)
    cells = sweep.cells()
    store = ResultStore.open(out_dir, sweep, overwrite=overwrite)
    start = time.perf_counter()
    done = store.finished_cell_ids(include_failed=not retry_failed)
    pending = [cell for cell in cells if cell.cell_id not in done]
    by_id = {cell.cell_id: cell for cell in pending}
    computed, failed, first_error, interrupted, outcome = 0, 0, None, False, "complete"
    store.start_run(backend=backend, jobs=jobs)
    progress = _progress(sweep, len(cells), len(cells) - len(pending), quiet)
    try:
        for result in _results(sweep, pending, backend=backend, jobs=jobs, scheduler=scheduler, plugins=plugins):
            store.record(by_id[result["cell_id"]], result)
            computed += 1
            if result["status"] != "ok":
                failed += 1
                first_error = first_error or result.get("error")
            progress.update(1)
            progress.set_postfix(failed=failed, refresh=False)
    except KeyboardInterrupt:
        interrupted = True
    except BaseException as error:
        outcome = f"error: {type(error).__name__}: {error}"
        raise
    finally:
        progress.close()
        store.finish_run(cells_computed=computed, outcome="interrupted" if interrupted else outcome)
        csv_path, results = store.write_results()
        store.close()
    return RunSummary(sweep.name, store.directory, csv_path, len(cells), computed, len(cells) - len(pending),
                      failed, time.perf_counter() - start, interrupted, first_error, sweep, results)


def _check_options(jobs: int | None, backend: str, scheduler: str | None) -> None:
    if jobs is not None:
        try:
            positive_int("jobs", jobs)
        except ValueError as error:
            raise SweepError(str(error)) from None
    if backend not in BACKENDS:
        raise SweepError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise SweepError("scheduler: only used with backend 'dask'")


def _progress(sweep: Sweep, total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=sweep.name, unit="cell", disable=quiet, dynamic_ncols=True,
                postfix={"failed": 0})


# ----------------------------------------------------------------------------- execution

def evaluate_in_worker(sweep: Sweep, cell: Cell, plugins: Sequence[str] = ()) -> dict[str, Any]:
    """`evaluate_cell` after importing the plug-in estimator modules (once per process)."""
    _load_plugins(tuple(plugins))
    return evaluate_cell(sweep, cell)


_LOADED_PLUGINS: set[str] = set()


def _load_plugins(plugins: tuple[str, ...]) -> None:
    from estimators import load_estimator

    for reference in plugins:
        if reference not in _LOADED_PLUGINS:
            load_estimator(reference)
            _LOADED_PLUGINS.add(reference)


def _results(sweep: Sweep, cells: list[Cell], *, backend: str, jobs: int | None, scheduler: str | None,
             plugins: Sequence[str]) -> Iterator[dict[str, Any]]:
    if not cells:
        return iter(())
    if backend == "dask":
        return _dask_results(sweep, cells, jobs, scheduler, plugins)
    return _joblib_results(sweep, cells, jobs, plugins)


def _joblib_results(sweep: Sweep, cells: list[Cell], jobs: int | None,
                    plugins: Sequence[str]) -> Iterator[dict[str, Any]]:
    from joblib import Parallel, delayed

    workers = min(jobs or os.cpu_count() or 1, len(cells))
    parallel = Parallel(n_jobs=workers, return_as="generator_unordered")
    results = parallel(delayed(evaluate_in_worker)(sweep, cell, tuple(plugins)) for cell in cells)
    try:
        yield from results
    finally:
        results.close()


def _dask_results(sweep: Sweep, cells: list[Cell], jobs: int | None, scheduler: str | None,
                  plugins: Sequence[str]) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise SweepError("backend: 'dask' needs dask[distributed] (pip install 'mgbench[dask]')") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                               dashboard_address=None)
    try:
        client = Client(scheduler or cluster)
    except OSError as error:
        if cluster is not None:
            cluster.close()
        raise SweepError(f"scheduler: cannot connect to {scheduler!r} ({error})") from None
    futures = []
    try:
        futures = [client.submit(evaluate_in_worker, sweep, cell, tuple(plugins), pure=False) for cell in cells]
        cell_of = {future.key: cell for future, cell in zip(futures, cells)}
        for future in as_completed(futures):
            yield _dask_result(future, cell_of[future.key])
    finally:
        client.cancel(futures)
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_result(future, cell: Cell) -> dict[str, Any]:
    """The future's result, or a `failed` record when the task itself failed (e.g. a lost worker)."""
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - one lost task must not stop the sweep
        return {"cell_id": cell.cell_id, "status": "failed", "error": f"{type(error).__name__}: {error}"}
