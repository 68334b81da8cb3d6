"""Which registered estimators are one path-wise pass, and which pass: the table that lets
`exact_moments` of `estimators.tabular.enumeration` and `estimators.bandit.enumeration` compute their exact mean and covariance.

An estimator module declares its pass with `@pathwise_pass(kind, name)` on a function mapping
the estimator's parameters to a `PracticalPass` (tabular, `estimators.tabular.inner_paths`) or a
`LifetimePass` (bandit, `estimators.bandit.lifetime`).
"""
from __future__ import annotations

from typing import Any, Callable

_PATHWISE: dict[tuple[str, str], Callable[..., Any]] = {}


def pathwise_pass(kind: str, name: str):
    """Declare the pass of registered estimator `name` of problem kind `kind` (`tabular` or `bandit`)."""
    def decorate(function):
        _PATHWISE[(kind, name)] = function
        return function
    return decorate


def pathwise_estimators(kind: str) -> list[str]:
    """Names of the estimators of `kind` that declared a path-wise pass."""
    return sorted(name for k, name in _PATHWISE if k == kind)


def pass_of(kind: str, name: str) -> Callable[..., Any]:
    """The declared pass builder of estimator `name` of `kind`; a one-line error names the choices."""
    try:
        return _PATHWISE[(kind, name)]
    except KeyError:
        raise ValueError(f"estimator: {name!r} has no path-wise pass to enumerate for {kind} problems "
                         f"(expected one of {pathwise_estimators(kind)})") from None


def merged_parameters(spec, parameters) -> dict[str, Any]:
    """The registered defaults of estimator `spec` overridden by `parameters`; a one-line error
    names a parameter the estimator does not have."""
    unknown = set(parameters) - set(spec.parameters)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not a parameter of estimator {spec.name!r}")
    return {**spec.parameters, **parameters}
