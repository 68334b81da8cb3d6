"""The one-line checks that turn bad values of a sweep file into `SweepError`s, shared by the
sweep schema (`benchmark.sweeps`) and the problem families (`benchmark.families`).

Every check raises `SweepError("<key>: <what was expected>, got <value>")`.
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

# Integers anywhere in a sweep must be below this in magnitude: SQLite and numpy int64 hold them.
INTEGER_LIMIT = 2**63


class SweepError(ValueError):
    """A sweep that cannot run; the message is one line, `<key>: <what was expected>`."""


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


def mdp_field(name: str, value: Any) -> Any:
    """A field that MDP-like problems share (`n_states`, `n_actions`, `rollout_length`, `horizon`:
    positive integers; `gamma` in [0, 1)), checked; a `SweepError` names it."""
    path = f"problem.{name}"
    if name == "gamma":
        gamma = expect_number(path, value, what="a number in [0, 1)")
        if not 0 <= gamma < 1:
            raise SweepError(f"{path}: expected a number in [0, 1), got {value!r}")
        return gamma
    return expect_int(path, value, minimum=1, what="a positive integer")

