"""Declarative sweeps: a TOML file becomes a validated, frozen `Sweep` and its grid of `Cell`s.

A sweep file (the schema is a contract; unknown keys are refused):

```toml
name = "comp-sample"          # results go to <out>/<name>/  (letters, digits, . _ -)
description = "one line"      # optional, shown by `mgbench list`
seed = 0                      # sampling seed; cell seeds derive from (seed, cell key)
repetitions = 2000            # R >= 2 independent estimates per cell
target = "ideal"              # or "practical"
meta_parameter = "init"       # or "intrinsic" (tabular only)

[problem]
kind = "tabular"              # or "gaussian_toy" (fields theta, sigma, c)
preset = "liu2022"            # optional; explicit fields override the preset's:
# n_states, n_actions, gamma, horizon (int; absent = infinite), concentration,
# reward ("uniform" | "normal" | "bernoulli"), initial ("first" | "uniform" | "dirichlet"),
# rollout_length, critic ("none" | "exact" | "noisy"), critic_noise
n_mdps = 10                   # problem seeds 0..n-1 (or mdp_seeds = [...]); default 1

[grid]                        # every value is an axis; the grid is their product
estimator = ["maml", "dice"]
split = ["lee"]
steps = [2]                   # K (tabular, required)
lr = [3.0]                    # alpha (tabular, required)
batch = [2, 4, 8]             # |tau| for each sampled part
# N = [1, 2, 4]               # sample count (gaussian_toy, required)
# lambda_ = [0.5, 1.0]        # any estimator parameter is an axis too

[estimator_params.loaded]     # optional fixed parameters of one estimator
lambda_ = 0.9
```

Rules:
- A scalar in `[grid]` is a one-element axis (`steps = 2` is `steps = [2]`).
- `steps`, `lr` (tabular) and `N` (toy) are axes of the problem; every other axis is an
  estimator parameter and multiplies only the cells of the estimators that take it: with
  `estimator = ["maml", "es"]` and `split = ["lee", "lll"]`, `maml` gets two cells per
  point and `es` one, whose `split` is empty. An axis that no estimator of the grid takes
  is an error (most likely a typo).
- A cell is one estimator, one value of each axis that applies to it and one problem seed
  (`mdp_seed`, tabular only). Its `cell_id` is a hash of its canonical key (problem
  settings, target, meta-parameter, estimator, parameter values, problem seed) and so
  does not depend on the order of the grid; `repetitions` and `seed` are not part of it.
- A suite is a file holding only `name`, `description` and `sweeps = [...]` (sweep files
  relative to it, or preset names); `load_sweeps` returns its sweeps, run one after another
  (the `default` preset is one).
- Parsing checks structure and types; checks that need the estimator registry (unknown
  estimator names, parameters an estimator does not take) run in `Sweep.check()`,
  called by `load_sweep` unless `check_estimators=False` and by `Sweep.cells()`, so that
  a preset naming an estimator not written yet can still be listed.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import sys
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from mdps import LIU2022_ROLLOUT_LENGTH

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


class SweepError(ValueError):
    """A sweep that cannot run; the message is one line, `<key>: <what was expected>`."""


TOP_LEVEL_KEYS = ("name", "description", "seed", "repetitions", "target", "meta_parameter",
                  "problem", "grid", "estimator_params")
TARGETS = ("ideal", "practical")
META_PARAMETERS = ("init", "intrinsic")
PROBLEM_KINDS = ("tabular", "gaussian_toy")
CRITICS = ("none", "exact", "noisy")
REWARD_LAWS = ("uniform", "normal", "bernoulli")
INITIAL_LAWS = ("first", "uniform", "dirichlet")

TABULAR_FIELDS = ("n_states", "n_actions", "gamma", "horizon", "concentration", "reward", "initial",
                  "rollout_length", "critic", "critic_noise")
TOY_FIELDS = ("theta", "sigma", "c")
SEED_FIELDS = ("n_mdps", "mdp_seeds")
TABULAR_DEFAULTS: dict[str, Any] = {"gamma": 0.9, "horizon": None, "concentration": 1.0,
                                    "reward": "uniform", "initial": "first", "rollout_length": 20,
                                    "critic": "noisy", "critic_noise": 1.0}
TOY_DEFAULTS: dict[str, Any] = {"theta": 0.0, "sigma": 1.0, "c": 1.0}
TABULAR_PRESETS: dict[str, dict[str, Any]] = {
    # Liu et al. (2022), ALGORITHMS.md 1.1
    "liu2022": {"n_states": 20, "n_actions": 5, "gamma": 0.8, "horizon": None, "concentration": 0.001,
                "reward": "uniform", "initial": "first", "rollout_length": LIU2022_ROLLOUT_LENGTH,
                "critic": "noisy", "critic_noise": 1.0},
}

ESTIMATOR_AXIS = "estimator"
PROBLEM_AXES = {"tabular": ("steps", "lr"), "gaussian_toy": ("N",)}
TABULAR_ONLY_AXES = ("split", "steps", "lr", "batch")
SPLIT_PATTERN = re.compile(r"^[el]{3}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
AXIS_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRESET_SUFFIX = ".toml"
SUITE_KEY = "sweeps"
SUITE_KEYS = ("name", "description", SUITE_KEY)


# ----------------------------------------------------------------------------- records

@dataclass(frozen=True)
class ProblemSettings:
    """The problem of a sweep, with every field resolved (preset, then explicit overrides).

    Attributes:
      kind: `tabular` or `gaussian_toy`.
      fields: `(name, value)` pairs of the resolved fields (sorted by name).
      preset: the preset the fields started from, if any.
      overrides: the fields given explicitly on top of the preset.
      mdp_seeds: problem seeds (tabular; empty for the toy).
    """

    kind: str
    fields: tuple[tuple[str, Any], ...]
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    mdp_seeds: tuple[int, ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        """The resolved fields as a dict."""
        return dict(self.fields)

    @property
    def label(self) -> str:
        """Short name for the results table: the preset (with overrides) or the kind."""
        base = self.preset or self.kind
        if not self.preset or not self.overrides:
            return base
        values = self.values
        return f"{base}(" + ",".join(f"{name}={values[name]}" for name in self.overrides) + ")"

    def canonical(self) -> dict[str, Any]:
        """What identifies the problem in a cell key: kind and resolved fields."""
        return {"kind": self.kind, **self.values}


@dataclass(frozen=True, eq=False)
class Cell:
    """One cell of a sweep: an estimator at one point of the grid on one problem instance.

    Attributes:
      cell_id: 16 hex digits, the hash of the canonical key (stable under grid reordering).
      index: position in `Sweep.cells()` (the order of the results table).
      estimator: the registered estimator name.
      key: flat record of the cell for the results table: `problem` (label), `target`,
        `meta_parameter`, `estimator`, the problem axes, the estimator parameters, `mdp_seed`.
      parameters: keyword parameters handed to the estimator.
      mdp_seed: problem seed (None for the toy).
    """

    cell_id: str
    index: int
    estimator: str
    key: dict[str, Any]
    parameters: dict[str, Any]
    mdp_seed: int | None = None

    @property
    def seed_key(self) -> int:
        """The cell's hash as an integer, the first entry of its `SeedSequence` spawn keys."""
        return int(self.cell_id, 16)

    def axis(self, name: str, default: Any = None) -> Any:
        """The value of a problem axis or estimator parameter of this cell."""
        return self.key.get(name, default)


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: settings, problem and grid (axes as `(name, values)` pairs in file order)."""

    name: str
    seed: int
    repetitions: int
    target: str
    meta_parameter: str
    problem: ProblemSettings
    grid: tuple[tuple[str, tuple[Any, ...]], ...]
    estimator_params: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()
    description: str = ""
    source: str = field(default="", compare=False)
    text: str = field(default="", compare=False, repr=False)

    # ------------------------------------------------------------------ views
    @property
    def axes(self) -> dict[str, tuple[Any, ...]]:
        """The grid as an ordered dict `axis -> values`."""
        return dict(self.grid)

    @property
    def estimators(self) -> tuple[str, ...]:
        """The estimator axis."""
        return self.axes[ESTIMATOR_AXIS]

    @property
    def fixed_parameters(self) -> dict[str, dict[str, Any]]:
        """`[estimator_params.<name>]` as `{estimator: {parameter: value}}`."""
        return {name: dict(values) for name, values in self.estimator_params}

    def to_dict(self) -> dict[str, Any]:
        """The sweep as plain data, the same shape as the TOML file (problem fields resolved)."""
        problem: dict[str, Any] = {"kind": self.problem.kind}
        if self.problem.preset:
            problem["preset"] = self.problem.preset
        values = self.problem.values
        names = self.problem.overrides if self.problem.preset else tuple(values)
        problem.update({name: values[name] for name in names if values[name] is not None})
        if self.problem.kind == "tabular":
            problem["mdp_seeds"] = list(self.problem.mdp_seeds)
        data: dict[str, Any] = {"name": self.name}
        if self.description:
            data["description"] = self.description
        data.update({"seed": self.seed, "repetitions": self.repetitions, "target": self.target,
                     "meta_parameter": self.meta_parameter, "problem": problem,
                     "grid": {axis: list(values) for axis, values in self.grid}})
        if self.estimator_params:
            data["estimator_params"] = self.fixed_parameters
        return data

    def to_toml(self) -> str:
        """Canonical TOML text of the sweep; `parse_sweep(sweep.to_toml())` gives it back."""
        return _dump_toml(self.to_dict())

    @property
    def sweep_hash(self) -> str:
        """Hash of everything that changes results (not the description): identifies the sweep."""
        data = self.to_dict()
        data.pop("description", None)
        data["problem"] = {"settings": self.problem.canonical(), "label": self.problem.label,
                           "mdp_seeds": list(self.problem.mdp_seeds)}
        return stable_hash(data)[:16]

    # ------------------------------------------------------------------ checks and cells
    def check(self) -> None:
        """Validate against the estimator registry (names, parameters, their types);
        raises `SweepError`."""
        self._estimator_parameters()

    def cells(self) -> list[Cell]:
        """Every cell of the grid times the problem seeds, in a stable order (see module doc)."""
        parameters_of = self._estimator_parameters()
        fixed = self.fixed_parameters
        seeds: tuple[int | None, ...] = self.problem.mdp_seeds or (None,)
        cells: list[Cell] = []
        for estimator in self.estimators:
            axes = [(axis, values) for axis, values in self.grid
                    if axis != ESTIMATOR_AXIS and (axis in PROBLEM_AXES[self.problem.kind]
                                                   or axis in parameters_of[estimator])]
            defaults = parameters_of[estimator]
            fixed_here = _as_declared(fixed.get(estimator, {}), defaults)
            for point in itertools.product(*(values for _, values in axes)):
                chosen = _as_declared(dict(zip((axis for axis, _ in axes), point)), defaults)
                for mdp_seed in seeds:
                    cells.append(self._cell(len(cells), estimator, chosen, fixed_here, mdp_seed))
        return cells

    def quick(self) -> "Sweep":
        """A seconds-long version named `<name>-quick`.

        Numeric axes keep at most three values (`batch` and `n_*` sample sizes their three
        smallest, other axes their first, middle and last), categorical axes (estimator,
        split, strings, booleans) are kept whole so every curve still appears; at most two
        problem seeds and at most 256 repetitions.
        """
        grid = tuple((axis, _shrink_axis(axis, values)) for axis, values in self.grid)
        problem = replace(self.problem, mdp_seeds=self.problem.mdp_seeds[:2])
        name = self.name if self.name.endswith("-quick") else f"{self.name}-quick"
        description = f"quick version of {self.name}" + (f": {self.description}" if self.description else "")
        return replace(self, name=name, grid=grid, problem=problem, description=description,
                       repetitions=min(self.repetitions, 256), source=f"{self.source} (--quick)", text=self.text)

    # ------------------------------------------------------------------ internals
    def _cell(self, index: int, estimator: str, chosen: dict[str, Any], fixed: dict[str, Any],
              mdp_seed: int | None) -> Cell:
        problem_axes = {axis: value for axis, value in chosen.items() if axis in PROBLEM_AXES[self.problem.kind]}
        parameters = {**fixed, **{axis: value for axis, value in chosen.items() if axis not in problem_axes}}
        key = {"problem": self.problem.label, "target": self.target, "meta_parameter": self.meta_parameter,
               "estimator": estimator, **problem_axes, **parameters, "mdp_seed": mdp_seed}
        identity = {**key, "problem": self.problem.canonical()}
        return Cell(stable_hash(identity)[:16], index, estimator, key, parameters, mdp_seed)

    def _estimator_parameters(self) -> dict[str, dict[str, Any]]:
        """`{estimator: its registered parameters with defaults}`; checks every axis and
        fixed parameter against them (and their types against the defaults)."""
        from estimators import get_estimator

        parameters_of: dict[str, dict[str, Any]] = {}
        for name in self.estimators:
            try:
                parameters_of[name] = dict(get_estimator(name, self.problem.kind).parameters)
            except ValueError as error:
                raise SweepError(f"grid.estimator: {str(error).split(': ', 1)[-1]}") from None
        for axis, values in self.grid:
            if axis == ESTIMATOR_AXIS or axis in PROBLEM_AXES[self.problem.kind]:
                continue
            takers = [name for name in self.estimators if axis in parameters_of[name]]
            if not takers:
                raise SweepError(f"grid.{axis}: not a parameter of any estimator in grid.estimator "
                                 f"({', '.join(self.estimators)})")
            for name in takers:
                _check_parameter_type(f"grid.{axis}", values, parameters_of[name][axis], name)
        for name, values in self.estimator_params:
            for parameter, value in values:
                if parameter not in parameters_of[name]:
                    raise SweepError(f"estimator_params.{name}.{parameter}: not a parameter of estimator "
                                     f"{name!r} (expected one of: {', '.join(sorted(parameters_of[name])) or 'none'})")
                _check_parameter_type(f"estimator_params.{name}.{parameter}", (value,),
                                      parameters_of[name][parameter], name)
        return parameters_of


# ----------------------------------------------------------------------------- loading

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
    _, data = _read_toml(path)
    if SUITE_KEY not in data:
        return [load_sweep(path, check_estimators=check_estimators)]
    _refuse_unknown("", data, SUITE_KEYS)
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


def _read_toml(path: Path) -> tuple[str, dict[str, Any]]:
    """The text of a TOML file and its parsed data."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SweepError(f"sweep: cannot read {str(path)!r} ({error.strerror or error})") from None
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {path} is not valid TOML ({error})") from None


def parse_sweep(text: str, *, source: str = "<string>") -> Sweep:
    """Parse and structurally validate the TOML text of a sweep (see the module doc)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepError(f"sweep: {source} is not valid TOML ({error})") from None
    return replace(sweep_from_dict(data, source=source), text=text)


def sweep_from_dict(data: Mapping[str, Any], *, source: str = "<dict>") -> Sweep:
    """Validate a sweep given as plain data (the parsed TOML)."""
    _refuse_unknown("", data, TOP_LEVEL_KEYS)
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


# ----------------------------------------------------------------------------- presets

def preset_directory() -> Path:
    """The directory of the preset sweeps shipped with the package."""
    return Path(str(resources.files("benchmark") / "presets"))


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
    raise SweepError(f"sweep: expected a TOML file or a preset name ({', '.join(presets)}), got {str(reference)!r}")


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

AXIS_EXPECTATIONS: dict[str, str] = {
    "estimator": "a non-empty list of estimator names",
    "split": "a non-empty list of three-letter splits of e (exact) and l (sampled) "
             "for inner, Hessian and outer, e.g. \"lee\"",
    "steps": "a non-empty list of positive integers",
    "lr": "a non-empty list of positive numbers",
    "batch": "a non-empty list of positive integers",
    "N": "a non-empty list of positive integers",
    "n_inner": "a non-empty list of positive integers",
    "n_hessian": "a non-empty list of positive integers",
    "n_outer": "a non-empty list of positive integers",
}
GENERIC_EXPECTATION = "a non-empty list of numbers, booleans or strings"


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
    if axis == "lr":
        values = [float(value) for value in values]
    if len({json.dumps(value) for value in values}) != len(values):
        raise SweepError(f"grid.{axis}: expected {expected}, got {raw!r} (a value is repeated)")
    return tuple(values)


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


def _check_parameter_type(path: str, values: Iterable[Any], default: Any, estimator: str) -> None:
    """Values must match the type of the registered default (ints accepted for floats)."""
    if default is None:
        return
    if isinstance(default, bool):
        ok, what = all(isinstance(v, bool) for v in values), "booleans"
    elif isinstance(default, int):
        ok, what = all(_is_int(v) for v in values), "integers"
    elif isinstance(default, float):
        ok, what = all(_is_number(v) for v in values), "numbers"
    elif isinstance(default, str):
        ok, what = all(isinstance(v, str) for v in values), "strings"
    else:
        return
    if not ok:
        raise SweepError(f"{path}: expected {what} (the type of parameter {path.rsplit('.', 1)[-1]!r} "
                         f"of estimator {estimator!r}), got {list(values)!r}")


def _as_declared(values: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Integers given for float parameters become floats, so `c = 1` and `c = 1.0` are one cell."""
    return {name: float(value) if isinstance(defaults.get(name), float) and _is_int(value) else value
            for name, value in values.items()}


def _shrink_axis(axis: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(values) <= 3 or not all(_is_number(v) for v in values):
        return values
    if axis == "batch" or axis.startswith("n_"):
        return tuple(sorted(values)[:3])
    return (values[0], values[len(values) // 2], values[-1])


# ----------------------------------------------------------------------------- checks

def _refuse_unknown(prefix: str, table: Mapping[str, Any], known: Iterable[str], *, kind: str | None = None) -> None:
    known = tuple(known)
    for key in table:
        if key not in known:
            scope = f"{kind} problems" if kind else ("the sweep" if not prefix else prefix.rstrip("."))
            raise SweepError(f"{prefix}{key}: unknown key in {scope} (expected one of: {', '.join(known)})")


def _expect_table(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SweepError(f"{path}: expected a table [{path}], got {'nothing' if value is None else repr(value)}")
    return value


def _expect_name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise SweepError(f"{path}: expected a non-empty name of letters, digits, '.', '_' or '-', "
                         f"got {'nothing' if value is None else repr(value)}")
    return value


def _expect_string(path: str, value: Any, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not allow_empty and not value):
        raise SweepError(f"{path}: expected a string, got {value!r}")
    return value


def _expect_int(path: str, value: Any, *, minimum: int, what: str) -> int:
    if not _is_int(value) or value < minimum:
        raise SweepError(f"{path}: expected {what}, got {'nothing' if value is None else repr(value)}")
    return int(value)


def _expect_number(path: str, value: Any, *, positive: bool = False, what: str) -> float:
    if not _is_number(value) or (positive and value <= 0):
        raise SweepError(f"{path}: expected {what}, got {'nothing' if value is None else repr(value)}")
    return float(value)


def _expect_choice(path: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices or not isinstance(value, str):
        expected = " or ".join(repr(choice) for choice in choices)
        raise SweepError(f"{path}: expected {expected}, got {'nothing' if value is None else repr(value)}")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ----------------------------------------------------------------------------- hashing and TOML

def stable_hash(data: Any) -> str:
    """sha256 of the canonical JSON of `data` (sorted keys, no whitespace)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _dump_toml(data: Mapping[str, Any]) -> str:
    """TOML text for the sweep's plain data (scalars, lists of scalars, nested tables)."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items() if not isinstance(value, dict)]
    for key, value in data.items():
        if isinstance(value, dict):
            lines.extend(_toml_table(key, value))
    return "\n".join(lines) + "\n"


def _toml_table(name: str, table: Mapping[str, Any]) -> list[str]:
    lines = ["", f"[{name}]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in table.items() if not isinstance(value, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            lines.extend(_toml_table(f"{name}.{key}", value))
    return lines


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")
