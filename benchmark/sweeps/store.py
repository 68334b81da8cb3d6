"""The durable results of a sweep: an SQLite store and its tidy CSV.

`<out>/<name>/results.sqlite` holds two tables:
- `cells`: one row per finished cell (`cell_id` primary key, `key` JSON of the cell's
  record, `status`, one column per metric, `error`, `seconds`, `finished_at`);
- `provenance`: one row per run of the sweep (its canonical TOML text and hash, the file
  it came from and that file's text, package version, git commit when known, numpy and
  Python versions, host, backend, start and end times, cells computed, outcome).

Only the parent process writes, and it commits after every cell, so a kill at any moment
loses at most the cells in flight. One run at a time holds `<out>/<name>/.lock` (an
advisory `flock`, released by the kernel when the process dies): a second run of the same
name is refused at once instead of computing the same cells or mixing two sweeps.
Each cell also records `code_hash`, the hash of its estimator's source files and of the
record version (`cells.cell_code_hash`), so a result of an edited estimator, or one whose
numbers meant something else, is never reused silently. The base of the sweep (seed, repetitions,
target, meta-parameter, problem: `Sweep.base_hash`) must match; a grid or problem seeds
that only grow add cells to the stored ones. `<out>/<name>/results.csv` (one row per cell, the
columns of `CSV_COLUMNS` first, then any further axis and metric) is rewritten after every
run; `load_results` reads either file into a pandas DataFrame.
"""
from __future__ import annotations

import datetime as _datetime
import json
import math
import os
import platform
import sqlite3
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from benchmark.sweeps.columns import STORED_METRICS, TEXT_METRICS
from benchmark.sweeps.provenance import git_commit, package_version
from benchmark.sweeps.records import Cell, Sweep
from benchmark.families.schema import SweepError

DATABASE = "results.sqlite"
CSV = "results.csv"
SWEEP_FILE = "sweep.toml"
LOCK_FILE = ".lock"

KEY_COLUMNS = ("problem", "target", "meta_parameter", "estimator", "split", "steps", "lr", "batch", "N",
               "mdp_seed")
CSV_COLUMNS = ("cell_id", *KEY_COLUMNS, "repetitions", "status", "bias", "bias_lo", "bias_hi", "rel_bias",
               "variance", "variance_lo", "variance_hi", "mse", "cosine", "corr", "std_sum", "sigma_in",
               "target_norm", "seconds")
RECORD_FIELDS = ("cell_id", "status", "error", "seconds", "repetitions")
INTEGER_COLUMNS = ("steps", "batch", "N", "mdp_seed", "repetitions", "count")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS cells (
    cell_id TEXT PRIMARY KEY,
    position INTEGER NOT NULL,
    key TEXT NOT NULL,
    repetitions INTEGER NOT NULL,
    status TEXT NOT NULL,
    {", ".join(f"{name} REAL" for name in STORED_METRICS)},
    {", ".join(f"{name} TEXT" for name in TEXT_METRICS)},
    extra TEXT,
    error TEXT,
    seconds REAL,
    finished_at TEXT NOT NULL,
    code_hash TEXT
);
CREATE TABLE IF NOT EXISTS provenance (
    run INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep_name TEXT NOT NULL,
    sweep_hash TEXT NOT NULL,
    sweep_toml TEXT NOT NULL,
    sweep_source TEXT,
    sweep_file_text TEXT,
    package_version TEXT,
    git_commit TEXT,
    numpy_version TEXT,
    python_version TEXT,
    host TEXT,
    backend TEXT,
    jobs INTEGER,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    cells_computed INTEGER,
    outcome TEXT,
    base_hash TEXT
);
"""
# Columns added after the first release: (table, column, type), added to older stores on open
# (and so is every metric of `STORED_METRICS` a store lacks, e.g. the tail diagnostics).
_ADDED_COLUMNS = (("cells", "code_hash", "TEXT"), ("provenance", "base_hash", "TEXT"))


class StoreError(RuntimeError):
    """The store cannot be written (disk full, I/O error): one line naming the file and SQLite's reason."""


class ResultStore:
    """The SQLite store of one sweep, `<out>/<name>/results.sqlite` (parent process only)."""

    def __init__(self, directory: Path, connection: sqlite3.Connection, sweep: Sweep, lock=None):
        self.directory = directory
        self.sweep = sweep
        self._connection = connection
        self._lock = lock
        self._run: int | None = None

    @classmethod
    def open(cls, out_dir: str | Path, sweep: Sweep, *, overwrite: bool = False) -> "ResultStore":
        """Open (or create) the store of `sweep` under `out_dir`.

        Raises:
          SweepError: the directory holds results of a different sweep of the same name
            (different `Sweep.sweep_hash`) and `overwrite` is false. With `overwrite` any
            earlier results of that name are deleted first.
        """
        directory = Path(out_dir) / sweep.name
        directory.mkdir(parents=True, exist_ok=True)
        lock = _acquire_lock(directory, sweep)
        try:
            if overwrite:
                for name in (DATABASE, f"{DATABASE}-journal", CSV, SWEEP_FILE):
                    (directory / name).unlink(missing_ok=True)
            connection = _connect(directory / DATABASE)
            store = cls(directory, connection, sweep, lock)
        except BaseException:
            _release_lock(lock)
            raise
        store._refuse_other_sweep()
        (directory / SWEEP_FILE).write_text(sweep.to_toml(), encoding="utf-8")
        return store

    def _refuse_other_sweep(self) -> None:
        row = self._connection.execute("SELECT sweep_hash, base_hash FROM provenance "
                                       "ORDER BY run DESC LIMIT 1").fetchone()
        if row is None:
            if self._connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]:
                self.close()
                raise SweepError(f"name: {self.directory} holds results without provenance; "
                                 f"pass --overwrite to replace them")
            return
        sweep_hash, base_hash = row
        if sweep_hash == self.sweep.sweep_hash:
            return
        if base_hash == self.sweep.base_hash:
            wanted = {cell.cell_id for cell in self.sweep.cells()}
            dropped = self.finished_cell_ids() - wanted
            if not dropped:
                return    # the same sweep with a grid (or problem seeds) that only grew: new cells are added
            reason = f"{len(dropped)} stored cells are not in this sweep (a grid may grow, not shrink)"
        else:
            reason = "its seed, repetitions, target, meta-parameter or problem differ"
        self.close()
        raise SweepError(f"name: {self.directory} already holds a different sweep named {self.sweep.name!r} "
                         f"({reason}; hash {sweep_hash}, this one {self.sweep.sweep_hash}); pass --overwrite "
                         f"to replace its results, or rename the sweep")
    # ------------------------------------------------------------------ runs
    def _write(self, statement: str, values: tuple) -> sqlite3.Cursor:
        """Execute and commit one write; an SQLite failure becomes a `StoreError` naming the file."""
        try:
            cursor = self._connection.execute(statement, values)
            self._connection.commit()
        except sqlite3.Error as error:
            try:
                self._connection.rollback()
            except sqlite3.Error:
                pass
            raise StoreError(f"store: cannot write {self.directory / DATABASE} ({error}); the cells stored so far "
                             f"are kept") from None
        return cursor

    def start_run(self, *, backend: str, jobs: int | None) -> None:
        """Record the provenance of a new run (committed at once)."""
        cursor = self._write(
            "INSERT INTO provenance (sweep_name, sweep_hash, base_hash, sweep_toml, sweep_source, sweep_file_text, "
            "package_version, git_commit, numpy_version, python_version, host, backend, jobs, started_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.sweep.name, self.sweep.sweep_hash, self.sweep.base_hash, self.sweep.to_toml(), self.sweep.source,
             self.sweep.text, package_version(), git_commit(), np.__version__, platform.python_version(),
             platform.node(), backend, jobs, _now()))
        self._run = cursor.lastrowid

    def finish_run(self, *, cells_computed: int, outcome: str) -> None:
        """Close the provenance record of the current run."""
        if self._run is None:
            return
        self._write("UPDATE provenance SET finished_at = ?, cells_computed = ?, outcome = ? WHERE run = ?",
                    (_now(), cells_computed, outcome, self._run))

    # ------------------------------------------------------------------ cells
    def finished_cell_ids(self, *, include_failed: bool = True) -> set[str]:
        """The ids of the stored cells (`ok` ones only unless `include_failed`)."""
        query = "SELECT cell_id FROM cells" + ("" if include_failed else " WHERE status = 'ok'")
        return {row[0] for row in self._connection.execute(query)}

    def code_hashes(self) -> dict[str, str | None]:
        """`{cell_id: code_hash}` of every stored cell (None for cells stored before hashes)."""
        return dict(self._connection.execute("SELECT cell_id, code_hash FROM cells"))

    def record(self, cell: Cell, result: dict[str, Any], *, code_hash: str | None = None) -> None:
        """Store one evaluated cell and commit (a cell already stored is replaced)."""
        metrics = [_real(result.get(name)) for name in STORED_METRICS]
        texts = [result.get(name) for name in TEXT_METRICS]
        extra = {name: value for name, value in result.items()
                 if name not in (*STORED_METRICS, *TEXT_METRICS, *RECORD_FIELDS)}
        columns = ("cell_id", "position", "key", "repetitions", "status", *STORED_METRICS, *TEXT_METRICS,
                   "extra", "error", "seconds", "finished_at", "code_hash")
        values = (cell.cell_id, cell.index, json.dumps(cell.key), int(result.get("repetitions", self.sweep.repetitions)),
                  result["status"], *metrics, *texts, json.dumps(extra, default=_jsonable) if extra else None,
                  result.get("error"), _real(result.get("seconds")), _now(), code_hash)
        self._write(f"INSERT OR REPLACE INTO cells ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    values)

    def write_csv(self) -> Path:
        """Write `<out>/<name>/results.csv` from the store; returns its path."""
        return write_csv(self.directory)

    def write_results(self):
        """Write `results.csv` and return `(its path, the typed results frame)`, read once."""
        return write_results(self.directory)

    def close(self) -> None:
        """Close the database connection and release the lock."""
        self._connection.close()
        _release_lock(self._lock)
        self._lock = None


def _connect(database: Path) -> sqlite3.Connection:
    """Open (or create) a store; a file that is not one gives a one-line `SweepError`."""
    try:
        connection = sqlite3.connect(database, timeout=60)
        connection.execute("PRAGMA synchronous = FULL")
        connection.executescript(_SCHEMA)
        for table, column, kind in (*_ADDED_COLUMNS, *(("cells", name, "REAL") for name in STORED_METRICS)):
            present = {row[1] for row in connection.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        connection.commit()
    except sqlite3.DatabaseError as error:
        raise SweepError(f"store: {database} is not a readable results store ({error}); move it away, "
                         f"or pass --overwrite to replace it") from None
    return connection


def _acquire_lock(directory: Path, sweep: Sweep):
    """Hold `<directory>/.lock` (exclusive `flock`, not blocking) or refuse with one line.

    The lock file names the holder (pid, sweep hash); the kernel releases the lock when the
    holding process ends, however it ends. Without `fcntl` (Windows) there is no lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    path = directory / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise SweepError(f"name: {directory} is in use by another run ({holder}); wait for it to end, then run "
                         f"again to compute what it left") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {platform.node()}, sweep {sweep.name!r} hash {sweep.sweep_hash}")
    handle.flush()
    return handle


def _release_lock(handle) -> None:
    if handle is not None and not handle.closed:
        handle.close()      # closing the descriptor releases the flock


# ----------------------------------------------------------------------------- tables

def write_csv(sweep_dir: str | Path) -> Path:
    """Write `results.csv` next to `results.sqlite` in a sweep directory; returns its path."""
    return write_results(sweep_dir)[0]


def write_results(sweep_dir: str | Path):
    """Write `results.csv` next to `results.sqlite`; returns `(its path, the typed results
    frame)`, whose column roles are those of `benchmark.sweeps.columns`."""
    directory = Path(sweep_dir)
    frame = _frame_from_database(directory / DATABASE)
    path = directory / CSV
    temporary = path.with_suffix(".csv.tmp")
    try:
        frame.to_csv(temporary, index=False)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path, frame


def load_results(path: str | Path):
    """The results of a sweep as a pandas DataFrame, one row per cell.

    Args:
      path: a sweep directory (`<out>/<name>`), its `results.sqlite` or its `results.csv`.
    """
    import pandas as pd

    path = Path(path)
    if path.is_dir():
        database, csv = path / DATABASE, path / CSV
        path = database if database.exists() else csv
    if not path.exists():
        raise FileNotFoundError(f"results: no results at {str(path)!r}")
    if path.suffix == ".csv":
        return _typed(pd.read_csv(path))
    return _frame_from_database(path)


def _frame_from_database(database: Path):
    import pandas as pd

    if not database.exists():
        raise FileNotFoundError(f"results: no results at {str(database)!r}")
    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=60)
    try:
        connection.row_factory = sqlite3.Row
        rows = connection.execute("SELECT * FROM cells ORDER BY position, cell_id").fetchall()
        name = connection.execute("SELECT sweep_name FROM provenance ORDER BY run LIMIT 1").fetchone()
    except sqlite3.DatabaseError as error:
        raise SweepError(f"store: {database} is not a readable results store ({error})") from None
    finally:
        connection.close()
    keys = [json.loads(row["key"]) for row in rows]
    extras = [json.loads(row["extra"]) if row["extra"] else {} for row in rows]
    records = [{"cell_id": row["cell_id"], **key, **{column: row[column] for column in _STORED}, **extra}
               for row, key, extra in zip(rows, keys, extras)]
    frame = pd.DataFrame.from_records(records, columns=_column_order(keys, extras))
    frame["sweep"] = name[0] if name else None
    return _typed(frame)


_STORED = ("repetitions", "status", *STORED_METRICS, *TEXT_METRICS, "seconds", "error", "finished_at")


def _column_order(keys: list[dict[str, Any]], extras: list[dict[str, Any]]) -> list[str]:
    """`CSV_COLUMNS` first, then further axes, further metrics, the error and the time."""
    further_axes = _first_seen(name for key in keys for name in key if name not in CSV_COLUMNS)
    further_metrics = [name for name in (*STORED_METRICS, *TEXT_METRICS) if name not in CSV_COLUMNS]
    further_metrics += _first_seen(name for extra in extras for name in extra if name not in further_metrics)
    return [*CSV_COLUMNS, *further_axes, *further_metrics, "error", "finished_at"]


def _first_seen(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _typed(frame):
    """Required columns present (empty when absent), integers as nullable Int64, metrics float."""
    import pandas as pd

    for name in CSV_COLUMNS:
        if name not in frame:
            frame[name] = pd.NA
    for name in frame.columns:
        if name in INTEGER_COLUMNS:
            frame[name] = pd.to_numeric(frame[name]).astype("Int64")
        elif name in STORED_METRICS or name in ("lr", "seconds"):
            frame[name] = pd.to_numeric(frame[name]).astype(float)
        elif frame[name].dtype == object and _all_python_integers(frame[name]):
            frame[name] = frame[name].astype("Int64")
        elif frame[name].dtype == object:
            frame[name] = frame[name].where(frame[name].notna(), np.nan)  # None and NaN alike
    return frame


def _all_python_integers(series) -> bool:
    values = series.dropna()
    return not values.empty and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)


# ----------------------------------------------------------------------------- provenance helpers

def _now() -> str:
    return _datetime.datetime.now(_datetime.timezone.utc).isoformat(timespec="seconds")


def _real(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)
