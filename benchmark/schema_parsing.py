"""Plain data (parsed TOML) -> a structurally validated `Sweep`: every `_parse_*` step of
`sweep_from_dict`, each raising a one-line `SweepError` naming the key.
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from benchmark.schema_checks import (AXIS_EXPECTATIONS, AXIS_NAME_PATTERN, CRITICS, ESTIMATOR_AXIS,
                                     GENERIC_EXPECTATION, INITIAL_LAWS, MAX_STEPS, META_PARAMETERS, PROBLEM_AXES,
                                     PROBLEM_KINDS, REWARD_LAWS, SEED_FIELDS, SPLIT_PATTERN, TABULAR_DEFAULTS,
                                     TABULAR_FIELDS, TABULAR_ONLY_AXES, TABULAR_PRESETS, TARGETS, TOP_LEVEL_KEYS,
                                     TOY_DEFAULTS, TOY_FIELDS, SweepError, _expect_choice, _expect_int,
                                     _expect_name, _expect_number, _expect_string, _expect_table, _is_int,
                                     _is_number, _refuse_huge_integers, _refuse_unknown)
from benchmark.schema_records import ProblemSettings, Sweep


def sweep_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Sweep:
    """Validate a sweep given as plain data (the parsed TOML)."""
    _refuse_unknown("", data, TOP_LEVEL_KEYS)
    _refuse_huge_integers("", data)
    name = _expect_name("name", data.get("name"))
    description = _expect_string("description", data.get("description", ""), allow_empty=True)
    seed = _expect_int("seed", data.get("seed", 0), minimum=0, what="a non-negative integer")
    repetitions = _expect_int("repetitions", data.get("repetitions"), minimum=2, what="an integer >= 2")
    target = _expect_choice("target", data.get("target", "ideal"), TARGETS)
    meta_parameter = _expect_choice("meta_parameter", data.get("meta_parameter", "init"), META_PARAMETERS)
    problem = _parse_problem(_expect_table("problem", data.get("problem")))
    if problem.kind == "gaussian_toy" and meta_parameter == "intrinsic":
        raise SweepError("meta_parameter: expected 'init' for gaussian_toy problems "
                         "('intrinsic' needs a tabular problem)")
    grid = _parse_grid(_expect_table("grid", data.get("grid")), problem.kind)
    estimator_params = _parse_estimator_params(data.get("estimator_params", {}), dict(grid))
    return Sweep(name, seed, repetitions, target, meta_parameter, problem, grid, estimator_params,
                 description, source)


# ----------------------------------------------------------------------------- problem

def _parse_problem(table: Mapping[str, Any]) -> ProblemSettings:
    kind = _expect_choice("problem.kind", table.get("kind"), PROBLEM_KINDS)
    if kind == "gaussian_toy":
        _refuse_unknown("problem.", table, ("kind", *TOY_FIELDS), kind=kind)
        values = {**TOY_DEFAULTS, **{name: _toy_field(name, table[name]) for name in TOY_FIELDS if name in table}}
        return ProblemSettings(kind, tuple(sorted(values.items())),
                               overrides=tuple(name for name in TOY_FIELDS if name in table))
    _refuse_unknown("problem.", table, ("kind", "preset", *TABULAR_FIELDS, *SEED_FIELDS), kind=kind)
    preset = table.get("preset")
    if preset is not None:
        preset = _expect_choice("problem.preset", preset, tuple(TABULAR_PRESETS))
        base = dict(TABULAR_PRESETS[preset])
    else:
        for required in ("n_states", "n_actions"):
            if required not in table:
                raise SweepError(f"problem.{required}: expected a positive integer "
                                 f"(or problem.preset = \"liu2022\"), got nothing")
        base = dict(TABULAR_DEFAULTS)
    overrides = tuple(name for name in TABULAR_FIELDS if name in table)
    values = {**base, **{name: _tabular_field(name, table[name]) for name in overrides}}
    return ProblemSettings(kind, tuple(sorted(values.items())), preset, overrides, _parse_mdp_seeds(table))


def _tabular_field(name: str, value: Any) -> Any:
    path = f"problem.{name}"
    if name in ("n_states", "n_actions", "rollout_length", "horizon"):
        return _expect_int(path, value, minimum=1, what="a positive integer")
    if name == "gamma":
        gamma = _expect_number(path, value, what="a number in [0, 1)")
        if not 0 <= gamma < 1:
            raise SweepError(f"{path}: expected a number in [0, 1), got {value!r}")
        return gamma
    if name in ("concentration",):
        return _expect_number(path, value, positive=True, what="a positive number")
    if name == "critic_noise":
        noise = _expect_number(path, value, what="a non-negative number")
        if noise < 0:
            raise SweepError(f"{path}: expected a non-negative number, got {value!r}")
        return noise
    choices = {"reward": REWARD_LAWS, "initial": INITIAL_LAWS, "critic": CRITICS}[name]
    return _expect_choice(path, value, choices)


def _toy_field(name: str, value: Any) -> float:
    if name == "sigma":
        return _expect_number(f"problem.{name}", value, positive=True, what="a positive number")
    return _expect_number(f"problem.{name}", value, what="a finite number")


def _parse_mdp_seeds(table: Mapping[str, Any]) -> tuple[int, ...]:
    if "n_mdps" in table and "mdp_seeds" in table:
        raise SweepError("problem.mdp_seeds: expected either problem.n_mdps or problem.mdp_seeds, got both")
    if "mdp_seeds" in table:
        seeds = table["mdp_seeds"]
        what = "a non-empty list of non-negative integers"
        if not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds) or not all(
                _is_int(seed) and seed >= 0 for seed in seeds):
            raise SweepError(f"problem.mdp_seeds: expected {what}, got {seeds!r}")
        return tuple(int(seed) for seed in seeds)
    return tuple(range(_expect_int("problem.n_mdps", table.get("n_mdps", 1), minimum=1, what="a positive integer")))


# ----------------------------------------------------------------------------- grid

def _parse_grid(table: Mapping[str, Any], kind: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    if ESTIMATOR_AXIS not in table:
        raise SweepError(f"grid.estimator: expected {AXIS_EXPECTATIONS['estimator']}, got nothing")
    for required in PROBLEM_AXES[kind]:
        if required not in table:
            raise SweepError(f"grid.{required}: expected {AXIS_EXPECTATIONS[required]} "
                             f"(required for {kind} problems), got nothing")
    axes = []
    for axis, raw in table.items():
        if not AXIS_NAME_PATTERN.match(axis):
            raise SweepError(f"grid.{axis}: expected an identifier as axis name")
        if kind == "gaussian_toy" and axis in TABULAR_ONLY_AXES:
            raise SweepError(f"grid.{axis}: not an axis of gaussian_toy problems (expected estimator, N "
                             f"or estimator parameters)")
        if kind == "tabular" and axis == "N":
            raise SweepError("grid.N: not an axis of tabular problems (the batch size is grid.batch)")
        axes.append((axis, _parse_axis(axis, raw)))
    return tuple(axes)


def _parse_axis(axis: str, raw: Any) -> tuple[Any, ...]:
    expected = AXIS_EXPECTATIONS.get(axis, GENERIC_EXPECTATION)
    values = raw if isinstance(raw, list) else [raw]
    if not values or isinstance(raw, dict) or not all(_axis_value_ok(axis, value) for value in values):
        raise SweepError(f"grid.{axis}: expected {expected}, got {raw!r}")
    if axis == "steps" and max(values) > MAX_STEPS:
        raise SweepError(f"grid.steps: expected at most {MAX_STEPS} inner steps, got {max(values)!r}")
    if axis == "lr":
        values = [float(value) for value in values]
    if len({_identity(value) for value in values}) != len(values):
        raise SweepError(f"grid.{axis}: expected {expected}, got {raw!r} (a value is repeated)")
    return tuple(values)


def _identity(value: Any) -> str:
    """Equal numbers are one value whatever their type (`1` and `1.0` are a repeat)."""
    if _is_number(value):
        return json.dumps(float(value))
    return json.dumps(value)


def _axis_value_ok(axis: str, value: Any) -> bool:
    if axis == "estimator":
        return isinstance(value, str) and bool(value)
    if axis == "split":
        return isinstance(value, str) and bool(SPLIT_PATTERN.match(value))
    if axis in ("steps", "batch", "N", "n_inner", "n_hessian", "n_outer"):
        return _is_int(value) and value >= 1
    if axis == "lr":
        return _is_number(value) and value > 0
    return isinstance(value, (bool, str)) or _is_int(value) or _is_number(value)


def _parse_estimator_params(raw: Any, axes: Mapping[str, tuple[Any, ...]]):
    table = _expect_table("estimator_params", raw)
    parsed = []
    for name, parameters in table.items():
        if name not in axes[ESTIMATOR_AXIS]:
            raise SweepError(f"estimator_params.{name}: expected an estimator of grid.estimator "
                             f"({', '.join(axes[ESTIMATOR_AXIS])}), got {name!r}")
        parameters = _expect_table(f"estimator_params.{name}", parameters)
        values = []
        for parameter, value in parameters.items():
            path = f"estimator_params.{name}.{parameter}"
            if parameter in axes or parameter in ("steps", "lr", "N"):
                raise SweepError(f"{path}: expected a parameter that is not also a grid axis, got {parameter!r}")
            if isinstance(value, (list, dict)) or not _axis_value_ok(parameter, value):
                raise SweepError(f"{path}: expected one number, boolean or string, got {value!r}")
            values.append((parameter, value))
        parsed.append((name, tuple(values)))
    return tuple(parsed)
