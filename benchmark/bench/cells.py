"""The reference cells of `mgbench bench`: what is measured (`BenchCell`), on which problems,
the values of the scaling axes, and what a measurement gives (`BenchResult`, `ScalingFit`).
How they are measured is in `benchmark.bench`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
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
      kind: `estimator` (a registered estimator of the problem family `family`, on the family's
        bench problem: `Family.bench_call` of `benchmark.families`), `compile` (numba's first-call cost of the compiled kernel: `parameters["cold"]` True
        with an empty cache, else loading the on-disk cache as every new worker does),
        `exact` (`mdps.meta_gradient`), `reference` (vectorized `sf` and its per-trajectory
        reference) or `scaling` (one axis of the scaling study).
      family: the problem family of an `estimator` cell (`tabular`, `gaussian_toy`, ...).
      estimator: registered estimator name (None for `exact`).
      parameters: keyword parameters of the estimator call.
      batch: |τ| (tabular) or N (toy).
      steps: K inner steps; lr: α.
      rollout_length: T; critic: `none`, `exact` or `noisy`.
      n_states, n_actions: S and A (`liu2022_mdp(0)` when 20 x 5, else `random_mdp` with
        the same law).
      repetitions: R per call.
      axis: kind `scaling` only: one axis of `SCALING_VALUES`, or None for all of them.
      kernel: `compiled` or `numpy` (the problem's `kernel`) for estimator cells.
      meta_parameter: `init` or `intrinsic` (LIRPG) for tabular cells.
      plugin: a module or `.py` file to import before the estimator is looked up (the
        autodiff surrogates, `benchmark.bench.autodiff`), or None.
    """

    name: str
    kind: str
    estimator: str | None = None
    family: str = "tabular"
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
    cell = BenchCell(f"liu2022 lll {estimator} |tau|={batch} K={steps}", "estimator", estimator, parameters={"split": "lll"},
                     batch=batch, steps=steps, lr=lr, critic="noisy")
    return replace(cell, **changes)


def _lirpg_cell(estimator: str, batch: int, steps: int, kernel: str) -> BenchCell:
    """A cell of the `lirpg` preset: intrinsic reward, split ele, GAE λ = 0.9, critic of r + η differentiated."""
    return BenchCell(f"lirpg ele {estimator} |tau|={batch} K={steps} {kernel}", "estimator", estimator,
                     parameters={"split": "ele", "gae_lambda": 0.9, "detach_critic": False}, batch=batch, steps=steps, lr=10.0,
                     critic="noisy", kernel=kernel, meta_parameter="intrinsic")


def reference_cells(quick: bool) -> list[BenchCell]:
    """The fixed reference cells: liu2022 (split `lll`, loaded and dice) at |τ| ∈ {32, 256}
    x K ∈ {1, 6}, each with the numpy and then the compiled kernel; one `lirpg` cell (maml,
    |τ| = 64, K = 3: GAE and the differentiated critic) with both kernels; the compiled kernel's
    first-call cost (from the disk cache; also cold unless `quick`); the toy at N = 64; the
    exact meta-gradient at K = 6; the per-trajectory reference (`benchmark.bench.reference`);
    the scaling axes (first estimator only when `quick`); and the bandit and IPD cells
    (`bandit_cells`, `ipd_cells`), each with both kernels."""
    estimators = LIU2022_ESTIMATORS
    cells = [_liu2022_cell(name, batch, steps, kernel=kernel, name=f"{_liu2022_cell(name, batch, steps).name} {kernel}")
             for name in estimators for batch in (32, 256) for steps in (1, 6) for kernel in KERNELS]
    cells += [_lirpg_cell("maml", 64, 3, kernel) for kernel in KERNELS]
    cells.append(BenchCell("compile: load the cached kernels (every new worker)", "compile"))
    if not quick:   # ~15 s of compiling
        cells.append(BenchCell("compile: cold, empty cache (first run on a machine)", "compile",
                               parameters={"cold": True}))
    cells += [BenchCell(f"toy {name} N=64", "estimator", name, family="gaussian_toy", batch=64)
              for name in TOY_ESTIMATORS]
    cells.append(BenchCell("exact meta_gradient liu2022 K=6", "exact", None, steps=6, lr=3.0, repetitions=1))
    cells.append(BenchCell("reference sf (per-trajectory loops) |tau|=32 K=1", "reference", "sf",
                           batch=32, steps=1, lr=10.0, critic="none"))
    for name in estimators[:1] if quick else estimators:
        base = _liu2022_cell(name, 32, 1)
        cells.append(replace(base, name=f"scaling {base.name.split(' |tau|')[0]}", kind="scaling"))
    cells += bandit_cells(quick) + ipd_cells()
    return cells


BANDIT_LIFETIME, BANDIT_PULLS, BANDIT_REPETITIONS = 80, 10, 500   # the vuorio2022-bandit preset; estimates per call
BANDIT_CELLS = (    # (label, estimator or "reference", parameters): cells of vuorio2022-bandit and its target
    ("truncated L=80 lambda_c=0", "truncated", {"window": 80}),
    ("truncated L=2 lambda_c=0", "truncated", {"window": 2}),
    ("truncated L=41 lambda_c=1", "truncated", {"window": 41, "lambda_c": 1.0}),
    ("dice", "dice", {}),
    ("es L=80", "es", {"window": 80}),
    ("reference target estimates", "reference", {}),
)


def bandit_cells(quick: bool = False) -> list[BenchCell]:
    """Cells of `vuorio2022-bandit` (30 arms, noise 2, lifetime 80, 10 pulls, η = (1.5, 1.5)),
    each with the numpy path and then the compiled kernel: their meta-gradient at two windows
    and with the correction, DiCE, ES, and the reference target's estimator (`reference`). `batch`
    is the pulls per inner step and `rollout_length` the lifetime, so a lifetime is
    `batch × rollout_length` pulls. `quick`: the first cell and the reference's only."""
    chosen = (BANDIT_CELLS[0], BANDIT_CELLS[-1]) if quick else BANDIT_CELLS
    return [BenchCell(f"vuorio2022-bandit {label} {kernel}", "estimator", estimator, "bandit", dict(parameters),
                      batch=BANDIT_PULLS, rollout_length=BANDIT_LIFETIME, repetitions=BANDIT_REPETITIONS, kernel=kernel)
            for label, estimator, parameters in chosen for kernel in KERNELS]


def ipd_cells() -> list[BenchCell]:
    """A cell of `ipd-split` (LOLA-DiCE, split lll, γ = 0.96, T = 100, learned critic, batch 128,
    θ = 0) with the numpy path and then the compiled kernel (`rollout_length` T, `batch` games)."""
    return [BenchCell(f"ipd-split lola_dice lll batch=128 {kernel}", "estimator", "lola_dice", "ipd", {"split": "lll"},
                      batch=128, steps=1, lr=0.3, rollout_length=100, critic="learned", repetitions=16, kernel=kernel)
            for kernel in KERNELS]


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
