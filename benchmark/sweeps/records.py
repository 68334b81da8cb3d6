"""The records of a sweep: `ProblemSettings`, `Cell` and `Sweep` (grid expansion, `quick()`,
hashes, canonical TOML). Built by `benchmark.sweeps.loading`; the rules are in `benchmark.sweeps`.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from benchmark.families.family import Family, stable_hash
from benchmark.families.schema import SweepError, check_parameter_type, is_int, is_number
from benchmark.sweeps.vocabulary import ESTIMATOR_AXIS


@dataclass(frozen=True)
class ProblemSettings:
    """The problem of a sweep, with every field resolved (preset, then explicit overrides).

    Attributes:
      kind: the problem family (`benchmark.families.FAMILIES`: tabular, ipd, bandit, gaussian_toy).
      fields: `(name, value)` pairs of the resolved fields (sorted by name).
      preset: the preset the fields started from, if any.
      overrides: the fields given explicitly on top of the preset.
      mdp_seeds: problem seeds (tabular; the evaluation points of ipd with theta = "random";
        bandit task sets and targets; empty otherwise).
      family: the problem family of `kind` (`benchmark.families`), which the sweep asks for
        everything that depends on the kind (set by `benchmark.sweeps.loading`).
    """

    kind: str
    fields: tuple[tuple[str, Any], ...]
    preset: str | None = None
    overrides: tuple[str, ...] = ()
    mdp_seeds: tuple[int, ...] = ()
    family: Family | None = field(default=None, compare=False, repr=False)

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
        if self.problem.family.seeds_always_written or self.problem.mdp_seeds:
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

    @property
    def base_hash(self) -> str:
        """Hash of what every cell of the sweep shares (seed, repetitions, target,
        meta-parameter, problem settings): results stored under another base hash are of a
        different sweep, while a grid or problem seeds that only grow add cells."""
        data = {"seed": self.seed, "repetitions": self.repetitions, "target": self.target,
                "meta_parameter": self.meta_parameter, "problem": self.problem.canonical(),
                "label": self.problem.label}
        return stable_hash(data)[:16]

    @property
    def setting(self) -> dict[str, Any]:
        """What an estimator's `validate` sees of the problem (`estimators.registry`)."""
        return {"kind": self.problem.kind, "target": self.target, "meta_parameter": self.meta_parameter,
                **self.problem.family.estimator_setting(self.problem.values)}

    # ------------------------------------------------------------------ checks and cells
    def check(self) -> None:
        """Validate against the estimator registry (names, parameters, their types, and
        their values with each estimator's `validate`); raises `SweepError`."""
        parameters_of = self._estimator_parameters()
        self.problem.family.check_sweep(self, parameters_of)
        self._check_parameter_values(parameters_of)

    def cell_count(self) -> int:
        """The number of cells, without listing them (cheap for any grid size)."""
        parameters_of = self._estimator_parameters()
        total = 0
        for estimator in self.estimators:
            count = len(self.problem.mdp_seeds) or 1
            for axis, values in self.grid:
                if axis != ESTIMATOR_AXIS and (axis in self.problem.family.grid_problem_axes
                                               or axis in parameters_of[estimator]):
                    count *= len(values)
            total += count
        return total

    def cells(self) -> list[Cell]:
        """Every cell of the grid times the problem seeds, in a stable order (see `benchmark.sweeps`)."""
        parameters_of = self._estimator_parameters()
        fixed = self.fixed_parameters
        seeds: tuple[int | None, ...] = self.problem.mdp_seeds or (None,)
        cells: list[Cell] = []
        for estimator in self.estimators:
            axes = [(axis, values) for axis, values in self.grid
                    if axis != ESTIMATOR_AXIS and (axis in self.problem.family.grid_problem_axes
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
        problem seeds and at most 256 repetitions; then the family's own shrinking
        (`Family.quick`: bandit sweeps keep the middle η only, with targets of 2000 runs).
        """
        grid = tuple((axis, _shrink_axis(axis, values)) for axis, values in self.grid)
        grid, values = self.problem.family.quick(grid, self.problem.values)
        problem = replace(self.problem, mdp_seeds=self.problem.mdp_seeds[:2], fields=tuple(sorted(values.items())))
        name = self.name if self.name.endswith("-quick") else f"{self.name}-quick"
        description = f"quick version of {self.name}" + (f": {self.description}" if self.description else "")
        return replace(self, name=name, grid=grid, problem=problem, description=description,
                       repetitions=min(self.repetitions, 256), source=f"{self.source} (--quick)", text=self.text)

    # ------------------------------------------------------------------ internals
    def _cell(self, index: int, estimator: str, chosen: dict[str, Any], fixed: dict[str, Any],
              mdp_seed: int | None) -> Cell:
        problem_axes = {axis: value for axis, value in chosen.items() if axis in self.problem.family.grid_problem_axes}
        parameters = {**fixed, **{axis: value for axis, value in chosen.items() if axis not in problem_axes}}
        key = {"problem": self.problem.label, "target": self.target, "meta_parameter": self.meta_parameter,
               "estimator": estimator, **problem_axes, **parameters, "mdp_seed": mdp_seed}
        identity = {**key, "problem": self.problem.canonical()}
        return Cell(stable_hash(identity)[:16], index, estimator, key, parameters, mdp_seed)

    def _check_parameter_values(self, parameters_of: dict[str, dict[str, Any]]) -> None:
        """Run each estimator's `validate` on every combination of its parameter values
        (each value alone, the others at their first value, when there are too many)."""
        from estimators import get_estimator

        setting = self.setting
        fixed = self.fixed_parameters
        for name in self.estimators:
            spec = get_estimator(name, self.problem.kind)
            if spec.validate is None:
                continue
            axes = [(axis, values) for axis, values in self.grid
                    if axis != ESTIMATOR_AXIS and axis in parameters_of[name]]
            fixed_here = _as_declared(fixed.get(name, {}), parameters_of[name])
            for point in _points(axes):
                chosen = _as_declared(point, parameters_of[name])
                try:
                    spec.check({**fixed_here, **chosen}, setting)
                except ValueError as error:
                    raise SweepError(_locate(str(error), name, chosen, fixed_here)) from None
                except Exception as error:  # noqa: BLE001 - a plug-in's check may fail with anything
                    raise SweepError(f"grid.estimator: the validate function of estimator {name!r} failed "
                                     f"({type(error).__name__}: {error})") from None

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
            if axis == ESTIMATOR_AXIS or axis in self.problem.family.grid_problem_axes:
                continue
            takers = [name for name in self.estimators if axis in parameters_of[name]]
            if not takers:
                raise SweepError(f"grid.{axis}: not a parameter of any estimator in grid.estimator "
                                 f"({', '.join(self.estimators)})")
            for name in takers:
                check_parameter_type(f"grid.{axis}", values, parameters_of[name][axis], name)
        for name, values in self.estimator_params:
            for parameter, value in values:
                if parameter not in parameters_of[name]:
                    raise SweepError(f"estimator_params.{name}.{parameter}: not a parameter of estimator "
                                     f"{name!r} (expected one of: {', '.join(sorted(parameters_of[name])) or 'none'})")
                check_parameter_type(f"estimator_params.{name}.{parameter}", (value,),
                                      parameters_of[name][parameter], name)
        return parameters_of


def _as_declared(values: dict[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Integers given for float parameters become floats, so `c = 1` and `c = 1.0` are one cell."""
    return {name: float(value) if isinstance(defaults.get(name), float) and is_int(value) else value
            for name, value in values.items()}


MAX_VALIDATED_POINTS = 10_000


def _points(axes: list[tuple[str, tuple[Any, ...]]]):
    """Every point of the axes, or (beyond `MAX_VALIDATED_POINTS`) each value alone."""
    count = 1
    for _, values in axes:
        count *= len(values)
    if count <= MAX_VALIDATED_POINTS:
        for point in itertools.product(*(values for _, values in axes)):
            yield dict(zip((axis for axis, _ in axes), point))
        return
    first = {axis: values[0] for axis, values in axes}
    for axis, values in axes:
        for value in values:
            yield {**first, axis: value}


def _locate(message: str, estimator: str, chosen: Mapping[str, Any], fixed: Mapping[str, Any]) -> str:
    """`<field>: ...` from an estimator's `validate` -> the key of the sweep file that holds it."""
    field_name, _, rest = message.partition(":")
    field_name = field_name.strip()
    if field_name in chosen:
        path = f"grid.{field_name}"
    elif field_name in fixed:
        path = f"estimator_params.{estimator}.{field_name}"
    elif field_name in ("critic", "critic_noise", "rollout_length"):
        path = f"problem.{field_name}"
    elif field_name in ("target", "meta_parameter"):
        path = field_name
    else:
        path, rest = "grid.estimator", f" {message}"
    return f"{path}:{rest.rstrip()} (estimator {estimator!r})"


def _shrink_axis(axis: str, values: tuple[Any, ...]) -> tuple[Any, ...]:
    if len(values) <= 3 or not all(is_number(v) for v in values):
        return values
    if axis == "batch" or axis.startswith("n_"):
        return tuple(sorted(values)[:3])
    return (values[0], values[len(values) // 2], values[-1])


# ----------------------------------------------------------------------------- hashing and TOML

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
