"""Run a sweep: skip stored cells, evaluate the rest in parallel, store each as it arrives.

Backends:
- `joblib` (default): local worker processes (loky), `jobs` of them (default all cores);
  results come back unordered, as each cell finishes. `jobs = 1` runs in this process.
- `dask`: a Dask distributed cluster at `scheduler` (e.g. `tcp://host:8786`), or a local
  cluster of `jobs` single-threaded workers when no address is given. The workers need the
  package installed (and any plug-in estimator modules importable).

Only this (parent) process writes to the store, one commit per cell. Every cell's numbers
are a function of the sweep and the cell alone (`benchmark.sweeps.cells`), so any backend, any
number of workers and any completion order give identical results.

What a stored `failed` cell means, and what is never stored (docs/reliability.md):
- `failed`: the cell itself cannot give valid numbers — its estimator raised, returned
  complex, mis-shaped or non-finite values, overflowed a statistic, exceeded the per-cell
  time limit, or killed the process running it (a segfault, `os._exit`, the OOM killer:
  after a worker dies the remaining cells are run a few at a time and the ones that kill
  a worker again alone are stored `failed`; on Dask, a task that kills workers
  `distributed.scheduler.allowed-failures` + 1 times, `KilledWorker`, is run once more
  alone after the others, since a cell merely queued on a dying worker is blamed too,
  and stored `failed` when it kills again).
- lost, never stored: infrastructure faults — the Dask scheduler or the connection to it
  is lost, or a worker cannot import a plug-in. The cells stay pending, the run ends with
  `RunSummary.lost` set, and running the same command again resumes.
"""
from __future__ import annotations

import faulthandler
import logging
import os
import re
import signal
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

from benchmark.sweeps.cells import MEMORY_BUDGET_BYTES, bytes_per_repetition, cell_code_hash, evaluate_cell
from benchmark.sweeps.pool import kill_pool, worker_pool
from benchmark.sweeps.records import Cell, Sweep
from benchmark.sweeps.store import CSV, DATABASE, ResultStore
from benchmark.families.schema import SweepError
from benchmark.sweeps.vocabulary import DEFAULT_MAX_CELLS
from estimators.problem import check_kernel
from estimators.problem import positive_int

BACKENDS = ("joblib", "dask")
BYTES_PER_LISTED_CELL = 760      # measured (issue 15): listing 10^7 cells took 7.6 GB
SECONDS_PER_LISTED_CELL = 3e-5   # and about 5 minutes
CLIENT_LOGGERS = ("distributed.client", "distributed.utils", "distributed.core", "distributed.comm",
                  "distributed.batched")
LOST = "lost"                    # the status of a result that was not computed (never stored)


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
      interrupted: the run was stopped (Ctrl-C, SIGTERM, SIGHUP) before every cell was done.
      first_error: the reason of the first failed cell of this run, if any.
      lost: cells not computed because of an infrastructure fault (not stored; pending).
      lost_reason: what was lost (the first such fault), if any.
      failed_stored: every cell of the sweep stored as `failed` after the run, this run's
        and earlier ones' (`--retry-failed` evaluates them again).
      signal: the number of the signal that stopped the run (SIGINT for Ctrl-C), if any.
      recomputed: cells stored by an earlier version of their estimator's code, computed
        again by this run (the estimator's source file changed).
      sweep: the `Sweep` as run.
      results: the typed results frame as written to `results.csv` (one row per stored
        cell; column roles from `benchmark.sweeps.columns`), or None if it could not be written.
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
    lost: int = 0
    lost_reason: str | None = None
    failed_stored: int = 0
    signal: int | None = None
    recomputed: int = 0
    sweep: Any = field(default=None, repr=False, compare=False)
    results: Any = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Every cell of the sweep is stored."""
        return self.computed + self.skipped == self.total and not self.lost

    @property
    def pending(self) -> int:
        """Cells of the sweep not stored after the run."""
        return self.total - self.computed - self.skipped


def run_sweep(sweep: Sweep, out_dir: str | Path, *, jobs: int | None = None, backend: str = "joblib",
              scheduler: str | None = None, quiet: bool = False, overwrite: bool = False,
              retry_failed: bool = False, plugins: Sequence[str] = (), max_cells: int | None = DEFAULT_MAX_CELLS,
              time_limit: float | None = None, kernel: str = "compiled") -> RunSummary:
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
      max_cells: refuse (before listing them) a sweep of more cells (None: no limit).
      time_limit: seconds per cell; a cell that takes longer is stored `failed` (None: none).
      kernel: `compiled` (default) or `numpy` (`MetaProblem.kernel`): how sampled batches
        are computed, not what; not part of the sweep, so stored results resume either way.
    Returns:
      a `RunSummary`. A KeyboardInterrupt (`mgbench` raises one carrying `signum` on SIGTERM and
      SIGHUP) stops the run cleanly (`interrupted=True`); the CSV is written in every case.
    Raises:
      SweepError: the sweep cannot run (too many cells, one estimator call above the memory
        budget, a parameter value its estimator refuses, the results directory in use or
        holding a different sweep).
    """
    _check_options(jobs, backend, scheduler, max_cells, time_limit)
    try:
        check_kernel(kernel)
    except ValueError as error:
        raise SweepError(str(error)) from None
    _check_size(sweep, max_cells)
    sweep.check()
    cells = sweep.cells()
    _check_memory(sweep, cells)
    plugins = tuple(_portable_plugin(reference) for reference in plugins)
    store = ResultStore.open(out_dir, sweep, overwrite=overwrite)
    start = time.perf_counter()
    code_hash = _code_hashes(sweep)
    stored_hash = store.code_hashes()
    changed = {cell.cell_id for cell in cells       # stored under another hash, or before hashes (unknown code)
               if cell.cell_id in stored_hash and stored_hash[cell.cell_id] != code_hash[cell.estimator]}
    done = store.finished_cell_ids(include_failed=not retry_failed) - changed
    pending = [cell for cell in cells if cell.cell_id not in done]
    by_id = {cell.cell_id: cell for cell in pending}
    if changed:
        names = sorted({by_id[cell_id].estimator for cell_id in changed})
        print(f"mgbench: warning: the code of estimator {', '.join(map(repr, names))} (or what a stored cell's "
              f"numbers mean) changed since {len(changed)} of its cells were stored; they are computed again",
              file=sys.stderr)
    computed, failed, first_error, lost, lost_reason = 0, 0, None, 0, None
    interrupted, stop_signal, outcome = False, None, "complete"
    store.start_run(backend=backend, jobs=jobs)
    progress = _progress(sweep, len(cells), len(cells) - len(pending), quiet)
    results = None
    try:
        results = _results(sweep, pending, backend=backend, jobs=jobs, scheduler=scheduler, plugins=plugins,
                           options=CellOptions(time_limit, kernel))
        for result in results:
            if result["status"] == LOST:
                lost += 1
                lost_reason = lost_reason or result.get("error")
                continue
            cell = by_id[result["cell_id"]]
            store.record(cell, result, code_hash=code_hash[cell.estimator])
            computed += 1
            if result["status"] != "ok":
                failed += 1
                first_error = first_error or result.get("error")
            progress.update(1)
            progress.set_postfix(failed=failed, refresh=False)
    except KeyboardInterrupt as stop:
        interrupted, stop_signal = True, getattr(stop, "signum", signal.SIGINT)
    except BaseException as error:
        outcome = f"error: {type(error).__name__}: {error}"
        raise
    finally:
        with _deferred_signals():
            if hasattr(results, "close"):
                results.close()          # stops the workers of an interrupted run
            progress.close()
            if interrupted:
                outcome = f"interrupted ({signal.Signals(stop_signal).name})"
            elif lost:
                outcome = f"lost: {lost_reason}"
            frame = _finish(store, computed, outcome)
    lost = len(pending) - computed if (lost or interrupted) else 0
    return RunSummary(sweep.name, store.directory, store.directory / CSV, len(cells), computed,
                      len(cells) - len(pending), failed, time.perf_counter() - start, interrupted, first_error,
                      lost if not interrupted else 0, lost_reason, len(store_failed(store.directory, cells)),
                      int(stop_signal) if stop_signal is not None else None, len(changed & set(by_id)),
                      sweep=sweep, results=frame)


def _finish(store: ResultStore, computed: int, outcome: str):
    """Record the end of the run and write the CSV; returns the results frame written (None
    when an error was in flight); an error here must not hide one in flight."""
    in_flight = sys.exc_info()[1]
    frame = None
    try:
        store.finish_run(cells_computed=computed, outcome=outcome)
        frame = store.write_results()[1]
    except Exception:
        if in_flight is None:
            raise
    finally:
        store.close()
    return frame


def store_failed(directory: Path, cells: Sequence[Cell]) -> dict[str, str | None]:
    """`{cell_id: error}` of the cells of `cells` stored as failed under `directory`."""
    import sqlite3

    connection = sqlite3.connect(f"file:{directory / DATABASE}?mode=ro", uri=True, timeout=60)
    try:
        rows = connection.execute("SELECT cell_id, error FROM cells WHERE status != 'ok'").fetchall()
    finally:
        connection.close()
    wanted = {cell.cell_id for cell in cells}
    return {cell_id: error for cell_id, error in rows if cell_id in wanted}


@contextmanager
def _deferred_signals():
    """While the run is being closed (provenance, CSV), a second Ctrl-C/SIGTERM/SIGHUP waits."""
    received: list[int] = []
    previous = {}
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is None:
            continue
        try:
            previous[number] = signal.signal(number, lambda signum, _frame: received.append(signum))
        except ValueError:  # not the main thread
            break
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _code_hashes(sweep: Sweep) -> dict[str, str]:
    from estimators import get_estimator

    return {name: cell_code_hash(get_estimator(name, sweep.problem.kind).source_hash()) for name in sweep.estimators}


def _portable_plugin(reference: str) -> str:
    """A `.py` plug-in path made absolute, so workers started elsewhere find the same file."""
    module, colon, attribute = reference.partition(":")
    if module.endswith(".py") and Path(module).exists():
        module = str(Path(module).resolve())
    return module + colon + attribute


def _check_size(sweep: Sweep, max_cells: int | None) -> None:
    """Refuse a grid of more than `max_cells` cells before listing them."""
    count = sweep.cell_count()
    if max_cells is not None and count > max_cells:
        gigabytes = count * BYTES_PER_LISTED_CELL / 1e9
        minutes = count * SECONDS_PER_LISTED_CELL / 60
        raise SweepError(f"grid: {count} cells, more than the limit of {max_cells} (listing them alone would take "
                         f"~{gigabytes:.1f} GB of memory and ~{minutes:.0f} min before the first is computed); shrink "
                         f"the grid, or raise the limit with --max-cells")


def _check_memory(sweep: Sweep, cells: Sequence[Cell]) -> None:
    """Refuse a cell whose single repetition is estimated above the per-call memory budget."""
    seen = set()
    for cell in cells:
        key = (cell.estimator, tuple(sorted((k, repr(v)) for k, v in cell.key.items() if k != "mdp_seed")))
        if key in seen:
            continue
        seen.add(key)
        need = bytes_per_repetition(sweep, cell)
        if need > MEMORY_BUDGET_BYTES:
            sizes = {name: cell.axis(name) for name in ("batch", "n_inner", "n_hessian", "n_outer", "N")
                     if cell.axis(name) is not None}
            field_name = next(iter(sizes), "batch")
            raise SweepError(f"grid.{field_name}: one repetition of estimator {cell.estimator!r} at "
                             f"{', '.join(f'{k} = {v}' for k, v in sizes.items())} needs ~{need / 2**30:.1f} GB, above "
                             f"the {MEMORY_BUDGET_BYTES // 2**20} MB budget of one estimator call; use smaller sample "
                             f"sizes")


def _check_options(jobs: int | None, backend: str, scheduler: str | None, max_cells: int | None = None,
                   time_limit: float | None = None) -> None:
    if jobs is not None:
        try:
            positive_int("jobs", jobs)
        except ValueError as error:
            raise SweepError(str(error)) from None
    if max_cells is not None and (isinstance(max_cells, bool) or not isinstance(max_cells, int) or max_cells < 1):
        raise SweepError(f"max_cells: expected a positive integer, got {max_cells!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float)) and time_limit > 0):
        raise SweepError(f"cell_time_limit: expected a positive number of seconds, got {time_limit!r}")
    if backend not in BACKENDS:
        raise SweepError(f"backend: expected one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise SweepError("scheduler: only used with backend 'dask'")
    if scheduler is not None and ("://" not in scheduler and ":" not in scheduler):
        raise SweepError(f"scheduler: expected an address like tcp://host:8786, got {scheduler!r}")


def _progress(sweep: Sweep, total: int, initial: int, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=sweep.name, unit="cell", disable=quiet, dynamic_ncols=True,
                postfix={"failed": 0})


# ----------------------------------------------------------------------------- execution

class WorkerSetupError(RuntimeError):
    """A worker cannot run cells at all (e.g. it cannot import a plug-in): infrastructure, not a result."""


@dataclass(frozen=True)
class CellOptions:
    """How the cells of a run are evaluated, not what: never part of the sweep or its results.

    Attributes:
      time_limit: seconds per cell (None: no limit), `evaluate_cell`.
      kernel: `compiled` or `numpy`, how sampled batches are computed (`MetaProblem.kernel`).
    """

    time_limit: float | None = None
    kernel: str = "compiled"


def evaluate_in_worker(sweep: Sweep, cell: Cell, plugins: Sequence[str] = (),
                       options: CellOptions = CellOptions()) -> dict[str, Any]:
    """`evaluate_cell` after importing the plug-in estimator modules (once per process).

    Python's fault handler is off here: a cell that crashes its process is reported once,
    as a `failed` cell with the exit signal, not as a C-level stack dump on the terminal.
    """
    if faulthandler.is_enabled():
        faulthandler.disable()
    try:
        _load_plugins(tuple(plugins))
    except Exception as error:  # noqa: BLE001 - any import failure is the worker's, not the cell's
        import platform

        raise WorkerSetupError(f"a worker on {platform.node()} cannot import a plug-in: {error}") from None
    return evaluate_cell(sweep, cell, time_limit=options.time_limit, kernel=options.kernel)


_LOADED_PLUGINS: set[str] = set()


def _load_plugins(plugins: tuple[str, ...]) -> None:
    from estimators import load_estimator

    for reference in plugins:
        if reference not in _LOADED_PLUGINS:
            load_estimator(reference)
            _LOADED_PLUGINS.add(reference)


def _results(sweep: Sweep, cells: list[Cell], *, backend: str, jobs: int | None, scheduler: str | None,
             plugins: Sequence[str], options: CellOptions = CellOptions()) -> Iterator[dict[str, Any]]:
    if not cells:
        return iter(())
    if backend == "dask":
        return _dask_results(sweep, cells, jobs, scheduler, plugins, options)
    return _joblib_results(sweep, cells, jobs, plugins, options)


def _lost(cell: Cell, reason: str) -> dict[str, Any]:
    return {"cell_id": cell.cell_id, "status": LOST, "error": reason}


def _died(cell: Cell, error: BaseException) -> dict[str, Any]:
    text = " ".join(str(error).split())
    match = re.search(r"exit codes? of the workers? (?:are|is) (\{[^}]*\})", text)
    reason = f"exit code {match.group(1)}" if match else f"{type(error).__name__}: {text[:200]}"
    return {"cell_id": cell.cell_id, "status": "failed",
            "error": f"the worker process died while running this cell ({reason})"}


def _joblib_results(sweep: Sweep, cells: list[Cell], jobs: int | None, plugins: Sequence[str],
                    options: CellOptions = CellOptions()) -> Iterator[dict[str, Any]]:
    """Cells on local worker processes (loky), or in this process when one worker suffices.

    When a worker dies, every unfinished cell of the pool is lost with it; they are run
    again `workers` at a time, and the cells of a group that kills a worker again are run
    one by one, so each cell that kills its worker is identified and stored `failed`.
    """
    workers = min(jobs or os.cpu_count() or 1, len(cells))
    if workers == 1:
        for cell in cells:
            try:
                yield evaluate_in_worker(sweep, cell, plugins, options)
            except WorkerSetupError as error:
                yield _lost(cell, str(error))
                return
        return
    pending, group_size = list(cells), len(cells)
    while pending:
        group, pending = pending[:group_size], pending[group_size:]
        finished: set[str] = set()
        crash = None
        for cell, outcome in _run_group(sweep, group, workers, plugins, options):
            if isinstance(outcome, WorkerSetupError):
                yield _lost(cell, str(outcome))
                return
            if isinstance(outcome, BaseException):
                crash = crash or outcome
                continue
            finished.add(cell.cell_id)
            yield outcome
        unfinished = [cell for cell in group if cell.cell_id not in finished]
        if crash is None:
            continue
        if len(group) == 1:              # alone: this cell kills its worker
            yield _died(group[0], crash)
        elif group_size > workers:       # first crash: go on a few cells at a time
            pending = unfinished + pending
            group_size = workers
        else:                            # a small group crashed: isolate its unfinished cells
            pending = [*unfinished, *pending]
            for _ in range(len(unfinished)):
                cell, pending = pending[0], pending[1:]
                yield from _isolated(sweep, cell, workers, plugins, options)


def _isolated(sweep: Sweep, cell: Cell, workers: int, plugins, options) -> Iterator[dict[str, Any]]:
    for _, outcome in _run_group(sweep, [cell], workers, plugins, options):
        if isinstance(outcome, WorkerSetupError):
            yield _lost(cell, str(outcome))
        elif isinstance(outcome, BaseException):
            yield _died(cell, outcome)
        else:
            yield outcome


def _run_group(sweep: Sweep, group: list[Cell], workers: int, plugins, options):
    """`(cell, result or exception)` for each cell of `group` on the reusable loky pool, as they
    finish; at most 2 x `workers` cells are queued at a time."""
    from concurrent.futures import FIRST_COMPLETED, wait

    from joblib.externals.loky.process_executor import BrokenProcessPool

    executor = worker_pool(workers)

    def submit(cell: Cell):
        return executor.submit(evaluate_in_worker, sweep, cell, tuple(plugins), options)

    queue, running = list(reversed(group)), {}
    try:
        while queue or running:
            broken = None
            while queue and len(running) < 2 * workers:
                try:
                    future = submit(queue[-1])
                except BrokenProcessPool as error:
                    if running:             # a running cell of this group broke the pool
                        broken = error
                        break
                    kill_pool(executor, wait=True)      # broken before this group ran: not a cell's
                    executor = worker_pool(workers)     # fault, a fresh pool
                    future = submit(queue[-1])
                running[future] = queue.pop()
            if broken is None:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    cell = running.pop(future)
                    try:
                        yield cell, future.result()
                    except (BrokenProcessPool, WorkerSetupError) as error:
                        yield cell, error
                if any(isinstance(future.exception(), BrokenProcessPool) for future in finished):
                    broken = BrokenProcessPool("the pool broke")
            if broken is not None:          # the rest fails with the pool; the next group gets a fresh one
                kill_pool(executor, wait=True)
                for future, cell in list(running.items()):   # finished before the break: kept
                    done = future.done() and not future.cancelled() and future.exception() is None
                    yield cell, future.result() if done else BrokenProcessPool("the pool broke while this cell was queued")
                running.clear()
                for cell in reversed(queue):
                    yield cell, BrokenProcessPool("the pool broke before this cell started")
                queue.clear()
    except BaseException:
        kill_pool(executor)     # no orphaned workers after Ctrl-C, SIGTERM or SIGHUP
        raise


def _dask_results(sweep: Sweep, cells: list[Cell], jobs: int | None, scheduler: str | None,
                  plugins: Sequence[str], options: CellOptions = CellOptions()) -> Iterator[dict[str, Any]]:
    try:
        from distributed import Client, KilledWorker, LocalCluster, as_completed
    except ImportError:
        raise SweepError("backend: 'dask' needs dask[distributed] (pip install 'mgbench[dask]')") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs or os.cpu_count() or 1, threads_per_worker=1,
                               dashboard_address=None)
    try:
        client = Client(scheduler or cluster, timeout="10s")
    except (OSError, ValueError, TypeError) as error:
        if cluster is not None:
            cluster.close()
        reason = " ".join(str(error).split())
        raise SweepError(f"scheduler: cannot connect to {scheduler!r} ({type(error).__name__}: {reason})") from None
    futures = []
    where = scheduler or "the local cluster"
    # The client logs its reconnection attempts with tracebacks; a lost scheduler is said in one line instead.
    loggers = [logging.getLogger(name) for name in CLIENT_LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        futures = [client.submit(evaluate_in_worker, sweep, cell, tuple(plugins), options, pure=False)
                   for cell in cells]
        cell_of = {future.key: cell for future, cell in zip(futures, cells)}
        suspects = []
        for future in as_completed(futures):
            if future.status == "error" and isinstance(future.exception(), KilledWorker):
                suspects.append(cell_of[future.key])    # maybe only queued beside the cell that killed
                continue
            result = _dask_result(future, cell_of[future.key], where)
            yield result
            if result["status"] == LOST:
                return          # the cluster is gone or broken: the rest stays pending
        for cell in suspects:   # each alone on the cluster: only a cell that kills again is failed
            futures = [client.submit(evaluate_in_worker, sweep, cell, tuple(plugins), options, pure=False)]
            result = _dask_result(futures[0], cell, where)
            yield result
            if result["status"] == LOST:
                return
    finally:
        _close_quietly(client, futures, cluster)
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _close_quietly(client, futures, cluster) -> None:
    """Cancel and close; a lost scheduler must not turn the clean-up into a traceback."""
    for step in (lambda: client.cancel(futures), lambda: client.close(timeout=5),
                 lambda: cluster.close() if cluster is not None else None):
        try:
            step()
        except Exception:  # noqa: BLE001 - best effort: the cluster may already be gone
            pass


def _dask_result(future, cell: Cell, where: str) -> dict[str, Any]:
    """The future's result; a `failed` record when the cell killed its workers (`KilledWorker`);
    a `lost` record (not stored) when the infrastructure failed (scheduler lost, plug-in)."""
    from concurrent.futures import CancelledError

    from distributed import KilledWorker

    try:
        return future.result()
    except KilledWorker as error:
        return _died(cell, error)
    except WorkerSetupError as error:
        return _lost(cell, f"WorkerSetupError: {error}")
    except (CancelledError, OSError) as error:
        reason = " ".join(str(error).split()) or "no message"
        return _lost(cell, f"the connection to the Dask scheduler at {where} ({type(error).__name__}: {reason[:200]})")
    except Exception as error:  # noqa: BLE001 - anything else is the cluster's fault, not the cell's
        reason = " ".join(str(error).split()) or "no message"
        return _lost(cell, f"{type(error).__name__}: {reason[:300]}")
