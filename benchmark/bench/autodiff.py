"""The autodiff path of `mgbench bench`: DiCE written as a JAX and as a PyTorch surrogate
(`docs/examples/surrogates_jax.py`, `surrogates_torch.py`, differentiated by
`estimators.tabular.autodiff`) on the liu2022 `lll` |τ| = 32 K = 1 cell, beside the numpy and
compiled paths of the built-in `dice`.

Two cells per framework, each in its own single-threaded subprocess like every bench cell:
- throughput (kind `estimator` of the tabular family, with `plugin` set): measured as any estimator cell
  (`benchmark.bench.measure`): a warm-up call, then timed calls of R = 64 (the sweep runner's
  block), sampled transitions counted, the memory peak of a block;
- first-call cost (kind `compile`, `plugin` set; measured here, kept apart from the rates):
  the first call of a fresh process at R = 64 (JAX: tracing and XLA compilation of the
  gradient, Hessian-vector and exact functions; PyTorch: no compilation, the first call's
  set-up) minus the median of the calls after it.
The surrogates are imported from the repository's `docs/examples/` (a source checkout).
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import replace

from benchmark.bench.cells import REPOSITORY_ROOT, BenchCell

AUTODIFF_FRAMEWORKS = ("jax", "torch")
# sampled transitions per CPU-second on the liu2022 lll dice |τ| = 32 K = 1 cell (docs/performance.md)
AUTODIFF_TARGETS = {"jax": 2e6, "torch": 5e5}
CELL = "liu2022 lll dice |tau|=32 K=1"


def example_plugin(framework: str) -> str:
    return str(REPOSITORY_ROOT / "docs" / "examples" / f"surrogates_{framework}.py")


def autodiff_cells() -> list[BenchCell]:
    """Per framework: the throughput cell and the first-call cost."""
    cells = []
    for framework in AUTODIFF_FRAMEWORKS:
        rate = BenchCell(f"autodiff {framework} {CELL}", "estimator", f"{framework}_dice", "tabular", {"split": "lll"},
                         batch=32, steps=1, lr=10.0, critic="noisy", plugin=example_plugin(framework))
        cells += [rate, replace(rate, name=f"compile: autodiff {framework} dice, first call at R={rate.repetitions} "
                                           f"minus a warm call", kind="compile")]
    return cells


def is_autodiff_compile(cell: BenchCell) -> bool:
    return cell.kind == "compile" and cell.plugin is not None


def measure_first_call(cell: BenchCell, quick: bool) -> dict:
    """Wall and CPU seconds of the first call of a fresh process beyond a warm call (module docstring)."""
    import numpy as np

    from estimators import MetaProblem, get_estimator, load_estimator
    from mdps import liu2022_mdp

    load_estimator(cell.plugin)
    mdp = liu2022_mdp(0)
    problem = MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=cell.steps, lr=cell.lr,
                          rollout_length=cell.rollout_length, critic=cell.critic)
    estimator = get_estimator(cell.estimator)
    rng = np.random.default_rng(0)

    def timed() -> tuple[float, float]:
        begin_wall, begin_cpu = time.perf_counter(), time.process_time()
        estimator(problem, cell.repetitions, rng, batch=cell.batch, **cell.parameters)
        return time.perf_counter() - begin_wall, time.process_time() - begin_cpu

    first_wall, first_cpu = timed()
    warm = [timed() for _ in range(3 if quick else 7)]
    wall = first_wall - statistics.median(w for w, _ in warm)
    cpu = first_cpu - statistics.median(c for _, c in warm)
    return {"calls": 1 + len(warm), "seconds_per_call": wall, "cpu_seconds_per_call": cpu,
            "cpu_per_wall": cpu / wall if wall > 0 else math.nan}


def autodiff_target_lines(results) -> list[str]:
    """One line per framework: its rate on the cell against `AUTODIFF_TARGETS`."""
    lines = []
    for framework, target in AUTODIFF_TARGETS.items():
        found = [r for r in results if r.cell.name == f"autodiff {framework} {CELL}"]
        if not found:
            continue
        rate = found[0].transitions_per_second
        verdict = f"error: {found[0].error}" if found[0].error else ("met" if rate >= target else "not met")
        shown = "-" if rate is None else f"{rate / 1e6:.2f} M"
        lines.append(f"  autodiff {framework} dice >= {target / 1e6:g} M transitions/s on {CELL}: {shown} -> {verdict}")
    return lines
