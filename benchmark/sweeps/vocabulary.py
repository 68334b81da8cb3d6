"""The vocabulary of sweep files and the checks that turn bad values into one-line `SweepError`s.

Keys, choices, defaults and axis names of the schema documented in `benchmark.sweeps`; every
check raises `SweepError("<key>: <what was expected>, got <value>")`.
"""
from __future__ import annotations

import math
import re
from typing import Any, Iterable, Mapping

from mdps import LIU2022_ROLLOUT_LENGTH


class SweepError(ValueError):
    """A sweep that cannot run; the message is one line, `<key>: <what was expected>`."""


TOP_LEVEL_KEYS = ("name", "description", "seed", "repetitions", "target", "meta_parameter",
                  "problem", "grid", "estimator_params")
TARGETS = ("ideal", "practical", "fd")
META_PARAMETERS = ("init", "intrinsic", "lr_schedule")
REWARD_LAWS = ("uniform", "normal", "bernoulli")
INITIAL_LAWS = ("first", "uniform", "dirichlet")

TABULAR_FIELDS = ("n_states", "n_actions", "gamma", "horizon", "concentration", "reward", "initial",
                  "rollout_length", "critic", "critic_noise", "reference_repetitions")
TOY_FIELDS = ("theta", "sigma", "c")
IPD_FIELDS = ("gamma", "horizon", "rollout_length", "critic", "theta")
IPD_POINTS = ("zeros", "random", "training")
# K-armed bandit tasks over a lifetime with a learned learning-rate schedule (Vuorio et al.):
# the task law, the reward noise, the lifetime and its cutoff, pulls per inner step, the
# objective, the tasks (0 = a fresh task per repetition, M = a fixed set of M tasks drawn from
# the problem seed) and the run counts of the practical (reference) and fd targets; reference_se > 0:
# the reference's lifetimes per η chosen by a pilot for that standard error (at most reference_runs).
BANDIT_FIELDS = ("n_arms", "arm_law", "low", "high", "noise", "lifetime", "cutoff", "pulls", "objective",
                 "task_count", "reference_runs", "reference_se", "fd_runs", "fd_epsilon")
ARM_LAWS = ("exp_uniform", "uniform", "normal")
OBJECTIVES = ("lifetime", "final")
BANDIT_DEFAULTS: dict[str, Any] = {"n_arms": 30, "arm_law": "exp_uniform", "low": -100.0, "high": 1.0,
                                   "noise": 2.0, "lifetime": 80, "cutoff": None, "pulls": 10,
                                   "objective": "lifetime", "task_count": 0, "reference_runs": 100_000,
                                   "reference_se": 0.0, "fd_runs": 100_000, "fd_epsilon": 0.01}
SEED_FIELDS = ("n_mdps", "mdp_seeds")
# Repetitions per estimator call: a cell's R repetitions run in blocks of this size (at most;
# see `benchmark.sweeps.cells.block_size`), and `mgbench bench` times calls of this size.
BLOCK_REPETITIONS = 64
TABULAR_DEFAULTS: dict[str, Any] = {"gamma": 0.9, "horizon": None, "concentration": 1.0,
                                    "reward": "uniform", "initial": "first", "rollout_length": 20,
                                    "critic": "noisy", "critic_noise": 1.0}
TOY_DEFAULTS: dict[str, Any] = {"theta": 0.0, "sigma": 1.0, "c": 1.0}
# Liu et al. (2022), their IPD experiment (docs/ipd.md): γ = 0.96, rollouts of 100 steps, learned
# baselines, both players at θ = 0 (where LOLA training starts)
IPD_DEFAULTS: dict[str, Any] = {"gamma": 0.96, "horizon": None, "rollout_length": 100, "critic": "learned",
                                "theta": "zeros"}
TABULAR_PRESETS: dict[str, dict[str, Any]] = {
    # Liu et al. (2022), their tabular study (docs/methods.md, Problems with exact answers)
    "liu2022": {"n_states": 20, "n_actions": 5, "gamma": 0.8, "horizon": None, "concentration": 0.001,
                "reward": "uniform", "initial": "first", "rollout_length": LIU2022_ROLLOUT_LENGTH,
                "critic": "noisy", "critic_noise": 1.0},
}

ESTIMATOR_AXIS = "estimator"
PROBLEM_AXES = {"tabular": ("steps", "lr"), "gaussian_toy": ("N",), "ipd": ("steps", "lr"), "bandit": ("eta0", "eta1")}
TABULAR_ONLY_AXES = ("split", "steps", "lr", "batch")
SPLIT_PATTERN = re.compile(r"^[el]{3}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
AXIS_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRESET_SUFFIX = ".toml"
SUITE_KEY = "sweeps"
SUITE_KEYS = ("name", "description", SUITE_KEY)
DEFAULT_MAX_CELLS = 100_000      # a larger grid is refused before anything runs (--max-cells)
MAX_STEPS = 1000                 # K: each cell costs O(K) exact steps; more is a typo, not a study
INTEGER_LIMIT = 2**63            # SQLite and numpy int64 hold integers below 2**63

AXIS_EXPECTATIONS: dict[str, str] = {
    "estimator": "a non-empty list of estimator names",
    "split": "a non-empty list of three-letter splits of e (exact) and l (sampled) "
             "for inner, Hessian and outer, e.g. \"lee\"",
    "steps": "a non-empty list of positive integers",
    "lr": "a non-empty list of positive numbers",
    "batch": "a non-empty list of positive integers",
    "N": "a non-empty list of positive integers",
    "eta0": "a non-empty list of numbers (the schedule parameter of the first lifetime/10 steps)",
    "eta1": "a non-empty list of numbers (the schedule parameter of the remaining steps)",
    "n_inner": "a non-empty list of positive integers",
    "n_hessian": "a non-empty list of positive integers",
    "n_outer": "a non-empty list of positive integers",
}
GENERIC_EXPECTATION = "a non-empty list of numbers, booleans or strings"


# ----------------------------------------------------------------------------- checks

def refuse_unknown(prefix: str, table: Mapping[str, Any], known: Iterable[str], *, kind: str | None = None) -> None:
    known = tuple(known)
    for key in table:
        if key not in known:
            scope = f"{kind} problems" if kind else ("the sweep" if not prefix else prefix.rstrip("."))
            raise SweepError(f"{prefix}{key}: unknown key in {scope} (expected one of: {', '.join(known)})")


def expect_table(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SweepError(f"{path}: expected a table [{path}], got {'nothing' if value is None else repr(value)}")
    return value


def expect_name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise SweepError(f"{path}: expected a non-empty name of letters, digits, '.', '_' or '-', "
                         f"got {'nothing' if value is None else repr(value)}")
    return value


def expect_string(path: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise SweepError(f"{path}: expected a string, got {value!r}")
    return value


def expect_int(path: str, value: Any, *, minimum: int, what: str) -> int:
    if not is_int(value) or value < minimum:
        raise SweepError(f"{path}: expected {what}, got {'nothing' if value is None else repr(value)}")
    return int(value)


def expect_number(path: str, value: Any, *, positive: bool = False, what: str) -> float:
    if not is_number(value) or (positive and value <= 0):
        raise SweepError(f"{path}: expected {what}, got {'nothing' if value is None else repr(value)}")
    return float(value)


def expect_choice(path: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices or not isinstance(value, str):
        expected = " or ".join(repr(choice) for choice in choices)
        raise SweepError(f"{path}: expected {expected}, got {'nothing' if value is None else repr(value)}")
    return value


def refuse_huge_integers(path: str, value: Any) -> None:
    """Every integer anywhere in the sweep data must be below 2**63 in magnitude."""
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_huge_integers(f"{path}.{key}" if path else str(key), item)
    elif isinstance(value, list):
        for item in value:
            refuse_huge_integers(path, item)
    elif is_int(value) and abs(value) >= INTEGER_LIMIT:
        raise SweepError(f"{path}: expected an integer below 2**63, got {value!r}")


def check_parameter_type(path: str, values: Iterable[Any], default: Any, estimator: str) -> None:
    """Values must match the type of the registered default (ints accepted for floats)."""
    if default is None:
        return
    if isinstance(default, bool):
        ok, what = all(isinstance(v, bool) for v in values), "booleans"
    elif isinstance(default, int):
        ok, what = all(is_int(v) for v in values), "integers"
    elif isinstance(default, float):
        ok, what = all(is_number(v) for v in values), "numbers"
    elif isinstance(default, str):
        ok, what = all(isinstance(v, str) for v in values), "strings"
    else:
        return
    if not ok:
        raise SweepError(f"{path}: expected {what} (the type of parameter {path.rsplit('.', 1)[-1]!r} "
                         f"of estimator {estimator!r}), got {list(values)!r}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
