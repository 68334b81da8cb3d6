"""`mgbench bench`: throughput, memory and scaling of the estimators on fixed reference cells.

Every measurement runs in a fresh Python subprocess, one per cell, with
`OMP_NUM_THREADS = OPENBLAS_NUM_THREADS = MKL_NUM_THREADS = 1` set before numpy is
imported (and `threadpoolctl.threadpool_limits(1)` when threadpoolctl is installed), so
that "per core" is honest and one cell's allocations cannot hide another's. Per cell:

- time: one warm-up call (R = 2), then calls of R repetitions (the sweep runner's block
  size) until a time window has passed and at least a few calls were made; the medians
  of the wall time and of the process CPU time per call are reported. Rates divide by
  the CPU time: the process has one thread, so a CPU second is a second of one core even
  when other processes share the machine (their share shows as `cpu_per_wall` < 1);
- sampled transitions: counted, not computed from a formula: during the first timed call
  every binding of `mdps.sample_trajectories` in the loaded modules is wrapped by a
  counter of R x N x T per call, so the count is R x (sampled parts) x N x T over all K
  steps as the estimator really draws them (`lll` draws 2K + 1 batches). For the toy
  the count is the number of draws X_i (R x N), wrapped the same way;
- peak memory: `resource.getrusage(RUSAGE_SELF).ru_maxrss` of the subprocess, after the
  warm-up (baseline) and after the timed calls; the delta is the cell's own peak, the
  absolute value includes the interpreter, numpy and scipy (~60-100 MB);
- scaling: the CPU time per call of one reference cell at three values of each of R,
  |τ|, K, T and S·A (S varied at A = 5, Liu et al.'s random-MDP law), timed in
  interleaved rounds keeping each value's fastest call, with the least-squares slope of
  log time against log value (1 = linear cost, below 1 = a fixed per-call cost still
  matters, above 1 = super-linear) next to the same slope of the counted transitions;
- speed-up: the vectorized `sf` estimator against the per-trajectory reference of
  `tests/reference_estimators.py` (Python loops, `rng.choice` per draw) on the same cell,
  in the same subprocess (ratios hold on a noisy machine; absolute times do not).

Speed is measured, never asserted.
"""
from __future__ import annotations

import json
import math
import os
import statistics as _statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

# The module does not import numpy at top level: `mgbench --help` stays fast, and the
# measuring subprocess sets the thread limits before numpy is first imported.

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                    "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
BLOCK_REPETITIONS = 64          # the sweep runner's repetitions per estimator call (benchmark.cells)
LIU2022_ESTIMATORS = ("loaded", "dice")
FALLBACK_ESTIMATORS = ("sf", "truncated")   # practical estimators, used while loaded/dice are not registered
TOY_ESTIMATORS = ("sf", "lsf", "pw")
TARGET_TRANSITIONS_PER_SECOND = 5e6
TARGET_EXACT_SECONDS = 0.020
TARGET_MEMORY_BYTES = 2 * 2**30
SCALING_VALUES = {
    "R": (64, 128, 256),
    "|tau|": (32, 64, 128),
    "K": (1, 2, 4),
    "T": (10, 20, 40),
    "S*A": (100, 200, 400),        # S = 20, 40, 80 at A = 5
}
REPOSITORY_ROOT = Path(__file__).resolve().parent.parent
REFERENCE_ESTIMATORS = REPOSITORY_ROOT / "tests" / "reference_estimators.py"


@dataclass(frozen=True)
class BenchCell:
    """One reference cell: what to call, on which problem, with how many repetitions per call.

    Attributes:
      name: the label printed in the table.
      kind: `tabular` (a registered tabular estimator), `toy` (a Gaussian-toy estimator),
        `exact` (`mdps.meta_gradient`), `reference` (vectorized `sf` and its per-trajectory
        reference) or `scaling` (one axis of the scaling study).
      estimator: registered estimator name (None for `exact`).
      parameters: keyword parameters of the estimator call.
      batch: |τ| (tabular) or N (toy).
      steps: K inner steps; lr: α.
      rollout_length: T; critic: `none`, `exact` or `noisy`.
      n_states, n_actions: S and A (`liu2022_mdp(0)` when 20 x 5, else `random_mdp` with
        the same law).
      repetitions: R per call.
      axis: kind `scaling` only: one axis of `SCALING_VALUES`, or None for all of them.
    """

    name: str
    kind: str
    estimator: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    batch: int = 32
    steps: int = 1
    lr: float = 10.0
    rollout_length: int = 20
    critic: str = "noisy"
    n_states: int = 20
    n_actions: int = 5
    repetitions: int = BLOCK_REPETITIONS
    axis: str | None = None


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


# ----------------------------------------------------------------------------- command

def _register_subcommand() -> None:
    """`mgbench bench` through the CLI's subcommand registry (`benchmark.cli` imports this
    module, listed in its SUBCOMMAND_MODULES, before it parses the command line)."""
    try:
        from benchmark.cli import subcommand
    except ImportError:
        return
    from benchmark.bench_command import HELP, add_bench_arguments, run_bench_command

    subcommand("bench", help=HELP, arguments=add_bench_arguments)(run_bench_command)


_register_subcommand()


# ----------------------------------------------------------------------------- cells

def liu2022_estimators() -> tuple[tuple[str, ...], bool]:
    """(`loaded`, `dice`) and True when both are registered for tabular problems, else the
    practical fallback (`sf`, `truncated`) and False."""
    from estimators import available_estimators

    names = {spec.name for spec in available_estimators("tabular")}
    if all(name in names for name in LIU2022_ESTIMATORS):
        return LIU2022_ESTIMATORS, True
    return FALLBACK_ESTIMATORS, False


def _liu2022_cell(estimator: str, split_available: bool, batch: int, steps: int, **changes) -> BenchCell:
    lr = 10.0 if steps == 1 else 3.0          # the `decompose` and `comp-*` sweeps of ANCHORS.md
    if split_available:
        parameters, critic, label = {"split": "lll"}, "noisy", f"liu2022 lll {estimator}"
    else:  # practical estimators: critic none; truncated through every step with DiCE Jacobians
        parameters = {"window": steps, "jacobian": "dice"} if estimator == "truncated" else {}
        critic, label = "none", f"liu2022 practical {estimator}"
    cell = BenchCell(f"{label} |tau|={batch} K={steps}", "tabular", estimator, parameters, batch=batch,
                     steps=steps, lr=lr, critic=critic)
    return replace(cell, **changes)


def reference_cells(quick: bool) -> list[BenchCell]:
    """The fixed reference cells: liu2022 (split `lll` with loaded and dice when registered)
    at |τ| ∈ {32, 256} x K ∈ {1, 6}; the toy at N = 64; the exact meta-gradient at K = 6;
    the per-trajectory reference (in a source checkout, where `tests/` exists); and the
    scaling axes (first estimator only when `quick`)."""
    estimators, split_available = liu2022_estimators()
    cells = [_liu2022_cell(name, split_available, batch, steps)
             for name in estimators for batch in (32, 256) for steps in (1, 6)]
    cells += [BenchCell(f"toy {name} N=64", "toy", name, batch=64) for name in TOY_ESTIMATORS]
    cells.append(BenchCell("exact meta_gradient liu2022 K=6", "exact", None, steps=6, lr=3.0, repetitions=1))
    if REFERENCE_ESTIMATORS.exists():   # a source checkout: the reference lives with the tests
        cells.append(BenchCell("reference sf (per-trajectory loops) |tau|=32 K=1", "reference", "sf",
                               batch=32, steps=1, lr=10.0, critic="none"))
    for name in estimators[:1] if quick else estimators:
        base = _liu2022_cell(name, split_available, 32, 1)
        cells.append(replace(base, name=f"scaling {base.name.split(' |tau|')[0]}", kind="scaling"))
    return cells


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
    cells = reference_cells(quick) if cells is None else list(cells)
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
    environment["PYTHONPATH"] = os.pathsep.join(paths)   # tests/reference_estimators.py, when present
    return environment


def _run_in_subprocess(cell: BenchCell, quick: bool) -> BenchResult:
    task = json.dumps({"cell": asdict(cell), "quick": quick})
    command = [sys.executable, "-c", "from benchmark.bench import _worker_main; _worker_main()"]
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


def _worker_main() -> None:
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


# ----------------------------------------------------------------------------- measuring

def _timing_window(quick: bool) -> tuple[float, int, int]:
    """(min seconds, min calls, max calls) of a timing loop."""
    return (0.3, 2, 50) if quick else (2.0, 5, 1000)


def _peak_rss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _time_calls(function, quick: bool, *, min_seconds: float | None = None) -> dict[str, float]:
    """Call `function()` until the timing window is full.

    Returns:
      `calls`, the medians `seconds` (wall) and `cpu_seconds` (process CPU time) per call,
      and `cpu_per_wall` over the whole loop.
    """
    window, min_calls, max_calls = _timing_window(quick)
    window = window if min_seconds is None else min_seconds
    walls, cpus = [], []
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    while len(walls) < max_calls and (len(walls) < min_calls or time.perf_counter() - start_wall < window):
        begin_wall, begin_cpu = time.perf_counter(), time.process_time()
        function()
        walls.append(time.perf_counter() - begin_wall)
        cpus.append(time.process_time() - begin_cpu)
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    return {"calls": len(walls), "seconds": _statistics.median(walls), "cpu_seconds": _statistics.median(cpus),
            "cpu_per_wall": cpu / wall if wall > 0 else math.nan}


class _SampleCounter:
    """Counts draws: wraps every module-level binding of `original` (e.g. each module's
    `from mdps import sample_trajectories`), or the attribute `name` of class `owner`."""

    def __init__(self, original, count, *, owner=None, name: str | None = None):
        self.original, self.count, self.owner, self.name = original, count, owner, name
        self.total, self._patched = 0, []

    def __enter__(self):
        original = self.original

        def counting(*args, **kwargs):
            result = original(*args, **kwargs)
            self.total += self.count(result)
            return result

        if self.owner is not None:
            setattr(self.owner, self.name, counting)
            return self
        for module in list(sys.modules.values()):
            namespace = getattr(module, "__dict__", None)
            if isinstance(namespace, dict):
                for name, value in list(namespace.items()):
                    if value is original:
                        namespace[name] = counting
                        self._patched.append((namespace, name))
        return self

    def __exit__(self, *exc):
        if self.owner is not None:
            setattr(self.owner, self.name, self.original)
        for namespace, name in self._patched:
            namespace[name] = self.original
        return False


def _mdp(cell: BenchCell):
    from mdps import liu2022_mdp, random_mdp

    if (cell.n_states, cell.n_actions) == (20, 5):
        return liu2022_mdp(0)
    return random_mdp(cell.n_states, cell.n_actions, seed=0, gamma=0.8, concentration=0.001,
                      reward="uniform", initial="first")


def _tabular_call(cell: BenchCell):
    """(function(R, rng) -> estimates) for a tabular cell."""
    import numpy as np

    from estimators import MetaProblem, get_estimator

    mdp = _mdp(cell)
    problem = MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=cell.steps, lr=cell.lr,
                          rollout_length=cell.rollout_length, critic=cell.critic)
    estimator = get_estimator(cell.estimator, "tabular")
    return lambda repetitions, rng: estimator(problem, repetitions, rng, batch=cell.batch, **cell.parameters)


def _toy_call(cell: BenchCell):
    from estimators import ToyProblem, get_estimator
    from mdps import GaussianToy

    problem = ToyProblem(GaussianToy(), theta=0.5, n_samples=cell.batch)
    estimator = get_estimator(cell.estimator, "gaussian_toy")
    return lambda repetitions, rng: estimator(problem, repetitions, rng, **cell.parameters)


def _measure(cell: BenchCell, quick: bool) -> dict[str, Any]:
    if cell.kind in ("tabular", "toy"):
        return _measure_estimator(cell, quick)
    if cell.kind == "exact":
        return _measure_exact(cell, quick)
    if cell.kind == "reference":
        return _measure_reference(cell, quick)
    if cell.kind == "scaling":
        return _measure_scaling(cell, quick)
    raise ValueError(f"kind: expected tabular, toy, exact, reference or scaling, got {cell.kind!r}")


def _estimator_rates(cell: BenchCell, call, quick: bool, *, min_seconds: float | None = None) -> dict[str, Any]:
    """Warm up (R = 2), then time calls of R repetitions, the first of which counts its sampled
    transitions; rates per CPU second and the memory peak above the post-warm-up baseline."""
    import numpy as np

    from mdps import GaussianToy, sample_trajectories

    rng = np.random.default_rng(np.random.SeedSequence(0))
    call(2, rng)                                             # warm-up: imports, caches
    baseline = _peak_rss_bytes()
    if cell.kind == "toy":
        counter = _SampleCounter(GaussianToy.sample, np.size, owner=GaussianToy, name="sample")
    else:
        counter = _SampleCounter(sample_trajectories, lambda rollouts: rollouts.states.size)
    counted = []

    def timed_call():
        if counted:
            return call(cell.repetitions, rng)
        with counter:             # the first timed call also counts what it samples (one wrapper call
            call(cell.repetitions, rng)  # per batch: negligible)
        counted.append(counter.total)

    timing = _time_calls(timed_call, quick, min_seconds=min_seconds)
    transitions = counted[0]
    per_repetition = cell.repetitions * cell.batch * (1 if cell.kind == "toy" else cell.rollout_length)
    return {
        "calls": timing["calls"],
        "seconds_per_call": timing["seconds"],
        "cpu_seconds_per_call": timing["cpu_seconds"],
        "cpu_per_wall": timing["cpu_per_wall"],
        "transitions_per_call": transitions,
        "sampled_parts": transitions / per_repetition,
        "transitions_per_second": transitions / timing["cpu_seconds"],
        "estimates_per_second": cell.repetitions / timing["cpu_seconds"],
        "peak_memory_bytes": max(_peak_rss_bytes() - baseline, 0),
        "peak_rss_bytes": _peak_rss_bytes(),
    }


def _measure_estimator(cell: BenchCell, quick: bool) -> dict[str, Any]:
    call = _toy_call(cell) if cell.kind == "toy" else _tabular_call(cell)
    return _estimator_rates(cell, call, quick)


def _measure_exact(cell: BenchCell, quick: bool) -> dict[str, Any]:
    import numpy as np

    from mdps import meta_gradient

    mdp = _mdp(cell)
    theta = np.zeros((mdp.n_states, mdp.n_actions))
    meta_gradient(mdp, theta, steps=cell.steps, lr=cell.lr)
    baseline = _peak_rss_bytes()
    timing = _time_calls(lambda: meta_gradient(mdp, theta, steps=cell.steps, lr=cell.lr), quick)
    return {"calls": timing["calls"], "seconds_per_call": timing["seconds"],
            "cpu_seconds_per_call": timing["cpu_seconds"], "cpu_per_wall": timing["cpu_per_wall"],
            "estimates_per_second": 1.0 / timing["cpu_seconds"],
            "peak_memory_bytes": max(_peak_rss_bytes() - baseline, 0), "peak_rss_bytes": _peak_rss_bytes()}


def _measure_reference(cell: BenchCell, quick: bool) -> dict[str, Any]:
    """The vectorized estimator's rates, then the per-trajectory reference's on the same cell."""
    from tests.reference_estimators import reference_sf

    import numpy as np

    from estimators import MetaProblem

    vectorized = _estimator_rates(cell, _tabular_call(cell), quick)
    mdp = _mdp(cell)
    problem = MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=cell.steps, lr=cell.lr,
                          rollout_length=cell.rollout_length, critic=cell.critic)
    reference_cell = replace(cell, repetitions=1)
    reference = _estimator_rates(
        reference_cell, lambda repetitions, rng: reference_sf(problem, repetitions, rng, batch=cell.batch),
        quick, min_seconds=1.0 if quick else 4.0)
    # the reference samples with rng.choice, so its transitions are counted from the formula
    transitions = cell.steps * cell.batch * cell.rollout_length
    reference.update(transitions_per_call=transitions, sampled_parts=float(cell.steps),
                     transitions_per_second=transitions / reference["cpu_seconds_per_call"])
    reference["speedup"] = vectorized["transitions_per_second"] / reference["transitions_per_second"]
    reference["vectorized_transitions_per_second"] = vectorized["transitions_per_second"]
    return reference


def _scaled_cell(cell: BenchCell, axis: str, value: int) -> BenchCell:
    if axis == "R":
        return replace(cell, repetitions=value)
    if axis == "|tau|":
        return replace(cell, batch=value)
    if axis == "K":
        parameters = dict(cell.parameters)
        if "window" in parameters:
            parameters["window"] = value
        return replace(cell, steps=value, lr=3.0, parameters=parameters)
    if axis == "T":
        return replace(cell, rollout_length=value)
    if axis == "S*A":
        return replace(cell, n_states=value // cell.n_actions)
    raise ValueError(f"axis: expected one of {sorted(SCALING_VALUES)}, got {axis!r}")


def _measure_scaling(cell: BenchCell, quick: bool) -> dict[str, Any]:
    """CPU time per call at the three values of each axis in `SCALING_VALUES` (or of `cell.axis`).

    The three calls of an axis are timed in interleaved rounds (v1, v2, v3, v1, ...) and each
    keeps its fastest CPU time, so a burst of load from other processes cannot bend the slope.
    """
    import numpy as np

    from mdps import sample_trajectories

    window = 0.6 if quick else 3.0
    fits = []
    for axis in SCALING_VALUES if cell.axis is None else (cell.axis,):
        values = SCALING_VALUES[axis]
        scaled = [replace(_scaled_cell(cell, axis, value), kind="tabular") for value in values]
        calls = [_tabular_call(scaled_cell) for scaled_cell in scaled]
        rng = np.random.default_rng(np.random.SeedSequence(0))
        transitions = []
        for scaled_cell, call in zip(scaled, calls):
            call(2, rng)                                                        # warm-up
            with _SampleCounter(sample_trajectories, lambda rollouts: rollouts.states.size) as counter:
                call(scaled_cell.repetitions, rng)
            transitions.append(counter.total)
        best = [math.inf] * len(values)
        start, rounds = time.perf_counter(), 0
        while rounds < 3 or time.perf_counter() - start < window:
            for index, (scaled_cell, call) in enumerate(zip(scaled, calls)):
                begin = time.process_time()
                call(scaled_cell.repetitions, rng)
                best[index] = min(best[index], time.process_time() - begin)
            rounds += 1
        logs = np.log(values)
        fits.append({"axis": axis, "values": list(values), "seconds": best, "transitions": transitions,
                     "slope": float(np.polyfit(logs, np.log(best), 1)[0]),
                     "work_slope": float(np.polyfit(logs, np.log(transitions), 1)[0])})
    base = fits[0]
    return {"calls": sum(len(fit["values"]) for fit in fits), "cpu_seconds_per_call": base["seconds"][0],
            "scaling": fits, "transitions_per_call": base["transitions"][0],
            "transitions_per_second": base["transitions"][0] / base["seconds"][0],
            "estimates_per_second": _scaled_cell(cell, base["axis"], base["values"][0]).repetitions / base["seconds"][0]}


# ----------------------------------------------------------------------------- report

def machine_info() -> dict[str, str]:
    """Cores (`os.cpu_count`), CPU model (`lscpu`, else /proc/cpuinfo), numpy and Python versions, git commit."""
    import platform

    import numpy

    model = ""
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10, check=False).stdout
        model = next((line.split(":", 1)[1].strip() for line in output.splitlines()
                      if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    if not model and Path("/proc/cpuinfo").exists():
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    return {"cores": str(os.cpu_count()), "cpu": model or platform.processor() or "unknown",
            "numpy": numpy.__version__, "python": platform.python_version(), "code": _code_version()}


def _code_version() -> str:
    """`git` commit of the measured code (with `+ uncommitted changes` when the tracked files differ)."""
    try:
        def git(*arguments):
            return subprocess.run(["git", "-C", str(REPOSITORY_ROOT), *arguments], capture_output=True,
                                  text=True, timeout=10, check=True).stdout.strip()

        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + (" + uncommitted changes" if dirty else "")


def _si(value: float | None, unit: str = "") -> str:
    if value is None or not math.isfinite(value):
        return "-"
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= factor:
            return f"{value / factor:.2f} {prefix}{unit}".rstrip()
    return f"{value:.3g} {unit}".rstrip()


def _milliseconds(seconds: float | None) -> str:
    return "-" if seconds is None else f"{1e3 * seconds:.3g}"


def _megabytes(size: int | None) -> str:
    return "-" if size is None else f"{size / 2**20:.0f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    line = lambda row: "  ".join(cell.ljust(width) if i == 0 else cell.rjust(width)  # noqa: E731
                                 for i, (cell, width) in enumerate(zip(row, widths)))
    return [line(header).rstrip(), "  ".join("-" * width for width in widths).rstrip(),
            *(line(row).rstrip() for row in rows)]


def format_report(results: list[BenchResult], *, quick: bool, machine: dict[str, str] | None = None) -> str:
    """The bench tables (throughput, scaling, speed-up, targets) as printed by `mgbench bench`."""
    machine = machine_info() if machine is None else machine
    lines = [f"mgbench bench{' --quick' if quick else ''}: one thread per measurement, rates per CPU-second "
             f"(= per core)",
             f"machine: {machine['cores']} cores, {machine['cpu']}, numpy {machine['numpy']}, "
             f"Python {machine['python']}, code {machine.get('code', 'unknown')}", ""]
    measured = [r for r in results if r.cell.kind != "scaling"]
    rows = []
    for result in measured:
        cell = result.cell
        if result.error:
            rows.append([cell.name, str(cell.repetitions), "-", "-", "-", "-", "-", "-", "-", f"error: {result.error}"])
            continue
        note, repetitions = "", str(cell.repetitions)
        if result.speedup is not None:
            note = (f"vectorized sf (R={cell.repetitions}) {_si(result.vectorized_transitions_per_second, '/s')}: "
                    f"{result.speedup:.0f}x faster")
            repetitions = "1"
        parts = "-" if result.sampled_parts is None else f"{result.sampled_parts:.3g}"
        rows.append([cell.name, repetitions, parts, _si(result.transitions_per_second),
                     _si(result.estimates_per_second), _milliseconds(result.cpu_seconds_per_call),
                     "-" if result.cpu_per_wall is None else f"{result.cpu_per_wall:.2f}",
                     _megabytes(result.peak_memory_bytes), _megabytes(result.peak_rss_bytes), note])
    lines += _table(["cell", "R", "parts", "transitions/s", "estimates/s", "ms/call", "cpu/wall",
                     "peak MB", "RSS MB", ""], rows)
    fits = [(r.cell, fit) for r in results for fit in r.scaling]
    if fits or any(r.cell.kind == "scaling" and r.error for r in results):
        lines += ["", "scaling: fastest CPU ms per call at three values of each axis (interleaved rounds); slope of "
                      "log time vs log value (1 = linear cost), and the same slope of the sampled work"]
        rows = [[cell.name.replace("scaling ", ""), fit.axis,
                 " ".join(f"{value:g}" for value in fit.values),
                 " ".join(_milliseconds(seconds) for seconds in fit.seconds), f"{fit.slope:.2f}",
                 f"{fit.work_slope:.2f}"]
                for cell, fit in fits]
        rows += [[r.cell.name, r.cell.axis or "-", "-", f"error: {r.error}", "-", "-"]
                 for r in results if r.cell.kind == "scaling" and r.error]
        lines += _table(["cell", "axis", "values", "ms/call", "time slope", "work slope"], rows)
    lines += ["", "targets (issue 7):", *target_lines(results)]
    return "\n".join(lines)


def target_lines(results: list[BenchResult]) -> list[str]:
    """One line per target of issue 7: the measured value and whether it is met."""
    lines = []
    liu = [r for r in results if r.cell.kind == "tabular" and r.cell.name.startswith("liu2022")
           and r.transitions_per_second is not None]
    if liu:
        rates = [r.transitions_per_second for r in liu]
        below = [r.cell.name for r in liu if r.transitions_per_second < TARGET_TRANSITIONS_PER_SECOND]
        label = "lll" if any("lll" in r.cell.name for r in liu) else "practical (loaded/dice not registered)"
        lines.append(f"  liu2022 {label} >= {_si(TARGET_TRANSITIONS_PER_SECOND)} transitions/s per core: "
                     f"{_si(min(rates))} to {_si(max(rates))} -> "
                     + ("met in every cell" if not below else f"not met in {len(below)} of {len(liu)} cells"))
    exact = [r for r in results if r.cell.kind == "exact" and r.cpu_seconds_per_call is not None]
    for result in exact:
        met = result.cpu_seconds_per_call < TARGET_EXACT_SECONDS
        lines.append(f"  exact liu2022 meta-gradient K={result.cell.steps} < {_milliseconds(TARGET_EXACT_SECONDS)} ms: "
                     f"{_milliseconds(result.cpu_seconds_per_call)} ms -> {'met' if met else 'not met'}")
    peaks = [r.peak_rss_bytes for r in results if r.peak_rss_bytes is not None]
    if peaks:
        met = max(peaks) < TARGET_MEMORY_BYTES
        lines.append(f"  no cell above 2 GB: largest process peak {_megabytes(max(peaks))} MB "
                     f"(interpreter included) -> {'met' if met else 'not met'}")
    failed = [r.cell.name for r in results if r.error]
    if failed:
        lines.append(f"  not measured ({len(failed)}): " + "; ".join(failed))
    return lines
