"""What a problem family is: the one place that knows a kind of problem (`tabular`, `ipd`, `bandit`,
`gaussian_toy`), asked by the sweep schema, the cells, the store, the reports, `compare`, the
bench and the studies instead of comparing the kind with a string.

A family owns its `[problem]` fields (defaults, presets, one-line checks), the meta-parameters,
targets and grid axes it serves, how a cell builds its problem instance and its target, σ_in
where the compositional bound applies, the memory of one repetition, the metrics it groups
(the IPD's per-player `corr`), its `compare` suite and the problems of its bench cells.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

SEED_FIELDS = ("n_mdps", "mdp_seeds")
# The estimator parameters that are sample sizes (trajectories or games per batch).
SAMPLE_SIZE_PARAMETERS = ("batch", "n_inner", "n_hessian", "n_outer")


def stable_hash(data: Any) -> str:
    """sha256 of the canonical JSON of `data` (sorted keys, no whitespace): the one hash of sweep
    data (sweep and cell identities, seeds derived from keys, cached targets)."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


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


@dataclass(frozen=True)
class CompareSuite:
    """The sweeps `mgbench compare` runs for a plug-in of a family, beside its baselines.

    Attributes:
      baselines: the built-in estimators the plug-in is compared with.
      primary: the axis always swept (also for a plug-in that claims no bound).
      axes: `{axis: grid entries}` of the sweep along each axis (the other axes fixed).
      problem: the `[problem]` table of every sweep of the suite.
      repetitions: repetitions per cell (not --quick).
      target: the target of the suite (`ideal`, `practical`).
      meta_parameter: the meta-parameter of the suite.
      shared_parameters: `{parameter: value}` given to every estimator that has the parameter
        (e.g. the split `lee` of the compositional bound).
      setting: in words, the setting of the suite for the page.
    """

    baselines: tuple[str, ...]
    primary: str
    axes: Mapping[str, Mapping[str, Any]]
    problem: Mapping[str, Any]
    repetitions: int
    target: str = "ideal"
    meta_parameter: str = "init"
    shared_parameters: Mapping[str, Any] = field(default_factory=dict)
    setting: str = ""


class Family:
    """The base of every problem family; a family module defines one subclass and its instance.

    Class attributes (data):
      name: the problem kind in sweep files, `@register(problem=...)` and result rows.
      description: one line, for `mgbench list` and the docs.
      fields: the keys of `[problem]` besides `kind` (and `preset`, seeds).
      presets: `{preset: resolved fields}` a `[problem]` table may start from.
      seeded: whether the family takes problem seeds (`n_mdps` / `mdp_seeds`).
      seeds_always_written: whether the canonical sweep always lists its problem seeds.
      meta_parameters: the meta-parameters it serves (`meta_parameter` of a sweep).
      targets: the targets it serves (`target` of a sweep).
      problem_axes: the grid axes every sweep of the family must have (they build the problem).
      optional_problem_axes: `[problem]` fields a sweep may also sweep as grid axes (each cell's
        value replaces the field's when its problem is built).
      foreign_axes: `{axis: why}` for axes of other families a sweep of this one must not have.
      target_notes: `{target: what it is here}`, said when a sweep asks for another target.
      estimate_shape: in words, the shape of one estimate (for the docs and errors).
      bounds_apply: whether any theoretical bound speaks of this family (`compare` says so).
      compare: the `mgbench compare` suite of the family.
    """

    name: str = ""
    description: str = ""
    fields: tuple[str, ...] = ()
    presets: Mapping[str, Mapping[str, Any]] = {}
    seeded: bool = True
    seeds_always_written: bool = False
    meta_parameters: tuple[str, ...] = ("init",)
    targets: tuple[str, ...] = ("ideal",)
    problem_axes: tuple[str, ...] = ()
    optional_problem_axes: tuple[str, ...] = ()
    foreign_axes: Mapping[str, str] = {}
    target_notes: Mapping[str, str] = {}
    estimate_shape: str = ""
    compare: CompareSuite | None = None

    @property
    def grid_problem_axes(self) -> tuple[str, ...]:
        """The grid axes that build the problem: the required ones and the optional ones."""
        return (*self.problem_axes, *self.optional_problem_axes)

    # ------------------------------------------------------------------ the sweep schema
    def parse_problem(self, table: Mapping[str, Any]) -> tuple[dict[str, Any], str | None, tuple[str, ...]]:
        """`(resolved fields, preset or None, overridden field names)` of a `[problem]` table whose
        keys the schema has checked against `fields` (and `presets`); raises `SweepError` naming
        a bad value. Problem seeds are read by the schema."""
        raise NotImplementedError

    def check_seeds(self, values: Mapping[str, Any], table: Mapping[str, Any]) -> bool:
        """Whether `[problem]` reads problem seeds for these resolved fields (a `SweepError`
        when it has seeds it must not have)."""
        return self.seeded

    def check_sweep(self, sweep, parameters_of: Mapping[str, Mapping[str, Any]]) -> None:
        """Checks of a whole sweep against the registry (`Sweep.check`); none by default."""

    def quick(self, grid: tuple, values: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        """The grid and problem fields of a `--quick` sweep (after the generic shrinking)."""
        return grid, values

    def estimator_setting(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """What an estimator's `validate` sees of the problem besides kind, target and meta-parameter."""
        return {"critic": None}

    # ------------------------------------------------------------------ cells
    def bytes_per_repetition(self, values: Mapping[str, Any], parameters: Mapping[str, Any], cell) -> int:
        """Rough peak memory of one repetition in an estimator call, with a safety factor of 2."""
        raise NotImplementedError

    def build_problem(self, values: Mapping[str, Any], cell, meta_parameter: str, kernel: str):
        """The problem instance of a cell (what its estimator is given)."""
        raise NotImplementedError

    def target(self, sweep, cell, problem, parameters: Mapping[str, Any]) -> Target:
        """The cell's target (`sweep.target` names which)."""
        raise NotImplementedError

    def sigma_in(self, sweep, cell, problem, spec, parameters: Mapping[str, Any]) -> float:
        """σ_in of the compositional bound; nan where the bound does not apply."""
        return math.nan

    def inner_gradient_source(self, spec) -> str:
        """In words: how σ_in's inner gradient is formed for `spec` (empty where σ_in does not apply)."""
        return ""

    def corr_groups(self, target: np.ndarray) -> int:
        """How many groups `corr` averages over (one Pearson correlation per group)."""
        return 1

    # ------------------------------------------------------------------ bench
    def bench_call(self, cell):
        """`function(R, rng) -> estimates` of a bench cell of this family (`benchmark.bench.cells.BenchCell`):
        its registered estimator on the family's bench problem."""
        raise NotImplementedError(f"the bench has no {self.name} cells")

    def bench_samplers(self, cell) -> list[tuple[Any, Any, Any, str | None]]:
        """What the bench counts as sampled in a cell: `(function, count(result) -> int, owner class
        or None, attribute name or None)` per sampling function of the family (a module-level
        function is wrapped wherever it is bound; a method as the attribute of its class). None
        counted (an empty list): the cell reports estimates per second only."""
        return []

    def bench_samples_per_repetition(self, cell) -> int:
        """Sampled units of one repetition of one batch (transitions |τ|·T, or draws N)."""
        return int(cell.batch)


def integer_parameter(parameters: Mapping[str, Any], names: tuple[str, ...]) -> int:
    """The largest integer value among `parameters[name]` (bools excluded), at least 1."""
    return max([int(parameters[name]) for name in names
                if isinstance(parameters.get(name), int) and not isinstance(parameters.get(name), bool)] or [1])
