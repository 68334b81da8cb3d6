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

import functools
import inspect
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from benchmark.sweeps.records import Cell, stable_hash, Sweep
from benchmark.sweeps.vocabulary import BLOCK_REPETITIONS
from estimators import LolaProblem, MetaProblem, ToyProblem, get_estimator
from estimators.bandit.problem import BanditLifetimeProblem
from mdps import BanditDistribution, GaussianToy, IteratedPrisonersDilemma, random_mdp
from mdps.ipd import exact_lola_training

ESTIMATES, BOOTSTRAP, SIGMA_IN = 0, 1, 2
# Bootstrap units per block: a block's repetitions are iid, so splitting it keeps the units
# exchangeable, and a short cell (a --quick one has 4 blocks) still gets 32 units, not 4.
UNITS_PER_BLOCK = 8
MEMORY_BUDGET_BYTES = 512 * 2**20   # per estimator call; cells must stay well under 2 GB
N_BOOTSTRAP = 1000
# What a stored cell's numbers mean: a cell stored under another version is computed again
# (`cell_code_hash`). 2: the bias against a target estimated with error accounts for that
# error (`benchmark.analysis.statistics.with_target_error`); 3: so does its mse, and `corr`
# counts an estimate zero up to rounding as constant (`statistics.ROUNDING_FLOOR`).
RECORD_VERSION = 3
SIGMA_IN_REPETITIONS = 4096
SAMPLE_SIZE_PARAMETERS = ("batch", "n_inner", "n_hessian", "n_outer")

Problem = MetaProblem | ToyProblem | LolaProblem | BanditLifetimeProblem


@dataclass(frozen=True)
class Target:
    """The quantity a cell's estimates are compared with.

    Attributes:
      value: the target, the shape of one estimate.
      standard_error: its standard error when it is itself an estimate, else None.
      method: how it was obtained (`exact`, `enumeration`, `reference sf estimate ...`).
    """

    value: np.ndarray
    standard_error: float | None
    method: str


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
    """Rough peak memory of one repetition in an estimator call, with a safety factor of 2.

    Tabular: the estimators hold one batch of |tau| x T transitions at a time, about
    16 (4 + 2A) bytes each (indices, rewards, scores, products; measured ~250 B for
    liu2022), plus K + 2 parameter-sized arrays. Toy: four float64 arrays of N samples.
    """
    if sweep.problem.kind == "gaussian_toy":
        return 2 * 8 * 4 * int(cell.axis("N", 1))
    if sweep.problem.kind == "bandit":   # θ, T (2 columns), pulls x arms draws, x 4 lifetimes (fd), x 2
        problem = sweep.problem.values
        return 2 * 4 * 8 * int(problem["n_arms"]) * (4 + int(problem["pulls"]))
    parameters = _all_parameters(sweep, cell)
    if sweep.problem.kind == "ipd":            # 2 rows (players) x the largest batch or buffer, ~20 arrays
        games = max([int(parameters[name]) for name in (*SAMPLE_SIZE_PARAMETERS, "buffer")
                     if isinstance(parameters.get(name), int) and not isinstance(parameters.get(name), bool)] or [1])
        return 2 * 2 * games * int(sweep.problem.values["rollout_length"]) * 160
    problem = sweep.problem.values
    trajectories = max([int(parameters[name]) for name in SAMPLE_SIZE_PARAMETERS
                        if isinstance(parameters.get(name), int) and not isinstance(parameters.get(name), bool)]
                       or [1])
    transitions = trajectories * int(problem["rollout_length"])
    dimension = int(problem["n_states"]) * int(problem["n_actions"])
    return 2 * (16 * (4 + 2 * int(problem["n_actions"])) * transitions
                + 8 * 4 * dimension * (int(cell.axis("steps", 1)) + 2))


def blocks(sweep: Sweep, cell: Cell) -> list[int]:
    """The sizes of the blocks of repetitions of a cell (all `block_size` but the last)."""
    size = block_size(sweep, cell)
    full, rest = divmod(sweep.repetitions, size)
    return [size] * full + ([rest] if rest else [])


# ----------------------------------------------------------------------------- problems and targets

def build_problem(sweep: Sweep, cell: Cell, *, kernel: str = "compiled") -> Problem:
    """The problem of a cell: the Gaussian toy at θ with N samples, K inner steps of size α
    on the tabular MDP of seed `mdp_seed` from θ_0 = 0 (sampled with `kernel`), or LOLA with
    K look-ahead steps of size α on the IPD at the point `ipd_point` (zeros, or given by the
    problem seed `mdp_seed`)."""
    values = sweep.problem.values
    if sweep.problem.kind == "gaussian_toy":
        toy = GaussianToy(sigma=values["sigma"], c=values["c"])
        return ToyProblem(toy, theta=values["theta"], n_samples=int(cell.axis("N")))
    if sweep.problem.kind == "ipd":
        game = IteratedPrisonersDilemma(values["gamma"], values["horizon"])
        theta1, theta2 = ipd_point(values["theta"], cell.mdp_seed, game)
        return LolaProblem(game, theta1, theta2,
                           steps=int(cell.axis("steps")), lr=float(cell.axis("lr")),
                           rollout_length=values["rollout_length"], critic=values["critic"], kernel=kernel)
    if sweep.problem.kind == "bandit":
        return _bandit_problem(tuple(sorted(values.items())), cell.mdp_seed,
                               (float(cell.axis("eta0")), float(cell.axis("eta1"))))
    mdp = _tabular_mdp(tuple(sorted(values.items())), cell.mdp_seed)
    return MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=int(cell.axis("steps")),
                       lr=float(cell.axis("lr")), meta_parameter=sweep.meta_parameter,
                       rollout_length=values["rollout_length"], critic=values["critic"],
                       critic_noise=values["critic_noise"], kernel=kernel)


def ipd_point(theta: str, seed: int | None, game: IteratedPrisonersDilemma) -> tuple[np.ndarray, np.ndarray]:
    """The IPD evaluation point: both players' logits zero (`zeros`, where LOLA training
    starts); θ₁, θ₂ ~ N(0, I₅) from `SeedSequence(seed)` (`random`, the problem seed); or the
    pair after `seed` updates of exact LOLA training on `game` from zero (`training`: Adam
    0.1, K = 1, α = 0.3, Liu et al.'s loop with exact meta-gradients)."""
    if theta == "zeros":
        return np.zeros(5), np.zeros(5)
    if theta == "training":
        point = _training_point(game.gamma, game.horizon, int(seed))
        return point[0].copy(), point[1].copy()
    draw = np.random.default_rng(np.random.SeedSequence(int(seed))).standard_normal((2, 5))
    return draw[0], draw[1]


@functools.lru_cache(maxsize=64)
def _training_point(gamma: float, horizon: int | None, updates: int) -> np.ndarray:
    return exact_lola_training(IteratedPrisonersDilemma(gamma, horizon), updates)[-1]


@functools.lru_cache(maxsize=64)
def _tabular_mdp(fields: tuple[tuple[str, Any], ...], seed: int):
    values = dict(fields)
    return random_mdp(values["n_states"], values["n_actions"], seed=seed, gamma=values["gamma"],
                      horizon=values["horizon"], concentration=values["concentration"],
                      reward=values["reward"], initial=values["initial"])


@functools.lru_cache(maxsize=256)
def _bandit_problem(fields: tuple[tuple[str, Any], ...], seed: int, eta: tuple[float, float]) -> BanditLifetimeProblem:
    """The bandit lifetime of a cell: tasks of the distribution, fresh per repetition
    (`task_count = 0`) or a fixed set of `task_count` tasks drawn from the problem seed."""
    values = dict(fields)
    tasks = BanditDistribution(values["n_arms"], values["arm_law"], values["low"], values["high"], values["noise"])
    task_set = tasks.task_set(seed, values["task_count"]) if values["task_count"] else None
    return BanditLifetimeProblem(tasks=tasks, eta=np.array(eta), lifetime=values["lifetime"], cutoff=values["cutoff"],
                                 batch=values["pulls"], objective=values["objective"], task_set=task_set)


def compute_target(sweep: Sweep, cell: Cell, problem: Problem) -> Target:
    """The cell's target: the exact gradient on the toy (both targets coincide there), the
    exact meta-gradient (ideal) or `estimators.tabular.enumeration.practical_target` (practical);
    for bandits `_bandit_target` (ideal, practical, or Vuorio et al.'s fd)."""
    if isinstance(problem, ToyProblem):
        return Target(problem.exact_gradient(), None, "exact")
    if isinstance(problem, BanditLifetimeProblem):
        return _bandit_target(sweep, cell, problem)
    if sweep.target == "ideal":
        return Target(problem.exact_meta_gradient(), None, "exact")
    return _practical_target(sweep, cell, problem)


def _practical_target(sweep: Sweep, cell: Cell, problem: MetaProblem) -> Target:
    from estimators.tabular.enumeration import practical_target

    parameters = _all_parameters(sweep, cell)
    batch = parameters.get("n_inner") or parameters.get("batch")
    if not isinstance(batch, int):
        raise ValueError(f"target: 'practical' needs the inner batch size, but estimator "
                         f"{cell.estimator!r} has no 'batch' parameter")
    key = (tuple(sorted(sweep.problem.values.items())), cell.mdp_seed, int(cell.axis("steps")),
           float(cell.axis("lr")), sweep.meta_parameter, batch, sweep.seed)
    size = sweep.problem.values.get("reference_repetitions")      # else practical_target's default
    options = {} if size is None else {"reference_repetitions": size}
    return _cached_practical_target(key, lambda: practical_target(problem, batch=batch, seed=sweep.seed, **options))


_PRACTICAL_CACHE: dict[tuple, Target] = {}


def _cached_practical_target(key: tuple, compute: Callable[[], tuple]) -> Target:
    """One practical target per (problem, batch, seed) and process: every estimator of a grid
    point is compared with the same reference (which may itself be an estimate, of
    `problem.reference_repetitions` sf estimates when the sweep sets it); `compute` gives
    (value, standard error, method) on a miss."""
    target = _PRACTICAL_CACHE.get(key)
    if target is None:
        value, standard_error, method = compute()
        target = Target(np.asarray(value, dtype=float), standard_error, str(method))
        if len(_PRACTICAL_CACHE) > 64:
            _PRACTICAL_CACHE.clear()
        _PRACTICAL_CACHE[key] = target
    return target


_BANDIT_TARGETS: dict[tuple, Target] = {}


@functools.lru_cache(maxsize=1)
def _code_version() -> str:
    """Hash of the modules that compute bandit targets: a code change invalidates the disk cache."""
    import estimators.bandit.enumeration
    import estimators.bandit.lifetime
    import estimators.bandit.vuorio

    files = [Path(module.__file__) for module in
             (estimators.bandit.enumeration, estimators.bandit.lifetime, estimators.bandit.vuorio)]
    files.append(files[1].with_name("kernels.py"))       # read, not imported (numba)
    return stable_hash("".join(path.read_text(encoding="utf-8") for path in files))


def _bandit_target(sweep: Sweep, cell: Cell, problem: BanditLifetimeProblem) -> Target:
    """One target per (problem, η, target, seed) and process, mean over tasks with its standard
    error (the root of the summed coordinate variances):

    - `ideal`: each task's exact meta-gradient with exact inner steps (`problem.ideal_target`,
      over the fixed task set, or 4000 tasks drawn from the problem seed);
    - `practical`: exact by enumeration when rewards are noise-free, the tasks a fixed set and
      the paths few; else `estimators.tabular.vuorio.reference_target` (`reference_runs` unbiased lifetimes);
    - `fd`: Vuorio et al.'s ground truth, `estimators.tabular.vuorio.fd_ground_truth` (`fd_runs`,
      `fd_epsilon`, common random numbers).
    """
    from estimators.bandit.enumeration import lifetime_target_by_enumeration
    from estimators.bandit.vuorio import fd_ground_truth, reference_target

    values = sweep.problem.values
    key = (tuple(sorted(values.items())), cell.mdp_seed, cell.axis("eta0"), cell.axis("eta1"), sweep.target,
           sweep.seed)
    target = _BANDIT_TARGETS.get(key)
    if target is not None:
        return target
    seed = int(stable_hash(repr(key))[:8], 16)
    cache = Path(tempfile.gettempdir()) / f"mgbench-bandit-target-{stable_hash(repr(key) + _code_version())[:24]}.json"
    if cache.exists():    # a deterministic function of the key: computed once per machine, not per worker
        stored = json.loads(cache.read_text())
        target = Target(np.asarray(stored["value"], float), stored["standard_error"], stored["method"])
        _BANDIT_TARGETS[key] = target
        return target
    if sweep.target == "ideal":
        value, error = problem.ideal_target(seed=cell.mdp_seed or 0, task_count=4000)
        method = "exact" if problem.task_set is not None else "exact, mean over 4000 tasks"
    elif sweep.target == "fd":
        value, error = fd_ground_truth(problem, runs=values["fd_runs"], epsilon=values["fd_epsilon"], seed=seed)
        method = f"fd with common random numbers (runs={values['fd_runs']}, ε={values['fd_epsilon']})"
    elif (problem.tasks.noise == 0 and problem.task_set is not None
          and len(problem.task_set) * (problem.n_arms ** problem.batch) ** problem.lifetime <= 2_000_000):
        value, error, method = lifetime_target_by_enumeration(problem), np.zeros(2), "enumeration"
    else:
        value, error = reference_target(problem, runs=values["reference_runs"], seed=seed,
                                        standard_error=values.get("reference_se", 0.0))
        method = (f"reference estimate (runs={values['reference_runs']})" if not values.get("reference_se") else
                  f"reference estimate (standard error {values['reference_se']:g} per η, at most "
                  f"{values['reference_runs']} runs)")
    standard_error = float(np.sqrt(np.sum(np.asarray(error) ** 2)))
    target = Target(np.asarray(value, float), standard_error if standard_error > 0 else None, method)
    if len(_BANDIT_TARGETS) > 256:
        _BANDIT_TARGETS.clear()
    _BANDIT_TARGETS[key] = target
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(json.dumps({"value": target.value.tolist(), "standard_error": target.standard_error,
                                   "method": target.method}))
    os.replace(partial, cache)       # atomic: a reader sees the whole file or none
    return target


def inner_gradient_sigma(sweep: Sweep, cell: Cell, problem: Problem) -> float:
    """σ_in, the standard deviation (root of the trace of the covariance) of the one-trajectory
    inner-gradient estimate at θ_0; nan for the toy only.

    How the inner gradient is formed (`inner_gradient_source`): the estimator's own
    surrogate family (dice, loaded, lvc, maml, first_order; `exact`: 0), else what it
    declares through `@register(..., inner_gradient=...)` (a family, or a function
    `(problem, repetitions, rng) -> (R, S, A)`), else the problem's standard inner
    policy-gradient estimate at the same critic, γᵗ A_t ∇log π (the `maml` family's ĝ).

    It depends on the problem instance and that estimate only (not on K, α or the
    batch), so it is drawn from a generator keyed by those alone and cached per process:
    every cell of a grid line gets the same σ_in, as a bound fit along the line needs.
    """
    if not isinstance(problem, MetaProblem):
        return math.nan
    from estimators.tabular.split import inner_gradient_std

    spec = get_estimator(cell.estimator, sweep.problem.kind)
    family, function = inner_gradient_family(spec)
    accepted = inspect.signature(inner_gradient_std).parameters
    parameters = tuple(sorted((name, value) for name, value in _all_parameters(sweep, cell).items()
                              if name in accepted and name not in ("problem", "family", "rng", "repetitions")))
    key = (sweep.seed, tuple(sorted(sweep.problem.canonical().items())), cell.mdp_seed, sweep.meta_parameter,
           cell.estimator, parameters)
    value = _SIGMA_CACHE.get(key)
    if value is None:
        seed_key = int(stable_hash(repr(key))[:16], 16)
        rng = np.random.default_rng(np.random.SeedSequence(entropy=sweep.seed, spawn_key=(seed_key, SIGMA_IN)))
        if function is not None:
            gradients = np.asarray(function(problem, SIGMA_IN_REPETITIONS, rng), dtype=float)
            gradients = gradients.reshape(SIGMA_IN_REPETITIONS, -1)
            value = float(np.sqrt(gradients.var(axis=0, ddof=1).sum()))
        else:
            value = float(inner_gradient_std(problem, family, rng, repetitions=SIGMA_IN_REPETITIONS,
                                             **dict(parameters)))
        if not math.isfinite(value):
            raise ValueError(f"sigma_in: the inner-gradient estimate of {cell.estimator!r} "
                             f"({inner_gradient_source(spec)}) is not finite")
        if len(_SIGMA_CACHE) > 256:
            _SIGMA_CACHE.clear()
        _SIGMA_CACHE[key] = value
    return value


STANDARD_INNER_FAMILY = "maml"   # ĝ = Σ_t γᵗ A_t ∇log π_t with the problem's critic


def inner_gradient_family(spec) -> tuple[str, Any]:
    """(surrogate family or `exact`, declared function or None) that forms σ_in for `spec`."""
    from estimators.tabular.surrogates import FAMILIES

    if spec.name in FAMILIES or spec.name == "exact":
        return spec.name, None
    declared = getattr(spec, "inner_gradient", None)
    if callable(declared):
        return "", declared
    if declared is not None:
        if declared not in FAMILIES:
            raise ValueError(f"inner_gradient: estimator {spec.name!r} declares {declared!r}; expected one of "
                             f"{FAMILIES} or a function (problem, repetitions, rng) -> (R, S, A)")
        return declared, None
    return STANDARD_INNER_FAMILY, None


def inner_gradient_source(spec) -> str:
    """In words: how σ_in's inner gradient is formed for `spec` (for the report pages)."""
    family, function = inner_gradient_family(spec)
    if family == spec.name:
        return f"its own {family} inner gradient" if family != "exact" else "exact inner steps (σ_in = 0)"
    if function is not None:
        return f"the inner-gradient function it declares ({getattr(function, '__name__', 'function')})"
    if getattr(spec, "inner_gradient", None) is not None:
        return f"the {family} inner gradient it declares"
    return ("the problem's standard inner policy-gradient estimate γᵗ A_t ∇log π with the problem's critic "
            "(it declares none)")


_SIGMA_CACHE: dict[tuple, float] = {}


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
            groups = target.value.shape[0] if sweep.problem.kind == "ipd" else 1      # one 5-vector per player
            statistics = CellStatistics(target.value, corr_groups=groups)
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
    for name, value in summary.items():
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
