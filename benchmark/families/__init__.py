"""The problem families, one module each, and their one table (`FAMILIES`).

A family (`benchmark.families.family.Family`) owns what mgbench knows about one kind of problem:
its `[problem]` fields, defaults, presets and checks, the meta-parameters, targets and axes it
serves, how a cell builds its problem and its target, σ_in, the memory of one repetition, its
metrics, its `compare` suite and its bench problem. The sweep schema, the cells, the store, the
reports, `compare`, the bench and the studies ask the family; none of them compares the kind
with a string. Adding a family: docs/architecture.md, "Add a problem family".
"""
from __future__ import annotations

from benchmark.families import bandit, gaussian_toy, ipd, tabular
from benchmark.families.family import Family
from benchmark.families.schema import SweepError

FAMILIES: dict[str, Family] = {module.FAMILY.name: module.FAMILY for module in (tabular, ipd, bandit, gaussian_toy)}


def family_of(kind: str) -> Family:
    """The family of problem kind `kind`; a one-line `SweepError` names the choices."""
    try:
        return FAMILIES[kind]
    except KeyError:
        raise SweepError(f"problem.kind: expected one of {', '.join(map(repr, FAMILIES))}, got {kind!r}") from None


def family_of_columns(columns) -> Family:
    """The family of a results table without its settings: the first family (in `FAMILIES`
    order) whose problem axes are all among `columns` (tabular, where the IPD shares its axes)."""
    present = set(columns)
    for family in FAMILIES.values():
        if set(family.problem_axes) <= present:
            return family
    return next(iter(FAMILIES.values()))


def owners(attribute: str) -> dict[str, str]:
    """`{choice: the first family serving it}` for a family attribute listing choices
    (`meta_parameters`, `targets`), for the errors of the families that do not serve it."""
    found: dict[str, str] = {}
    for family in FAMILIES.values():
        for choice in getattr(family, attribute):
            found.setdefault(choice, family.name)
    return found


__all__ = ["FAMILIES", "Family", "family_of", "family_of_columns", "owners"]
