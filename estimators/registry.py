"""The estimator registry: one function plus one `@register(...)` line makes an estimator.

An estimator is a function `(problem, repetitions, rng, **parameters) -> estimates`:
- `problem`: a `MetaProblem` (kind `tabular`), a `ToyProblem` (kind `gaussian_toy`) or a
  `LolaProblem` (kind `ipd`) or a `BanditLifetimeProblem` (kind `bandit`); each in its family's `problem.py`;
- `repetitions`: R independent estimates to draw;
- `rng`: a `numpy.random.Generator`, the only source of randomness;
- returns `(R, S, A)` for tabular problems (estimates of ∇_φ), `(R, 1)` for the toy,
  `(R, 2, 5)` for the IPD (both players' LOLA meta-gradients), `(R, 2)` for the bandit
  learning-rate schedule.

The built-in estimators register when the package is imported (`estimators/__init__.py`
imports each family's estimator modules after this module). External packages register theirs
through the entry-point group `mgbench.estimators`
(each entry point names a module whose import runs its `@register` lines), or at run
time with `load_estimator("module:function")`.

Parameter values are checked once, when a sweep is loaded, before any cell runs: an
estimator may declare `validate=check` in `@register`, a function
`check(parameters, setting) -> None` that raises `ValueError("<field>: expected ...")`,
where `parameters` holds every keyword parameter (defaults filled in) and `setting` the
problem it will see: `kind`, `target` (`ideal`/`practical`), `meta_parameter` and
`critic` (None for the toy). `<field>` is a parameter name, or `critic`/`target`/
`meta_parameter` when the setting is what the estimator cannot serve.
"""
from __future__ import annotations

import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable, Literal, Mapping

from estimators.sources import code_hash, source_files

ProblemKind = Literal["tabular", "gaussian_toy", "ipd", "bandit"]
PROBLEM_KINDS = ("tabular", "gaussian_toy", "ipd", "bandit")
ENTRY_POINT_GROUP = "mgbench.estimators"
Validator = Callable[[Mapping[str, Any], Mapping[str, Any]], None]


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its function, the problem kind it serves, its parameters and
    the optional check of their values (`validate`, see the module docstring)."""

    name: str
    problem: ProblemKind
    function: Callable[..., Any]
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    validate: Validator | None = None
    bounds: tuple[str, ...] = ()
    inner_gradient: str | Callable[..., Any] | None = None
    framework: str = "numpy"

    def check(self, parameters: Mapping[str, Any], setting: Mapping[str, Any]) -> None:
        """Run `validate` on the defaults overridden by `parameters`; raises `ValueError`."""
        if self.validate is not None:
            self.validate({**self.parameters, **parameters}, dict(setting))

    def source_files(self) -> dict[str, Path]:
        """`{module name: file}` of the code an estimate runs through (`estimators.sources.source_files`
        of the function's module; a surrogate's estimator is unwrapped to the researcher's function,
        whose module imports the autodiff driver); empty when the defining file cannot be read."""
        return source_files(inspect.unwrap(self.function))

    def source_hash(self) -> str:
        """16 hex digits of sha256 over `source_files` (`estimators.sources.code_hash`): changes when
        any module the estimate runs through is edited."""
        return code_hash(inspect.unwrap(self.function))

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
             validate: Validator | None = None, bounds: tuple[str, ...] | list[str] = (),
             inner_gradient: str | Callable[..., Any] | None = None, framework: str = "numpy"):
    """Decorator registering `function` as estimator `name` for problems of kind `problem`.

    `parameters` maps each keyword parameter to its default (also shown by `mgbench list`);
    when omitted, the keyword-only parameters of the function and their defaults are used.
    `validate(parameters, setting)` checks parameter values before any cell runs (module
    docstring).
    `bounds` names the theoretical bounds (keys of `benchmark.analysis.bounds.BOUNDS`) the estimator
    claims to satisfy; reports and `mgbench compare` judge it against them where they apply.
    `inner_gradient` says how its inner policy gradient is formed, for σ_in of the
    compositional bound: a surrogate family (`dice`, `loaded`, `lvc`, `maml`) or a function
    `(problem, repetitions, rng) -> (R, S, A)` of one-trajectory inner gradients at θ_0;
    None means the problem's standard estimate (γᵗ A_t ∇log π with the problem's critic).
    `framework` records what the estimate is computed with (`numpy`, or `jax` / `torch` for a
    surrogate registered by `estimators.register_surrogate`); `mgbench list` shows it.
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
        _REGISTRY[key] = EstimatorSpec(name, problem, function, description, dict(defaults), validate,
                                       tuple(bounds), inner_gradient, framework)
        return function

    return decorate


def get_estimator(name: str, problem: ProblemKind = "tabular") -> EstimatorSpec:
    """The estimator registered as `name` for `problem`; a clear error names the choices."""
    _load_entry_points()
    try:
        return _REGISTRY[(problem, name)]
    except KeyError:
        names = sorted(n for p, n in _REGISTRY if p == problem)
        raise ValueError(f"estimator: unknown {problem} estimator {name!r}{did_you_mean(name, names)} "
                         f"(expected one of: {', '.join(names)})") from None


def did_you_mean(word: str, choices: list[str] | tuple[str, ...]) -> str:
    """` (did you mean 'x'?)` for the nearest of `choices` (difflib), or an empty string."""
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


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
    module_name, _, attribute = str(reference).partition(":")
    if not module_name.strip():
        raise ValueError(f"estimator module: expected MODULE[:NAME] or FILE.py[:NAME], got {reference!r}")
    try:
        if module_name.endswith(".py"):
            module = _import_path(module_name)
        else:
            module = importlib.import_module(module_name)
    except FileNotFoundError:
        raise ValueError(f"estimator module: cannot import {module_name!r} (no such file)") from None
    except Exception as error:  # noqa: BLE001 - a plug-in may fail at import with anything
        where = ""
        if isinstance(error, SyntaxError) and error.lineno:
            where = f" at line {error.lineno}"
        raise ValueError(f"estimator module: cannot import {module_name!r} "
                         f"({type(error).__name__}{where}: {_first_line(error)})") from None
    if attribute and not hasattr(module, attribute):
        raise ValueError(f"estimator: module {module_name!r} has no attribute {attribute!r}")
    defined = [spec for spec in _REGISTRY.values() if getattr(spec.function, "__module__", None) == module.__name__]
    if attribute:
        wanted = getattr(module, attribute)      # a surrogate's estimator wraps the function the module holds
        defined = [spec for spec in defined if wanted in (spec.function, getattr(spec.function, "__wrapped__", None))]
    return defined


def _first_line(error: BaseException) -> str:
    text = str(error.msg if isinstance(error, SyntaxError) and error.msg else error)
    return text.strip().splitlines()[0] if text.strip() else "no message"


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
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(file.stem, None)
        raise
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
