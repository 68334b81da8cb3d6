"""Running the bench: every cell in a fresh single-threaded Python subprocess, its measurements
read back as a `BenchResult` (with `ScalingFit`s for the scaling cells)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any, Iterable

from benchmark.bench.autodiff import autodiff_cells, is_autodiff_compile, measure_first_call
from benchmark.bench.cells import REPOSITORY_ROOT, BenchCell, reference_cells
from benchmark.bench.measure import measure_cell

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


@dataclass(frozen=True)
class ScalingFit:
    """CPU time per call at three values of one axis, and log-log slopes.

    Attributes:
      axis: `R`, `|tau|`, `K`, `T` or `S*A`.
      values: the three values of the axis.
      seconds: fastest CPU seconds per call at each value (interleaved rounds).
      transitions: sampled transitions per call at each value (counted).
      slope: least-squares slope of log seconds against log value (1 = linear cost).
      work_slope: the same slope for the sampled transitions: the slope that cost linear in
        the sampled work would show (1 for R, |τ|, T; about 0.8 for K with `lll`, whose 2K + 1
        batches grow slower than K over 1, 2, 4; 0 for S·A, which does not change the samples).
    """

    axis: str
    values: tuple[float, ...]
    seconds: tuple[float, ...]
    transitions: tuple[int, ...]
    slope: float
    work_slope: float


@dataclass(frozen=True)
class BenchResult:
    """The measurements of one cell (None where a quantity does not apply).

    Attributes:
      cell: the `BenchCell`.
      calls: timed calls.
      seconds_per_call: median wall time of one call of R repetitions.
      cpu_seconds_per_call: median process CPU time of one call (the rates divide by this:
        one thread, so CPU seconds are seconds of one core, whatever else runs on the machine).
      cpu_per_wall: process CPU time / wall time over the timed calls (≈ 1 on one core).
      transitions_per_call: sampled transitions counted in one call (toy: draws X_i).
      sampled_parts: transitions_per_call / (R x |τ| x T): batches drawn per repetition.
      transitions_per_second: transitions_per_call / cpu_seconds_per_call, per core (one thread).
      estimates_per_second: R / cpu_seconds_per_call.
      peak_memory_bytes: ru_maxrss increase of the subprocess during the timed calls.
      peak_rss_bytes: ru_maxrss of the subprocess (interpreter and libraries included).
      scaling: fits of time against each axis (kind `scaling`).
      speedup: vectorized / per-trajectory transitions per second (kind `reference`).
      vectorized_transitions_per_second: the vectorized estimator's rate on the same cell
        (kind `reference`; the other rates of that row are the per-trajectory reference's).
      error: why the cell could not be measured (None when it was).
    """

    cell: BenchCell
    calls: int = 0
    seconds_per_call: float | None = None
    cpu_seconds_per_call: float | None = None
    cpu_per_wall: float | None = None
    transitions_per_call: int | None = None
    sampled_parts: float | None = None
    transitions_per_second: float | None = None
    estimates_per_second: float | None = None
    peak_memory_bytes: int | None = None
    peak_rss_bytes: int | None = None
    scaling: tuple[ScalingFit, ...] = ()
    speedup: float | None = None
    vectorized_transitions_per_second: float | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ----------------------------------------------------------------------------- running

def run_bench(quick: bool, *, cells: Iterable[BenchCell] | None = None, progress=None) -> list[BenchResult]:
    """Measure every reference cell (or `cells`), each in its own single-threaded subprocess.

    Args:
      quick: short timing windows and fewer scaling fits (the whole run in well under 2 minutes).
      cells: override the reference cells (e.g. a subset).
      progress: optional `callable(str)` told the name of each cell before it runs.
    Returns:
      One `BenchResult` per cell, in order.
    """
    cells = reference_cells(quick) + autodiff_cells() if cells is None else list(cells)
    results = []
    for cell in cells:
        if progress is not None:
            progress(cell.name)
        results.append(_run_in_subprocess(cell, quick))
    return results


def _subprocess_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.update({variable: "1" for variable in THREAD_VARIABLES})
    paths = [str(REPOSITORY_ROOT)] + [p for p in environment.get("PYTHONPATH", "").split(os.pathsep) if p]
    environment["PYTHONPATH"] = os.pathsep.join(paths)   # the package, when run from a source checkout
    return environment


def _run_in_subprocess(cell: BenchCell, quick: bool) -> BenchResult:
    task = json.dumps({"cell": asdict(cell), "quick": quick})
    # through the entry module, so the subprocess imports what `mgbench bench` imports (its RSS includes them)
    command = [sys.executable, "-c", "from benchmark.bench.run import worker_main; worker_main()"]
    try:
        completed = subprocess.run(command, input=task, capture_output=True, text=True,
                                   env=_subprocess_environment(), timeout=600, check=False)
    except subprocess.TimeoutExpired:
        return BenchResult(cell, error="timed out after 600 s")
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        message = (completed.stderr.strip().splitlines() or [f"exit code {completed.returncode}"])[-1]
        return BenchResult(cell, error=message)
    return _result_from_dict(cell, json.loads(lines[-1]))


def _result_from_dict(cell: BenchCell, values: dict[str, Any]) -> BenchResult:
    values = dict(values)
    values["scaling"] = tuple(ScalingFit(fit["axis"], tuple(fit["values"]), tuple(fit["seconds"]),
                                         tuple(fit["transitions"]), fit["slope"], fit["work_slope"])
                              for fit in values.get("scaling", ()))
    return BenchResult(cell=cell, **values)


def run_in_process(cell: BenchCell, quick: bool) -> BenchResult:
    """Measure one cell in this process (no thread limit unless already set; memory deltas
    then include whatever this process allocated before). For debugging and profiling."""
    return _result_from_dict(cell, _measure(cell, quick))


def _measure(cell: BenchCell, quick: bool) -> dict[str, Any]:
    """`measure_cell`, or the autodiff first-call cost (`benchmark.bench.autodiff`)."""
    return measure_first_call(cell, quick) if is_autodiff_compile(cell) else measure_cell(cell, quick)


def worker_main() -> None:
    """Subprocess entry: read a task (JSON on stdin), measure it, print the result as JSON."""
    for variable in THREAD_VARIABLES:
        os.environ[variable] = "1"
    task = json.loads(sys.stdin.read())
    cell = BenchCell(**task["cell"])
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        values = _measure(cell, task["quick"])
    else:
        with threadpool_limits(limits=1):
            values = _measure(cell, task["quick"])
    print(json.dumps(values))
