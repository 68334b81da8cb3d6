"""Simulations: the data of a figure that is not a sweep (e.g. training curves), run in
independent units on worker processes and stored durably, like sweep cells.

A `Simulation` (declared in `benchmark.studies.spec`) lists its units as `(module-level
function, keyword arguments)`; each unit's numbers are a function of its arguments alone (it
seeds its own generator), so units run in any order on any number of workers and give the
same table. Each finished unit is committed to `<results>/simulations/<name>.sqlite`
(`<name>-quick` for quick runs) with a key: the SHA-256 of its arguments and of the source
files of the modules its numbers depend on (`Simulation.sources`). `run_simulation` reuses a
stored unit only when its key matches, so an edit of the simulation's code or settings
recomputes it and a stale curve is never drawn; an interrupted run keeps its finished units
and the next run resumes. The table is also written as CSV next to the store.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from benchmark.studies.spec import Simulation, Unit
from estimators.sources import code_hash

# A unit's key covers its declared `sources` and the modules of these packages they import.
SOURCE_ROOTS = ("mdps", "estimators")

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

SIMULATIONS_DIRECTORY = "simulations"


@dataclass
class SimulationRun:
    """The outcome of `run_simulation`: the table, and how much of it was computed now."""

    table: "pd.DataFrame"
    settings: dict[str, Any]
    computed: int          # units computed in this call
    stored: int            # units read from the store
    seconds: float         # wall seconds of this call
    unit_seconds: float    # the units' own wall seconds (as stored, also for reused ones)
    path: Path             # the store
    csv: Path              # the table as CSV, next to the store


def unit_key(function: Callable, kwargs: Mapping[str, Any], sources: str) -> str:
    """SHA-256 of the unit's function name, its arguments (as canonical JSON) and the source digest."""
    text = json.dumps({"function": f"{function.__module__}.{function.__qualname__}", "kwargs": kwargs,
                       "sources": sources}, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def run_unit(function: Callable, kwargs: Mapping[str, Any]) -> tuple[str, float]:
    """Run one unit in this process with one BLAS thread; (its rows as JSON, wall seconds)."""
    from benchmark.sweeps.cells import limit_blas_threads

    limit_blas_threads()   # small solves, where BLAS threads only cost (as for sweep cells)
    start = time.perf_counter()
    frame = function(**kwargs)
    return frame_to_json(frame), time.perf_counter() - start


def frame_to_json(frame: "pd.DataFrame") -> str:
    """The frame's columns as JSON lists of Python scalars: floats written by `repr`, so they
    read back bit-identical (`frame_from_json`)."""
    return json.dumps({"columns": list(map(str, frame.columns)),
                       "data": [frame[column].tolist() for column in frame.columns]})


def frame_from_json(text: str) -> "pd.DataFrame":
    """The inverse of `frame_to_json`."""
    import pandas as pd

    parsed = json.loads(text)
    return pd.DataFrame(dict(zip(parsed["columns"], parsed["data"])), columns=parsed["columns"])


def _open_store(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, timeout=60)
    connection.execute("CREATE TABLE IF NOT EXISTS units (name TEXT PRIMARY KEY, key TEXT NOT NULL, "
                       "seconds REAL NOT NULL, rows TEXT NOT NULL, created REAL NOT NULL)")
    return connection


def run_simulation(simulation: Simulation, *, quick: bool, results_dir: str | Path, jobs: int | None = None,
                   say: Callable[[str], None] = lambda message: None) -> SimulationRun:
    """The simulation's table: stored units whose key matches are read, the others run on
    `jobs` worker processes (default: all cores; 1: in this process), each committed as it finishes.

    Returns:
      `SimulationRun` (table = the units' rows concatenated in `simulation.units` order).
    """
    import pandas as pd

    start = time.perf_counter()
    units = dict(simulation.units(quick))
    sources = code_hash(*simulation.sources, roots=SOURCE_ROOTS)
    keys = {name: unit_key(function, kwargs, sources) for name, (function, kwargs) in units.items()}
    path = Path(results_dir) / SIMULATIONS_DIRECTORY / f"{simulation.name}{'-quick' if quick else ''}.sqlite"
    rows: dict[str, str] = {}
    seconds: dict[str, float] = {}
    expected = dict(simulation.expected_seconds)
    with closing(_open_store(path)) as store:
        for name, key, unit_seconds, text in store.execute("SELECT name, key, seconds, rows FROM units"):
            if keys.get(name) == key:
                rows[name], seconds[name] = text, unit_seconds
            else:
                expected[name] = unit_seconds        # an outdated unit's time: still the best guess
        # the longest first, so the workers finish together (a schedule only: the numbers are the units')
        missing = sorted((name for name in units if name not in rows), key=lambda name: -expected.get(name, 0.0))
        stored = len(units) - len(missing)
        if missing:
            say(f"figures: simulating {simulation.name}: {len(missing)} of {len(units)} units"
                + (f" ({stored} stored)" if stored else ""))
            workers = min(len(missing), jobs or os.cpu_count() or 1)
            for name, (text, unit_seconds) in _outcomes(units, missing, workers):
                with store:
                    store.execute("INSERT OR REPLACE INTO units VALUES (?, ?, ?, ?, ?)",
                                  (name, keys[name], unit_seconds, text, time.time()))
                rows[name], seconds[name] = text, unit_seconds
    table = pd.concat([frame_from_json(rows[name]) for name in units], ignore_index=True)
    csv = path.with_suffix(".csv")
    table.to_csv(csv, index=False)
    return SimulationRun(table, dict(simulation.settings(quick)), len(missing), stored,
                         time.perf_counter() - start, float(sum(seconds.values())), path, csv)


def _outcomes(units: Mapping[str, Unit], names: list[str], workers: int):
    """`(name, run_unit(...))` for each of `names`, in this process (one worker) or on the
    reusable loky pool the sweeps use (same initializer, so the same pool), as they finish."""
    if workers == 1:
        yield from ((name, run_unit(*units[name])) for name in names)
        return
    from concurrent.futures import as_completed

    from benchmark.sweeps.pool import kill_pool, worker_pool

    executor = worker_pool(workers)      # the sweeps' pool, reused
    futures = {executor.submit(run_unit, *units[name]): name for name in names}
    try:
        for future in as_completed(futures):
            yield futures[future], future.result()
    except BaseException:      # Ctrl-C, SIGTERM, a failing unit: no orphaned workers; stored units stay
        kill_pool(executor)
        raise
