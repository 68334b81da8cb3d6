"""Evaluate one cell of a sweep: build its problem and target, stream estimates into statistics.

Randomness (docs/architecture.md, "Seeds"): the problem instance comes from
the problem seed `mdp_seed`; every sampled quantity of a cell comes from
`SeedSequence(entropy=sweep.seed, spawn_key=(cell hash, stream, index))` with the streams

  ESTIMATES  block b of repetitions (index b)      the estimator's generator
  BOOTSTRAP  the bootstrap of the statistics

(σ_in, shared by every cell of a problem and estimator, is keyed by those instead.)

The R repetitions are drawn in blocks of a size fixed by the cell alone (`block_size`), one
estimator call per block, each block with its own generator, and each block is one batch
of the statistics. So a cell's numbers depend neither on the worker that runs it, nor on
the number of workers, nor on the order in which cells run.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from benchmark.families.family import Target, stable_hash
from benchmark.families.tabular import SIGMA_IN_STREAM
from benchmark.sweeps.records import Cell, Sweep
from benchmark.sweeps.vocabulary import BLOCK_REPETITIONS
from estimators import get_estimator
from estimators.problem import Problem

ESTIMATES, BOOTSTRAP, SIGMA_IN = 0, 1, SIGMA_IN_STREAM
# Bootstrap units per block: a block's repetitions are iid, so splitting it keeps the units
# exchangeable, and a short cell (a --quick one has 4 blocks) still gets 32 units, not 4.
UNITS_PER_BLOCK = 8
MEMORY_BUDGET_BYTES = 512 * 2**20   # per estimator call; cells must stay well under 2 GB
N_BOOTSTRAP = 1000
# What a stored cell's numbers mean: a cell stored under another version is computed again
# (`cell_code_hash`). 2: the bias against a target estimated with error accounts for that
# error (`benchmark.analysis.statistics.with_target_error`); 3: so does its mse, and `corr`
# counts an estimate zero up to rounding as constant (`statistics.ROUNDING_FLOOR`); 4: studentized
# (bootstrap-t) intervals of variance, std_sum and mse, +∞ upper limits where one estimate carries
# half the variance, and the tail diagnostics kurtosis, tail_share, tail_index, trimmed_variance
# (docs/methods.md).
RECORD_VERSION = 4


# ----------------------------------------------------------------------------- seeds

def cell_generator(sweep: Sweep, cell: Cell, stream: int, index: int = 0) -> np.random.Generator:
    """The generator of one stream of a cell: `SeedSequence(sweep.seed, spawn_key=(cell, stream, index))`."""
    return np.random.default_rng(np.random.SeedSequence(entropy=sweep.seed,
                                                        spawn_key=(cell.seed_key, stream, index)))


def block_size(sweep: Sweep, cell: Cell) -> int:
    """Repetitions per estimator call: `BLOCK_REPETITIONS`, halved until one call of this
    cell is estimated to fit `MEMORY_BUDGET_BYTES` (a function of the cell only)."""
    size = BLOCK_REPETITIONS
    while size > 1 and size * bytes_per_repetition(sweep, cell) > MEMORY_BUDGET_BYTES:
        size //= 2
    return size


def bytes_per_repetition(sweep: Sweep, cell: Cell) -> int:
    """Rough peak memory of one repetition in an estimator call, with a safety factor of 2
    (`Family.bytes_per_repetition` of the sweep's problem family)."""
    return sweep.problem.family.bytes_per_repetition(sweep.problem.values, _all_parameters(sweep, cell), cell)


def blocks(sweep: Sweep, cell: Cell) -> list[int]:
    """The sizes of the blocks of repetitions of a cell (all `block_size` but the last)."""
    size = block_size(sweep, cell)
    full, rest = divmod(sweep.repetitions, size)
    return [size] * full + ([rest] if rest else [])


# ----------------------------------------------------------------------------- problems and targets

def build_problem(sweep: Sweep, cell: Cell, *, kernel: str = "compiled") -> Problem:
    """The problem of a cell (`Family.build_problem` of the sweep's problem family), sampled with `kernel`."""
    return sweep.problem.family.build_problem(sweep.problem.values, cell, sweep.meta_parameter, kernel)


def compute_target(sweep: Sweep, cell: Cell, problem: Problem) -> Target:
    """The cell's target (`Family.target`: which one is `sweep.target`)."""
    return sweep.problem.family.target(sweep, cell, problem, _all_parameters(sweep, cell))


def inner_gradient_sigma(sweep: Sweep, cell: Cell, problem: Problem) -> float:
    """σ_in of the compositional bound (`Family.sigma_in`; nan where the bound does not apply)."""
    spec = get_estimator(cell.estimator, sweep.problem.kind)
    return sweep.problem.family.sigma_in(sweep, cell, problem, spec, _all_parameters(sweep, cell))


def _all_parameters(sweep: Sweep, cell: Cell) -> dict[str, Any]:
    """The estimator's registered defaults overridden by the cell's parameters."""
    return {**get_estimator(cell.estimator, sweep.problem.kind).parameters, **cell.parameters}


# ----------------------------------------------------------------------------- evaluation

def cell_code_hash(estimator_hash: str) -> str:
    """The code hash stored with a cell: its estimator's source hash (`EstimatorSpec.source_hash`)
    and `RECORD_VERSION`; a stored cell whose hash differs is computed again."""
    return stable_hash(f"{estimator_hash}:{RECORD_VERSION}")[:16]


def evaluate_cell(sweep: Sweep, cell: Cell, *, time_limit: float | None = None,
                  kernel: str = "compiled") -> dict[str, Any]:
    """Draw the cell's R estimates block by block and summarise them against the target.

    Args:
      sweep, cell: what to evaluate.
      time_limit: seconds; checked after the target and after every block of repetitions,
        so a cell stops at most one estimator call after the limit (None: no limit).
      kernel: `compiled` or `numpy`, how tabular and IPD batches are computed (`MetaProblem.kernel`,
        `LolaProblem.kernel`).
    Returns:
      dict with `cell_id`, `status` (`ok` or `failed`), `error` (the reason, or None),
      `seconds`, `repetitions`, the metrics of `benchmark.analysis.statistics.CellStatistics.summary`,
      `sigma_in`, `target_method` and `target_se`. A cell is `failed`, with the reason and
      no metrics, when its estimator raises or returns complex, mis-shaped or non-finite
      values, when a statistic overflows (estimates too large to square), or when it
      exceeds `time_limit`: a stored `ok` cell has finite metrics.
    """
    from benchmark.analysis.statistics import CellStatistics, with_target_error

    limit_blas_threads()
    start = time.perf_counter()
    record: dict[str, Any] = {"cell_id": cell.cell_id, "status": "ok", "error": None,
                              "repetitions": sweep.repetitions}
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore"):
            problem = build_problem(sweep, cell, kernel=kernel)
            target = compute_target(sweep, cell, problem)
            record.update(target_method=target.method, target_se=target.standard_error,
                          target_norm=float(np.linalg.norm(target.value)))
            if not np.all(np.isfinite(target.value)):
                raise _CellFailure("the target is not finite")
            statistics = CellStatistics(target.value, corr_groups=sweep.problem.family.corr_groups(target.value))
            deadline = None if time_limit is None else start + time_limit
            _stream_estimates(sweep, cell, problem, target, statistics, deadline)
            summary = with_target_error(statistics.summary(cell_generator(sweep, cell, BOOTSTRAP),
                                                           n_bootstrap=N_BOOTSTRAP), target.standard_error)
            _refuse_overflow(summary)
            record.update(summary)
            record["sigma_in"] = inner_gradient_sigma(sweep, cell, problem)
    except _CellFailure as failure:
        record.update(status="failed", error=str(failure))
    except Exception as error:  # noqa: BLE001 - a failing estimator must not stop the sweep
        record.update(status="failed", error=f"{type(error).__name__}: {error}")
    record["seconds"] = time.perf_counter() - start
    return record


_BLAS_LIMIT: list = []   # the threadpoolctl limiter, once per process


def limit_blas_threads() -> None:
    """Run BLAS/LAPACK on one thread in this process from now on (once; a no-op without threadpoolctl).

    A cell's linear algebra is small (S × S solves with at most a few hundred right-hand
    sides, `(B, U) @ (U, d)` bootstrap products), where OpenBLAS's worker threads cost far
    more than they save: measured on the 2-core machine under load, one `lu_solve` of a
    20 × 20 factor with 64 right-hand sides took 5-6 ms of CPU with OpenBLAS's default 2
    threads against 0.015 ms with one (docs/performance.md). Sweep workers run one cell each
    per core, so one BLAS thread per process is also what keeps them from oversubscribing.
    The numbers do not change (the same LAPACK routines; checked to 1e-12 relative in
    docs/performance.md).
    """
    if _BLAS_LIMIT:
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        _BLAS_LIMIT.append(None)
        return
    _BLAS_LIMIT.append(threadpool_limits(limits=1, user_api="blas"))


class _CellFailure(Exception):
    """The cell cannot produce valid numbers (stored as `failed`, the sweep goes on)."""


# Statistics that must be finite in an `ok` cell (the others may be nan by definition,
# e.g. the relative bias of a zero target, or a correlation of constant estimates).
FINITE_METRICS = ("bias2", "bias", "variance", "mse", "target_norm")


def _refuse_overflow(summary: dict[str, Any]) -> None:
    """Refuse infinite or (for `FINITE_METRICS`) nan statistics; an upper limit `<metric>_hi` of
    +∞ is a statement (the data cannot bound the metric, `statistics.TAIL_SHARE_LIMIT`), kept."""
    for name, value in summary.items():
        if name.endswith("_hi") and value == np.inf:
            continue
        if isinstance(value, (float, np.floating)) and (np.isinf(value) or (name in FINITE_METRICS
                                                                            and np.isnan(value))):
            raise _CellFailure(f"non-finite statistic {name} = {value} (estimates too large to square in "
                               f"float64)")


def _stream_estimates(sweep: Sweep, cell: Cell, problem: Problem, target: Target, statistics,
                      deadline: float | None = None) -> None:
    estimator = get_estimator(cell.estimator, sweep.problem.kind)
    first = 0
    sizes = blocks(sweep, cell)
    for index, size in enumerate(sizes):
        if deadline is not None and time.perf_counter() > deadline:
            raise _CellFailure(f"time limit: stopped after {first} of {sweep.repetitions} repetitions "
                               f"(--cell-time-limit)")
        raw = estimator(problem, size, cell_generator(sweep, cell, ESTIMATES, index), **cell.parameters)
        if np.iscomplexobj(raw):
            raise _CellFailure(f"estimator returned complex values (dtype {np.asarray(raw).dtype}); "
                               f"expected real numbers")
        estimates = np.asarray(raw, dtype=float)
        if estimates.shape != (size, *target.value.shape):
            raise _CellFailure(f"estimator returned shape {estimates.shape}, expected {(size, *target.value.shape)}")
        finite = np.isfinite(estimates.reshape(size, -1)).all(axis=1)
        if not finite.all():
            bad = first + int(np.argmin(finite))
            raise _CellFailure(f"non-finite estimate (overflow or NaN) at repetition {bad}")
        statistics.add_block(estimates.reshape(size, -1), UNITS_PER_BLOCK)   # = add_batch per array_split part
        first += size
