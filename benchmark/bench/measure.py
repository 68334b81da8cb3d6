"""Measuring one `BenchCell` in this process: timing loops, counted transitions, memory peaks and
the scaling fits. `benchmark.bench.run` calls `measure_cell` inside a single-threaded subprocess."""
from __future__ import annotations

import contextlib
import math
import statistics as _statistics
import sys
import time
from dataclasses import replace
from typing import Any

from benchmark.bench.cells import SCALING_VALUES, BenchCell, scaled_cell


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


def _transition_counters() -> list[_SampleCounter]:
    """Counters of the sampled transitions R x N x T of both kernels: numpy rollouts
    (`mdps.sample_trajectories`) and compiled batches (`estimators.tabular.fused.draw_compiled_batch`,
    counted once when drawn, however often a shared batch is rolled out again)."""
    from estimators.tabular.fused import draw_compiled_batch
    from mdps import sample_trajectories

    return [_SampleCounter(sample_trajectories, lambda rollouts: rollouts.states.size),
            _SampleCounter(draw_compiled_batch, lambda batch: batch.step_uniforms.size // 2)]


def _mdp(cell: BenchCell):
    from mdps import liu2022_mdp, random_mdp

    if (cell.n_states, cell.n_actions) == (20, 5):
        return liu2022_mdp(0)
    return random_mdp(cell.n_states, cell.n_actions, seed=0, gamma=0.8, concentration=0.001,
                      reward="uniform", initial="first")


def _tabular_call(cell: BenchCell):
    """(function(R, rng) -> estimates) for a tabular cell."""
    import numpy as np

    from estimators import MetaProblem, get_estimator, load_estimator

    if cell.plugin is not None:   # the autodiff surrogates (benchmark.bench.autodiff)
        load_estimator(cell.plugin)
    mdp = _mdp(cell)
    problem = MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=cell.steps, lr=cell.lr,
                          rollout_length=cell.rollout_length, critic=cell.critic, kernel=cell.kernel,
                          meta_parameter=cell.meta_parameter)
    estimator = get_estimator(cell.estimator, "tabular")
    return lambda repetitions, rng: estimator(problem, repetitions, rng, batch=cell.batch, **cell.parameters)


def _toy_call(cell: BenchCell):
    from estimators import ToyProblem, get_estimator
    from mdps import GaussianToy

    problem = ToyProblem(GaussianToy(), theta=0.5, n_samples=cell.batch)
    estimator = get_estimator(cell.estimator, "gaussian_toy")
    return lambda repetitions, rng: estimator(problem, repetitions, rng, **cell.parameters)


def measure_cell(cell: BenchCell, quick: bool) -> dict[str, Any]:
    """Every measurement of one cell, in this process (the bench calls it in a fresh subprocess)."""
    if cell.kind in ("tabular", "toy"):
        return _measure_estimator(cell, quick)
    if cell.kind == "exact":
        return _measure_exact(cell, quick)
    if cell.kind == "reference":
        return _measure_reference(cell, quick)
    if cell.kind == "scaling":
        return _measure_scaling(cell, quick)
    if cell.kind == "compile":
        return _measure_compile(cell)
    raise ValueError(f"kind: expected tabular, toy, exact, reference, scaling or compile, got {cell.kind!r}")


def _measure_compile(cell: BenchCell) -> dict[str, Any]:
    """Wall and CPU seconds of importing numba and getting every kernel ready (`fused.compile_kernel`):
    from the on-disk cache (what every new worker pays), or from nothing with an empty
    temporary cache (`cold`: the first run on a machine)."""
    import os
    import tempfile

    if cell.parameters.get("cold"):
        os.environ["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="mgbench-numba-")   # before numba is imported
    from estimators import problem as kernel_choice
    from estimators.tabular import fused

    if not kernel_choice.AVAILABLE:
        raise RuntimeError("numba is not installed: the compiled kernel is not available")
    begin_wall, begin_cpu = time.perf_counter(), time.process_time()
    fused.compile_kernel()
    wall, cpu = time.perf_counter() - begin_wall, time.process_time() - begin_cpu
    return {"calls": 1, "seconds_per_call": wall, "cpu_seconds_per_call": cpu,
            "cpu_per_wall": cpu / wall if wall > 0 else math.nan, "peak_rss_bytes": _peak_rss_bytes()}


def _estimator_rates(cell: BenchCell, call, quick: bool, *, min_seconds: float | None = None) -> dict[str, Any]:
    """Warm up (R = 2), then time calls of R repetitions, the first of which counts its sampled
    transitions; rates per CPU second and the memory peak above the post-warm-up baseline."""
    import numpy as np

    from mdps import GaussianToy

    rng = np.random.default_rng(np.random.SeedSequence(0))
    call(2, rng)                                             # warm-up: imports, caches
    baseline = _peak_rss_bytes()
    if cell.kind == "toy":
        counters = [_SampleCounter(GaussianToy.sample, np.size, owner=GaussianToy, name="sample")]
    else:
        counters = _transition_counters()
    counted = []

    def timed_call():
        if counted:
            return call(cell.repetitions, rng)
        with contextlib.ExitStack() as stack:   # the first timed call also counts what it samples (one
            for counter in counters:            # wrapper call per batch: negligible)
                stack.enter_context(counter)
            call(cell.repetitions, rng)
        counted.append(sum(counter.total for counter in counters))

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
    from benchmark.bench.reference import reference_sf

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


def _measure_scaling(cell: BenchCell, quick: bool) -> dict[str, Any]:
    """CPU time per call at the three values of each axis in `SCALING_VALUES` (or of `cell.axis`).

    The three calls of an axis are timed in interleaved rounds (v1, v2, v3, v1, ...) and each
    keeps its fastest CPU time, so a burst of load from other processes cannot bend the slope.
    """
    import numpy as np

    window = 0.6 if quick else 3.0
    fits = []
    for axis in SCALING_VALUES if cell.axis is None else (cell.axis,):
        values = SCALING_VALUES[axis]
        scaled = [replace(scaled_cell(cell, axis, value), kind="tabular") for value in values]
        calls = [_tabular_call(one) for one in scaled]
        rng = np.random.default_rng(np.random.SeedSequence(0))
        transitions = []
        for one, call in zip(scaled, calls):
            call(2, rng)                                                        # warm-up
            counters = _transition_counters()
            with contextlib.ExitStack() as stack:
                for counter in counters:
                    stack.enter_context(counter)
                call(one.repetitions, rng)
            transitions.append(sum(counter.total for counter in counters))
        best = [math.inf] * len(values)
        start, rounds = time.perf_counter(), 0
        while rounds < 3 or time.perf_counter() - start < window:
            for index, (one, call) in enumerate(zip(scaled, calls)):
                begin = time.process_time()
                call(one.repetitions, rng)
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
            "estimates_per_second": scaled_cell(cell, base["axis"], base["values"][0]).repetitions / base["seconds"][0]}
