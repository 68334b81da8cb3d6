"""The estimator registry: one function plus one `@register(...)` line makes an estimator.

An estimator is a function `(problem, repetitions, rng, **parameters) -> estimates`:
- `problem`: a `MetaProblem` (kind `tabular`) or a `ToyProblem` (kind `gaussian_toy`);
- `repetitions`: R independent estimates to draw;
- `rng`: a `numpy.random.Generator`, the only source of randomness;
- returns `(R, S, A)` for tabular problems (estimates of ∇_φ), `(R, 1)` for the toy.

The built-in estimators register when the package is imported (`estimators/__init__.py`
imports `estimators.builtin` after this module). External packages register theirs
through the entry-point group `mgbench.estimators`
(each entry point names a module whose import runs its `@register` lines), or at run
time with `load_estimator("module:function")`.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Callable, Literal

ProblemKind = Literal["tabular", "gaussian_toy"]
PROBLEM_KINDS = ("tabular", "gaussian_toy")
ENTRY_POINT_GROUP = "mgbench.estimators"


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its function, the problem kind it serves and its parameters."""

    name: str
    problem: ProblemKind
    function: Callable[..., Any]
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[str, ...] = ()
    inner_gradient: str | Callable[..., Any] | None = None

    def __call__(self, problem, repetitions: int, rng, **parameters):
        unknown = set(parameters) - set(self.parameters)
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]}: not a parameter of estimator {self.name!r} "
                             f"(expected one of {sorted(self.parameters) or 'none'})")
        return self.function(problem, repetitions, rng, **{**self.parameters, **parameters})


_REGISTRY: dict[tuple[str, str], EstimatorSpec] = {}
_ENTRY_POINTS_LOADED = False


def register(name: str, *, problem: ProblemKind, description: str,
             parameters: dict[str, Any] | None = None, replace: bool = False,
             bounds: tuple[str, ...] | list[str] = (), inner_gradient: str | Callable[..., Any] | None = None):
    """Decorator registering `function` as estimator `name` for problems of kind `problem`.

    `parameters` maps each keyword parameter to its default (also shown by `mgbench list`);
    when omitted, the keyword-only parameters of the function and their defaults are used.
    `bounds` names the theoretical bounds (keys of `benchmark.bounds.BOUNDS`) the estimator
    claims to satisfy; reports and `mgbench compare` judge it against them where they apply.
    `inner_gradient` says how its inner policy gradient is formed, for σ_in of the
    compositional bound: a surrogate family (`dice`, `loaded`, `lvc`, `maml`) or a function
    `(problem, repetitions, rng) -> (R, S, A)` of one-trajectory inner gradients at θ_0;
    None means the problem's standard estimate (γᵗ A_t ∇log π with the problem's critic).
    """
    if problem not in PROBLEM_KINDS:
        raise ValueError(f"problem: expected one of {PROBLEM_KINDS}, got {problem!r}")
    if isinstance(bounds, str) or not all(isinstance(bound, str) for bound in bounds):
        raise ValueError(f"bounds: expected a tuple of bound names, got {bounds!r}")

    def decorate(function):
        defaults = parameters if parameters is not None else _keyword_defaults(function)
        key = (problem, name)
        if key in _REGISTRY and not replace and _REGISTRY[key].function is not function:
            raise ValueError(f"estimator: {name!r} is already registered for {problem} problems")
        _REGISTRY[key] = EstimatorSpec(name, problem, function, description, dict(defaults), tuple(bounds),
                                       inner_gradient)
        return function

    return decorate


def get_estimator(name: str, problem: ProblemKind = "tabular") -> EstimatorSpec:
    """The estimator registered as `name` for `problem`; a clear error names the choices."""
    _load_entry_points()
    try:
        return _REGISTRY[(problem, name)]
    except KeyError:
        choices = ", ".join(sorted(n for p, n in _REGISTRY if p == problem))
        raise ValueError(f"estimator: unknown {problem} estimator {name!r} (expected one of: {choices})") from None


def available_estimators(problem: ProblemKind | None = None) -> list[EstimatorSpec]:
    """Every registered estimator (for one problem kind if given), sorted by kind and name."""
    _load_entry_points()
    return [spec for key, spec in sorted(_REGISTRY.items()) if problem in (None, spec.problem)]


def load_estimator(reference: str) -> list[EstimatorSpec]:
    """Import `module` or `module:function` so its `@register` lines run (once).

    `module` may also be a path to a `.py` file. Returns the estimators the module
    registers (only the one registered from `function` when it is named), whether or not
    the module had been imported before.
    """
    _load_entry_points()
    module_name, _, attribute = reference.partition(":")
    try:
        if module_name.endswith(".py"):
            module = _import_path(module_name)
        else:
            module = importlib.import_module(module_name)
    except (ImportError, FileNotFoundError) as error:
        raise ValueError(f"estimator module: cannot import {module_name!r} ({error})") from None
    if attribute and not hasattr(module, attribute):
        raise ValueError(f"estimator: module {module_name!r} has no attribute {attribute!r}")
    defined = [spec for spec in _REGISTRY.values() if getattr(spec.function, "__module__", None) == module.__name__]
    if attribute:
        defined = [spec for spec in defined if spec.function is getattr(module, attribute)]
    return defined


def _import_path(path: str):
    import importlib.util
    import pathlib
    import sys

    file = pathlib.Path(path).resolve()
    if not file.exists():
        raise FileNotFoundError(path)
    loaded = sys.modules.get(file.stem)
    if loaded is not None and getattr(loaded, "__file__", None) == str(file):
        return loaded          # already imported: running its @register lines again would clash
    spec = importlib.util.spec_from_file_location(file.stem, file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[file.stem] = module
    spec.loader.exec_module(module)
    return module


def _keyword_defaults(function) -> dict[str, Any]:
    signature = inspect.signature(function)
    return {name: parameter.default for name, parameter in signature.parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY
            and parameter.default is not inspect.Parameter.empty}


def _load_entry_points() -> None:
    global _ENTRY_POINTS_LOADED
    if _ENTRY_POINTS_LOADED:
        return
    _ENTRY_POINTS_LOADED = True
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        entry_point.load()
