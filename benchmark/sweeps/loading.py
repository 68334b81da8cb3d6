"""Sweep files, presets and suites -> validated `Sweep`s: TOML text, a file path or a preset
name is read (`load_sweep`, `load_sweeps`, `parse_sweep`), and plain data (the parsed TOML)
becomes a structurally validated `Sweep` (`sweep_from_dict` and its `_parse_*` steps, each
raising a one-line `SweepError` naming the key).
"""
from __future__ import annotations

import json
import sys
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, Mapping

from benchmark.families import FAMILIES, family_of, owners
from benchmark.families.family import Family
from benchmark.families.schema import (SweepError, expect_choice, expect_int, expect_string, expect_table, is_int,
                                       is_number, refuse_huge_integers, refuse_unknown)
from benchmark.sweeps.records import ProblemSettings, Sweep
from benchmark.sweeps.vocabulary import (AXIS_EXPECTATIONS, AXIS_NAME_PATTERN, ESTIMATOR_AXIS, GENERIC_EXPECTATION,
                                         MAX_STEPS, META_PARAMETERS, NAME_PATTERN, PRESET_SUFFIX, SEED_FIELDS, SPLIT_PATTERN,
                                         SUITE_KEY, SUITE_KEYS, TARGETS, TOP_LEVEL_KEYS)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


# ----------------------------------------------------------------------------- sweeps and suites

def load_sweep(reference: str | Path, *, check_estimators: bool = True) -> Sweep:
    """Read a sweep from a TOML file path or the name of a shipped preset.

    Args:
      reference: a path to a `.toml` file, or a preset name (`mgbench list` shows them).
      check_estimators: also validate against the estimator registry (`Sweep.check`).
    Raises:
      SweepError: the file is missing, not TOML, not a valid sweep, or a suite.
    """
    path = _resolve_reference(reference)
    text, data = _read_toml(path)
    if SUITE_KEY in data:
        raise SweepError(f"sweep: {str(reference)!r} is a suite of sweeps ({', '.join(map(str, data[SUITE_KEY]))}); "
                         f"load it with load_sweeps")
    return _sweep_from_file(path, text, data, check_estimators)


def _sweep_from_file(path: Path, text: str, data: dict[str, Any], check_estimators: bool) -> Sweep:
    """The validated sweep of a file already read and parsed (each file is read, parsed and checked once)."""
    sweep = replace(sweep_from_dict(data, source=str(path)), text=text)
    if check_estimators:
        sweep.check()
    return sweep


def load_sweeps(reference: str | Path, *, check_estimators: bool = True) -> list[Sweep]:
    """The sweeps of a sweep file, a preset, or a suite.

    A suite is a TOML file with only `name`, `description` and `sweeps`, a non-empty list of
    sweep files (relative to the suite's directory) or preset names, run one after another.
    """
    path = _resolve_reference(reference)
    text, data = _read_toml(path)
    if SUITE_KEY not in data:
        return [_sweep_from_file(path, text, data, check_estimators)]
    refuse_unknown("", data, SUITE_KEYS)
    members = data[SUITE_KEY]
    if not isinstance(members, list) or not members or not all(isinstance(m, str) and m for m in members):
        raise SweepError(f"sweeps: expected a non-empty list of sweep files or preset names, got {members!r}")
    sweeps = []
    for member in members:
        local = path.parent / member
        sweeps.append(load_sweep(local if local.is_file() else member, check_estimators=check_estimators))
    names = [sweep.name for sweep in sweeps]
    if len(set(names)) != len(names):
        raise SweepError(f"sweeps: expected sweeps with distinct names, got {names}")
    return sweeps


def load_stored_sweep(results_dir: str | Path) -> Sweep | None:
    """The sweep a run stored beside its results (`<results_dir>/sweep.toml`, not checked against
    the registry: its estimators may be plug-ins), or None when there is none."""
    path = Path(results_dir) / "sweep.toml"
    return load_sweep(path, check_estimators=False) if path.is_file() else None


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file and its parsed data."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweepError(f"sweep: cannot read {str(path)!r} ({error.strerror or error})") from None
    except UnicodeDecodeError as error:
        raise SweepError(f"sweep: {path} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {path} is not valid TOML ({error})") from None


def parse_sweep(text: str, *, source: str = "<string>") -> Sweep:
    """Parse and structurally validate the TOML text of a sweep (see `benchmark.sweeps`)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {source} is not valid TOML ({error})") from None
    return replace(sweep_from_dict(data, source=source), text=text)


# ----------------------------------------------------------------------------- presets

def preset_directory() -> Path:
    """The directory of the preset sweeps shipped with the package."""
    return Path(str(resources.files("benchmark.sweeps") / "presets"))


def available_presets() -> dict[str, Path]:
    """`{preset name: path}` of every shipped preset sweep, sorted by name."""
    directory = preset_directory()
    return {path.stem: path for path in sorted(directory.glob(f"*{PRESET_SUFFIX}"), key=lambda path: path.stem)}


def preset_description(name: str) -> str:
    """A preset's `description` (read without validating the sweep); suites name their sweeps."""
    path = available_presets()[name]
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        return f"(unreadable: {error})"
    description = str(data.get("description", ""))
    if isinstance(data.get(SUITE_KEY), list):
        description += f" [suite: {', '.join(map(str, data[SUITE_KEY]))}]"
    return description


def _resolve_reference(reference: str | Path) -> Path:
    path = Path(reference)
    if path.is_file():
        return path
    presets = available_presets()
    if str(reference) in presets:
        return presets[str(reference)]
    if path.suffix == PRESET_SUFFIX or path.parent != Path("."):
        raise SweepError(f"sweep: no such file {str(reference)!r}")
    from estimators.registry import did_you_mean

    raise SweepError(f"sweep: expected a TOML file or a preset name{did_you_mean(str(reference), list(presets))} "
                     f"({', '.join(presets)}), got {str(reference)!r}")


# ----------------------------------------------------------------------------- plain data -> Sweep

def sweep_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Sweep:
    """Validate a sweep given as plain data (the parsed TOML)."""
    refuse_unknown("", data, TOP_LEVEL_KEYS)
    refuse_huge_integers("", data)
    name = expect_name("name", data.get("name"))
    description = expect_string("description", data.get("description", ""), allow_empty=True)
    seed = expect_int("seed", data.get("seed", 0), minimum=0, what="a non-negative integer")
    repetitions = expect_int("repetitions", data.get("repetitions"), minimum=2, what="an integer >= 2")
    target = expect_choice("target", data.get("target", "ideal"), TARGETS)
    meta_parameter = expect_choice("meta_parameter", data.get("meta_parameter", "init"), META_PARAMETERS)
    problem = _parse_problem(expect_table("problem", data.get("problem")))
    _check_served(problem.family, meta_parameter, target)
    if "reference_repetitions" in problem.values and target != "practical":
        raise SweepError(f"problem.reference_repetitions: expected only with target = 'practical' (the size of "
                         f"its reference estimate), got target = {target!r}")
    grid = _parse_grid(expect_table("grid", data.get("grid")), problem.kind)
    estimator_params = _parse_estimator_params(data.get("estimator_params", {}), dict(grid))
    return Sweep(name, seed, repetitions, target, meta_parameter, problem, grid, estimator_params,
                 description, source)


# ----------------------------------------------------------------------------- problem

def _parse_problem(table: Mapping[str, Any]) -> ProblemSettings:
    """`[problem]`: the family named by `kind` resolves and checks its fields; then the problem seeds."""
    family = FAMILIES.get(table.get("kind")) if isinstance(table.get("kind"), str) else None
    if family is None:
        expect_choice("problem.kind", table.get("kind"), tuple(FAMILIES))
    keys = ("kind", *(("preset",) if family.presets else ()), *family.fields, *(SEED_FIELDS if family.seeded else ()))
    refuse_unknown("problem.", table, keys, kind=family.name)
    values, preset, overrides = family.parse_problem(table)
    seeds = _parse_mdp_seeds(table) if family.check_seeds(values, table) else ()
    return ProblemSettings(family.name, tuple(sorted(values.items())), preset, overrides, seeds, family)


def _check_served(family: Family, meta_parameter: str, target: str) -> None:
    """The meta-parameter and the target must be ones the family serves; the error names a
    family that serves them."""
    def needs(choice: str, served: Mapping[str, str]) -> str:
        owner = served.get(choice)
        return f" ({choice!r} needs a{'n' if owner[0] in 'aeiou' else ''} {owner} problem)" if owner else ""

    if meta_parameter not in family.meta_parameters:
        expected = " or ".join(map(repr, family.meta_parameters))
        raise SweepError(f"meta_parameter: expected {expected} for {family.name} problems"
                         f"{needs(meta_parameter, owners('meta_parameters'))}")
    if target not in family.targets:
        expected = " or ".join(map(repr, family.targets))
        notes = "; ".join(family.target_notes.get(choice, "") for choice in family.targets if choice in family.target_notes)
        raise SweepError(f"target: expected {expected} for {family.name} problems"
                         + (f" ({notes})" if notes else "") + needs(target, owners('targets')))


def _parse_mdp_seeds(table: Mapping[str, Any]) -> tuple[int, ...]:
    if "n_mdps" in table and "mdp_seeds" in table:
        raise SweepError("problem.mdp_seeds: expected either problem.n_mdps or problem.mdp_seeds, got both")
    if "mdp_seeds" in table:
        seeds = table["mdp_seeds"]
        what = "a non-empty list of non-negative integers"
        if not isinstance(seeds, list) or not seeds or len(set(map(repr, seeds))) != len(seeds) or not all(
                is_int(seed) and seed >= 0 for seed in seeds):
            raise SweepError(f"problem.mdp_seeds: expected {what}, got {seeds!r}")
        return tuple(int(seed) for seed in seeds)
    return tuple(range(expect_int("problem.n_mdps", table.get("n_mdps", 1), minimum=1, what="a positive integer")))


# ----------------------------------------------------------------------------- grid

def _parse_grid(table: Mapping[str, Any], kind: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    family = family_of(kind)
    if ESTIMATOR_AXIS not in table:
        raise SweepError(f"grid.estimator: expected {AXIS_EXPECTATIONS['estimator']}, got nothing")
    for required in family.problem_axes:
        if required not in table:
            raise SweepError(f"grid.{required}: expected {AXIS_EXPECTATIONS[required]} "
                             f"(required for {kind} problems), got nothing")
    axes = []
    for axis, raw in table.items():
        if not AXIS_NAME_PATTERN.match(axis):
            raise SweepError(f"grid.{axis}: expected an identifier as axis name")
        if axis in family.foreign_axes:
            raise SweepError(f"grid.{axis}: not an axis of {family.name} problems ({family.foreign_axes[axis]})")
        axes.append((axis, _parse_axis(axis, raw)))
    return tuple(axes)


def _parse_axis(axis: str, raw: Any) -> tuple[Any, ...]:
    expected = AXIS_EXPECTATIONS.get(axis, GENERIC_EXPECTATION)
    values = raw if isinstance(raw, list) else [raw]
    if not values or isinstance(raw, dict) or not all(_axis_value_ok(axis, value) for value in values):
        raise SweepError(f"grid.{axis}: expected {expected}, got {raw!r}")
    if axis == "steps" and max(values) > MAX_STEPS:
        raise SweepError(f"grid.steps: expected at most {MAX_STEPS} inner steps, got {max(values)!r}")
    if axis in ("lr", "eta0", "eta1"):
        values = [float(value) for value in values]
    if len({_identity(value) for value in values}) != len(values):
        raise SweepError(f"grid.{axis}: expected {expected}, got {raw!r} (a value is repeated)")
    return tuple(values)


def _identity(value: Any) -> str:
    """Equal numbers are one value whatever their type (`1` and `1.0` are a repeat)."""
    if is_number(value):
        return json.dumps(float(value))
    return json.dumps(value)


def _axis_value_ok(axis: str, value: Any) -> bool:
    if axis == "estimator":
        return isinstance(value, str) and bool(value)
    if axis == "split":
        return isinstance(value, str) and bool(SPLIT_PATTERN.match(value))
    if axis in ("steps", "batch", "N", "n_inner", "n_hessian", "n_outer"):
        return is_int(value) and value >= 1
    if axis == "lr":
        return is_number(value) and value > 0
    if axis in ("eta0", "eta1"):
        return is_number(value)
    return isinstance(value, (bool, str)) or is_int(value) or is_number(value)


def _parse_estimator_params(raw: Any, axes: Mapping[str, tuple[Any, ...]]):
    table = expect_table("estimator_params", raw)
    parsed = []
    for name, parameters in table.items():
        if name not in axes[ESTIMATOR_AXIS]:
            raise SweepError(f"estimator_params.{name}: expected an estimator of grid.estimator "
                             f"({', '.join(axes[ESTIMATOR_AXIS])}), got {name!r}")
        parameters = expect_table(f"estimator_params.{name}", parameters)
        values = []
        for parameter, value in parameters.items():
            path = f"estimator_params.{name}.{parameter}"
            if parameter in axes or any(parameter in family.grid_problem_axes for family in FAMILIES.values()):
                raise SweepError(f"{path}: expected a parameter that is not also a grid axis, got {parameter!r}")
            if isinstance(value, (list, dict)) or not _axis_value_ok(parameter, value):
                raise SweepError(f"{path}: expected one number, boolean or string, got {value!r}")
            values.append((parameter, value))
        parsed.append((name, tuple(values)))
    return tuple(parsed)


def expect_name(path: str, value: Any) -> str:
    """`value` when it is a name of letters, digits, '.', '_' or '-' (a sweep's name); else a `SweepError`."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise SweepError(f"{path}: expected a non-empty name of letters, digits, '.', '_' or '-', "
                         f"got {'nothing' if value is None else repr(value)}")
    return value


