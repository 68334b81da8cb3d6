"""Running the bench: every cell in a fresh single-threaded Python subprocess, its measurements
read back as a `BenchResult` (with `ScalingFit`s for the scaling cells)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from typing import Any, Iterable

from benchmark.bench.autodiff import autodiff_cells, is_autodiff_compile, measure_first_call
from benchmark.bench.cells import REPOSITORY_ROOT, BenchCell, BenchResult, ScalingFit, reference_cells
from benchmark.bench.measure import measure_cell

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")


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
