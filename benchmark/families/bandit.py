"""The bandit family: Vuorio et al.'s learned learning-rate schedule η ∈ R² on K-armed bandit tasks
over a lifetime (their 30 arms with means exp(U(−100, 1)), reward noise 2, 10 pulls per step,
lifetime 80), the meta-parameter `lr_schedule`, three targets (ideal, practical, and their
finite-difference ground truth `fd`). Estimates have shape `(2,)`."""
from __future__ import annotations

import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmark.families.family import CompareSuite, Family, Target, stable_hash
from benchmark.families.schema import SweepError, expect_choice, expect_int, expect_number
from estimators import BanditLifetimeProblem
from estimators.sources import code_hash
from mdps import BanditDistribution

# K-armed bandit tasks over a lifetime with a learned learning-rate schedule (Vuorio et al.):
# the task law, the reward noise, the lifetime and its cutoff, pulls per inner step, the
# objective, the tasks (0 = a fresh task per repetition, M = a fixed set of M tasks drawn from
# the problem seed) and the run counts of the practical (reference) and fd targets; reference_se > 0:
# the reference's lifetimes per η chosen by a pilot for that standard error (at most reference_runs).
FIELDS = ("n_arms", "arm_law", "low", "high", "noise", "lifetime", "cutoff", "pulls", "objective",
          "task_count", "reference_runs", "reference_se", "fd_runs", "fd_epsilon")
ARM_LAWS = ("exp_uniform", "uniform", "normal")
OBJECTIVES = ("lifetime", "final")
DEFAULTS: dict[str, Any] = {"n_arms": 30, "arm_law": "exp_uniform", "low": -100.0, "high": 1.0,
                            "noise": 2.0, "lifetime": 80, "cutoff": None, "pulls": 10,
                            "objective": "lifetime", "task_count": 0, "reference_runs": 100_000,
                            "reference_se": 0.0, "fd_runs": 100_000, "fd_epsilon": 0.01}
QUICK_TARGET_RUNS = 2000
ENUMERATION_LIMIT = 2_000_000   # tasks x paths of an exactly enumerated practical target
IDEAL_TASKS = 4000              # fresh tasks averaged by the ideal target without a fixed task set
COMPARE_REPETITIONS = 1000


def bandit_field(name: str, value: Any) -> Any:
    """One `[problem]` field of a bandit problem, checked; a `SweepError` names it."""
    path = f"problem.{name}"
    if name in ("n_arms", "lifetime", "pulls", "reference_runs", "fd_runs"):
        return expect_int(path, value, minimum=1, what="a positive integer")
    if name in ("cutoff", "task_count"):
        return expect_int(path, value, minimum=0, what="a non-negative integer")
    if name in ("low", "high"):
        return expect_number(path, value, what="a finite number")
    if name in ("noise", "reference_se"):
        noise = expect_number(path, value, what="a non-negative number")
        if noise < 0:
            raise SweepError(f"{path}: expected a non-negative number, got {value!r}")
        return noise
    if name == "fd_epsilon":
        return expect_number(path, value, positive=True, what="a positive number")
    return expect_choice(path, value, {"arm_law": ARM_LAWS, "objective": OBJECTIVES}[name])


@functools.lru_cache(maxsize=256)
def bandit_problem(fields: tuple[tuple[str, Any], ...], seed: int, eta: tuple[float, float]) -> BanditLifetimeProblem:
    """The bandit lifetime of a cell: tasks of the distribution, fresh per repetition
    (`task_count = 0`) or a fixed set of `task_count` tasks drawn from the problem seed."""
    values = dict(fields)
    tasks = BanditDistribution(values["n_arms"], values["arm_law"], values["low"], values["high"], values["noise"])
    task_set = tasks.task_set(seed, values["task_count"]) if values["task_count"] else None
    return BanditLifetimeProblem(tasks=tasks, eta=np.array(eta), lifetime=values["lifetime"], cutoff=values["cutoff"],
                                 batch=values["pulls"], objective=values["objective"], task_set=task_set)


@functools.lru_cache(maxsize=1)
def target_code_hash() -> str:
    """The code hash of everything that computes a bandit target (`estimators.sources.code_hash`:
    the bandit estimators, lifetimes and enumeration, and the `mdps` modules they import, among
    them `mdps.bandits` and `mdps.meta`): it keys the on-disk cache of targets."""
    from estimators.bandit.enumeration import lifetime_target_by_enumeration
    from estimators.bandit.vuorio import fd_ground_truth, reference_target

    return code_hash(lifetime_target_by_enumeration, fd_ground_truth, reference_target, BanditLifetimeProblem)


class BanditFamily(Family):
    name = "bandit"
    description = "Vuorio et al.'s bandit lifetimes with a learned learning-rate schedule η ∈ R²"
    fields = FIELDS
    seeds_always_written = True
    meta_parameters = ("lr_schedule",)
    targets = ("ideal", "practical", "fd")
    problem_axes = ("eta0", "eta1")
    foreign_axes = {axis: "expected estimator, eta0, eta1 or estimator parameters; the pulls per step are "
                          "problem.pulls" for axis in ("split", "steps", "lr", "batch", "N")}
    estimate_shape = "(R, 2): estimates of ∇_η of the lifetime (or final) objective"
    compare = CompareSuite(
        baselines=("truncated", "dice", "es"), primary="eta0",
        axes={"eta0": {"eta0": [0.5, 1.5, 2.5], "eta1": 1.5}},
        problem={"kind": "bandit", "reference_runs": 20_000, "fd_runs": 20_000, "n_mdps": 1},
        repetitions=COMPARE_REPETITIONS, target="practical", meta_parameter="lr_schedule",
        setting="Vuorio et al.'s noisy 30-armed bandit, lifetime 80, 10 pulls per step, the lifetime objective, "
                "against mgbench's unbiased reference target (practical)")

    def parse_problem(self, table):
        overrides = tuple(name for name in FIELDS if name in table)
        values = {**DEFAULTS, **{name: bandit_field(name, table[name]) for name in overrides}}
        if values["cutoff"] is not None and values["cutoff"] > values["lifetime"]:
            raise SweepError(f"problem.cutoff: expected an integer in [0, lifetime = {values['lifetime']}], "
                             f"got {values['cutoff']!r}")
        if values["arm_law"] in ("exp_uniform", "uniform") and not values["low"] < values["high"]:
            raise SweepError(f"problem.low: expected low < high, got {values['low']!r}, {values['high']!r}")
        return values, None, overrides

    def quick(self, grid, values):
        """A smoke test: the middle η only, targets of `QUICK_TARGET_RUNS` runs."""
        grid = tuple((axis, values_[len(values_) // 2:len(values_) // 2 + 1] if axis in self.problem_axes
                      else values_) for axis, values_ in grid)
        return grid, {**values, "reference_runs": min(values["reference_runs"], QUICK_TARGET_RUNS),
                      "fd_runs": min(values["fd_runs"], QUICK_TARGET_RUNS)}

    def bench_call(self, cell):
        """The estimator on `vuorio2022-bandit` at η = (1.5, 1.5) (lifetime `cell.rollout_length`, pulls
        `cell.batch`); `reference`: the reference target's estimator (`estimators.bandit.vuorio`)."""
        from estimators import get_estimator
        from estimators.bandit.vuorio import reference_estimates

        problem = BanditLifetimeProblem(eta=np.array([1.5, 1.5]), lifetime=cell.rollout_length, batch=cell.batch,
                                        kernel=cell.kernel)
        if cell.estimator == "reference":
            return lambda repetitions, rng: reference_estimates(problem, repetitions, rng)
        estimator = get_estimator(cell.estimator, self.name)
        return lambda repetitions, rng: estimator(problem, repetitions, rng, **cell.parameters)

    def bench_samplers(self, cell):
        """Pulls: every arm drawn in a simulated lifetime, K·N per lifetime, counted on the results
        of `sampled_lifetimes` (the compiled path skips the steps after a window, which change
        nothing; they are counted as the numpy path runs them)."""
        from estimators.bandit.lifetime import sampled_lifetimes

        per_lifetime = int(cell.rollout_length) * int(cell.batch)
        return [(sampled_lifetimes, lambda outcome: outcome.fitness.size * per_lifetime, None, None)]

    def bench_samples_per_repetition(self, cell):
        return int(cell.rollout_length) * int(cell.batch)

    def bytes_per_repetition(self, values, parameters, cell):
        """θ, T (2 columns), pulls x arms draws, x 4 lifetimes (fd), x 2."""
        return 2 * 4 * 8 * int(values["n_arms"]) * (4 + int(values["pulls"]))

    def build_problem(self, values, cell, meta_parameter, kernel):
        return bandit_problem(tuple(sorted(values.items())), cell.mdp_seed,
                              (float(cell.axis("eta0")), float(cell.axis("eta1"))))

    def target(self, sweep, cell, problem, parameters):
        """One target per (problem, η, target, seed), mean over tasks with its standard error (the
        root of the summed coordinate variances), computed once per machine (a deterministic
        function of its key and of the code that computes it, `target_code_hash`):

        - `ideal`: each task's exact meta-gradient with exact inner steps (`problem.ideal_target`,
          over the fixed task set, or `IDEAL_TASKS` tasks drawn from the problem seed);
        - `practical`: exact by enumeration when rewards are noise-free, the tasks a fixed set and
          the paths few; else `estimators.bandit.vuorio.reference_target` (`reference_runs` unbiased lifetimes);
        - `fd`: Vuorio et al.'s ground truth, `estimators.bandit.vuorio.fd_ground_truth` (`fd_runs`,
          `fd_epsilon`, common random numbers).
        """
        values = sweep.problem.values
        key = (tuple(sorted(values.items())), cell.mdp_seed, cell.axis("eta0"), cell.axis("eta1"), sweep.target,
               sweep.seed)
        target = _TARGETS.get(key)
        if target is not None:
            return target
        cache = Path(tempfile.gettempdir()) / f"mgbench-bandit-target-{stable_hash(repr(key) + target_code_hash())[:24]}.json"
        if cache.exists():    # computed once per machine, not per worker
            stored = json.loads(cache.read_text())
            target = Target(np.asarray(stored["value"], float), stored["standard_error"], stored["method"])
        else:
            target = _compute_target(sweep.target, values, problem, cell.mdp_seed, int(stable_hash(repr(key))[:8], 16))
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps({"value": target.value.tolist(), "standard_error": target.standard_error,
                                           "method": target.method}))
            os.replace(partial, cache)       # atomic: a reader sees the whole file or none
        if len(_TARGETS) > 256:
            _TARGETS.clear()
        _TARGETS[key] = target
        return target


_TARGETS: dict[tuple, Target] = {}


def _compute_target(kind: str, values: dict[str, Any], problem: BanditLifetimeProblem, mdp_seed: int | None,
                    seed: int) -> Target:
    from estimators.bandit.enumeration import lifetime_target_by_enumeration
    from estimators.bandit.vuorio import fd_ground_truth, reference_target

    if kind == "ideal":
        value, error = problem.ideal_target(seed=mdp_seed or 0, task_count=IDEAL_TASKS)
        method = "exact" if problem.task_set is not None else f"exact, mean over {IDEAL_TASKS} tasks"
    elif kind == "fd":
        value, error = fd_ground_truth(problem, runs=values["fd_runs"], epsilon=values["fd_epsilon"], seed=seed)
        method = f"fd with common random numbers (runs={values['fd_runs']}, ε={values['fd_epsilon']})"
    elif (problem.tasks.noise == 0 and problem.task_set is not None
          and len(problem.task_set) * (problem.n_arms ** problem.batch) ** problem.lifetime <= ENUMERATION_LIMIT):
        value, error, method = lifetime_target_by_enumeration(problem), np.zeros(2), "enumeration"
    else:
        value, error = reference_target(problem, runs=values["reference_runs"], seed=seed,
                                        standard_error=values.get("reference_se", 0.0))
        method = (f"reference estimate (runs={values['reference_runs']})" if not values.get("reference_se") else
                  f"reference estimate (standard error {values['reference_se']:g} per η, at most "
                  f"{values['reference_runs']} runs)")
    standard_error = float(np.sqrt(np.sum(np.asarray(error) ** 2)))
    return Target(np.asarray(value, float), standard_error if standard_error > 0 else None, method)


FAMILY = BanditFamily()
