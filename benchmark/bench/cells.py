"""The reference cells of `mgbench bench`: what is measured (`BenchCell`), on which problems,
and the values of the scaling axes. How they are measured is in `benchmark.bench`."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.sweeps.vocabulary import BLOCK_REPETITIONS   # the sweep runner's repetitions per estimator call

LIU2022_ESTIMATORS = ("loaded", "dice")
TOY_ESTIMATORS = ("sf", "lsf", "pw")
KERNELS = ("numpy", "compiled")   # measured in this order, one subprocess each, for every liu2022 cell
SCALING_VALUES = {
    "R": (64, 128, 256),
    "|tau|": (32, 64, 128),
    "K": (1, 2, 4),
    "T": (10, 20, 40),
    "S*A": (100, 200, 400),        # S = 20, 40, 80 at A = 5
}
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class BenchCell:
    """One reference cell: what to call, on which problem, with how many repetitions per call.

    Attributes:
      name: the label printed in the table.
      kind: `tabular` (a registered tabular estimator), `toy` (a Gaussian-toy estimator),
        `compile` (numba's first-call cost of the compiled kernel: `parameters["cold"]` True
        with an empty cache, else loading the on-disk cache as every new worker does),
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
      kernel: `compiled` or `numpy` (`MetaProblem.kernel`) for tabular cells.
      meta_parameter: `init` or `intrinsic` (LIRPG) for tabular cells.
      plugin: a module or `.py` file to import before the estimator is looked up (the
        autodiff surrogates, `benchmark.bench.autodiff`), or None.
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
    kernel: str = "compiled"
    meta_parameter: str = "init"
    plugin: str | None = None


# ----------------------------------------------------------------------------- cells

def _liu2022_cell(estimator: str, batch: int, steps: int, **changes) -> BenchCell:
    lr = 10.0 if steps == 1 else 3.0          # as the `decompose` and `comp-*` presets
    cell = BenchCell(f"liu2022 lll {estimator} |tau|={batch} K={steps}", "tabular", estimator, {"split": "lll"},
                     batch=batch, steps=steps, lr=lr, critic="noisy")
    return replace(cell, **changes)


def _lirpg_cell(estimator: str, batch: int, steps: int, kernel: str) -> BenchCell:
    """A cell of the `lirpg` preset: intrinsic reward, split ele, GAE λ = 0.9, critic of r + η differentiated."""
    return BenchCell(f"lirpg ele {estimator} |tau|={batch} K={steps} {kernel}", "tabular", estimator,
                     {"split": "ele", "gae_lambda": 0.9, "detach_critic": False}, batch=batch, steps=steps, lr=10.0,
                     critic="noisy", kernel=kernel, meta_parameter="intrinsic")


def reference_cells(quick: bool) -> list[BenchCell]:
    """The fixed reference cells: liu2022 (split `lll`, loaded and dice) at |τ| ∈ {32, 256}
    x K ∈ {1, 6}, each with the numpy and then the compiled kernel; one `lirpg` cell (maml,
    |τ| = 64, K = 3: GAE and the differentiated critic) with both kernels; the compiled kernel's
    first-call cost (from the disk cache; also cold unless `quick`); the toy at N = 64; the
    exact meta-gradient at K = 6; the per-trajectory reference (`benchmark.bench.reference`);
    and the scaling axes (first estimator only when `quick`)."""
    estimators = LIU2022_ESTIMATORS
    cells = [_liu2022_cell(name, batch, steps, kernel=kernel, name=f"{_liu2022_cell(name, batch, steps).name} {kernel}")
             for name in estimators for batch in (32, 256) for steps in (1, 6) for kernel in KERNELS]
    cells += [_lirpg_cell("maml", 64, 3, kernel) for kernel in KERNELS]
    cells.append(BenchCell("compile: load the cached kernels (every new worker)", "compile"))
    if not quick:   # ~15 s of compiling
        cells.append(BenchCell("compile: cold, empty cache (first run on a machine)", "compile",
                               parameters={"cold": True}))
    cells += [BenchCell(f"toy {name} N=64", "toy", name, batch=64) for name in TOY_ESTIMATORS]
    cells.append(BenchCell("exact meta_gradient liu2022 K=6", "exact", None, steps=6, lr=3.0, repetitions=1))
    cells.append(BenchCell("reference sf (per-trajectory loops) |tau|=32 K=1", "reference", "sf",
                           batch=32, steps=1, lr=10.0, critic="none"))
    for name in estimators[:1] if quick else estimators:
        base = _liu2022_cell(name, 32, 1)
        cells.append(replace(base, name=f"scaling {base.name.split(' |tau|')[0]}", kind="scaling"))
    return cells


def scaled_cell(cell: BenchCell, axis: str, value: int) -> BenchCell:
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
