"""The durable results of a sweep: an SQLite store and its tidy CSV.

`<out>/<name>/results.sqlite` holds two tables:
- `cells`: one row per finished cell (`cell_id` primary key, `key` JSON of the cell's
  record, `status`, one column per metric, `error`, `seconds`, `finished_at`);
- `provenance`: one row per run of the sweep (its canonical TOML text and hash, the file
  it came from and that file's text, package version, git commit when known, numpy and
  Python versions, host, backend, start and end times, cells computed, outcome).

Only the parent process writes, and it commits after every cell, so a kill at any moment
loses at most the cells in flight. `<out>/<name>/results.csv` (one row per cell, the
columns of `CSV_COLUMNS` first, then any further axis and metric) is rewritten after every
run; `load_results` reads either file into a pandas DataFrame.
"""
from __future__ import annotations

import datetime as _datetime
import json
import math
import os
import platform
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from benchmark.sweeps.columns import STORED_METRICS, TEXT_METRICS
from benchmark.sweeps.records import Cell, Sweep
from benchmark.sweeps.vocabulary import SweepError

DATABASE = "results.sqlite"
CSV = "results.csv"
SWEEP_FILE = "sweep.toml"

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
    finished_at TEXT NOT NULL
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
    outcome TEXT
);
"""


class ResultStore:
    """The SQLite store of one sweep, `<out>/<name>/results.sqlite` (parent process only)."""

    def __init__(self, directory: Path, connection: sqlite3.Connection, sweep: Sweep):
        self.directory = directory
        self.sweep = sweep
        self._connection = connection
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
        if overwrite and directory.exists():
            for name in (DATABASE, f"{DATABASE}-journal", CSV, SWEEP_FILE):
                (directory / name).unlink(missing_ok=True)
        directory.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(directory / DATABASE, timeout=60)
        connection.execute("PRAGMA synchronous = FULL")
        connection.executescript(_SCHEMA)
        store = cls(directory, connection, sweep)
        store._refuse_other_sweep()
        (directory / SWEEP_FILE).write_text(sweep.to_toml(), encoding="utf-8")
        return store

    def _refuse_other_sweep(self) -> None:
        row = self._connection.execute("SELECT sweep_hash FROM provenance ORDER BY run LIMIT 1").fetchone()
        if row is None:
            if self._connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]:
                self.close()
                raise SweepError(f"name: {self.directory} holds results without provenance; "
                                 f"pass --overwrite to replace them")
            return
        if row[0] != self.sweep.sweep_hash:
            self.close()
            raise SweepError(f"name: {self.directory} already holds a different sweep named {self.sweep.name!r} "
                             f"(hash {row[0]}, this one {self.sweep.sweep_hash}); pass --overwrite to replace "
                             f"its results, or rename the sweep")

    # ------------------------------------------------------------------ runs
    def start_run(self, *, backend: str, jobs: int | None) -> None:
        """Record the provenance of a new run (committed at once)."""
        cursor = self._connection.execute(
            "INSERT INTO provenance (sweep_name, sweep_hash, sweep_toml, sweep_source, sweep_file_text, "
            "package_version, git_commit, numpy_version, python_version, host, backend, jobs, started_at) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (self.sweep.name, self.sweep.sweep_hash, self.sweep.to_toml(), self.sweep.source, self.sweep.text,
             _package_version(), _git_commit(), np.__version__, platform.python_version(), platform.node(),
             backend, jobs, _now()))
        self._connection.commit()
        self._run = cursor.lastrowid

    def finish_run(self, *, cells_computed: int, outcome: str) -> None:
        """Close the provenance record of the current run."""
        if self._run is None:
            return
        self._connection.execute("UPDATE provenance SET finished_at = ?, cells_computed = ?, outcome = ? "
                                 "WHERE run = ?", (_now(), cells_computed, outcome, self._run))
        self._connection.commit()

    # ------------------------------------------------------------------ cells
    def finished_cell_ids(self, *, include_failed: bool = True) -> set[str]:
        """The ids of the stored cells (`ok` ones only unless `include_failed`)."""
        query = "SELECT cell_id FROM cells" + ("" if include_failed else " WHERE status = 'ok'")
        return {row[0] for row in self._connection.execute(query)}

    def record(self, cell: Cell, result: dict[str, Any]) -> None:
        """Store one evaluated cell and commit (a cell already stored is replaced)."""
        metrics = [_real(result.get(name)) for name in STORED_METRICS]
        texts = [result.get(name) for name in TEXT_METRICS]
        extra = {name: value for name, value in result.items()
                 if name not in (*STORED_METRICS, *TEXT_METRICS, *RECORD_FIELDS)}
        columns = ("cell_id", "position", "key", "repetitions", "status", *STORED_METRICS, *TEXT_METRICS,
                   "extra", "error", "seconds", "finished_at")
        values = (cell.cell_id, cell.index, json.dumps(cell.key), int(result.get("repetitions", self.sweep.repetitions)),
                  result["status"], *metrics, *texts, json.dumps(extra, default=_jsonable) if extra else None,
                  result.get("error"), _real(result.get("seconds")), _now())
        self._connection.execute(f"INSERT OR REPLACE INTO cells ({', '.join(columns)}) "
                                 f"VALUES ({', '.join('?' * len(columns))})", values)
        self._connection.commit()

    def write_csv(self) -> Path:
        """Write `<out>/<name>/results.csv` from the store; returns its path."""
        return write_csv(self.directory)

    def write_results(self):
        """Write `results.csv` and return `(its path, the results frame)` (read once)."""
        return write_results(self.directory)

    def close(self) -> None:
        """Close the database connection."""
        self._connection.close()


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
    frame.to_csv(temporary, index=False)
    os.replace(temporary, path)
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


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mgbench")
    except PackageNotFoundError:
        return "unknown"


def _git_commit() -> str | None:
    """`HEAD` of the repository the package runs from (`+dirty` with local changes), or None."""
    root = Path(__file__).resolve().parents[2]
    if not (root / ".git").exists() or shutil.which("git") is None:
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "")
