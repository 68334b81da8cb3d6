"""What a figure is: the sweeps it needs, the analysis that draws it, and what it is compared with.

A study module (`benchmark/studies/<study>.py`) holds `FIGURES`, a list of `FigureSpec`s.
Each spec names preset sweeps (experiments as data, bsuite style); `make_figures` runs them
(resuming), hands the tidy results to `draw` (an analysis function DataFrame -> Figure that
calls `benchmark.present.plotting` for the drawing) and to `compare` (the sentence, with numbers,
that says whether the published claim holds on our data). A figure that is a small
simulation rather than a sweep gives `simulate` instead of `sweeps`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from benchmark.analysis.bounds import BOUNDS, BoundCheck
from benchmark.analysis.claims import CLAIM_VERDICTS
from benchmark.present.pages import fmt, fmt_slope

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from benchmark.sweeps.records import Sweep



@dataclass(frozen=True)
class Comparison:
    """The comparison of a figure's numbers with the published claim.

    Attributes:
      verdict: one of `benchmark.analysis.claims.CLAIM_VERDICTS` (given by `claim_verdict`).
      text: one or a few sentences with the numbers (slopes with intervals, values).
      details: optional rows for a table under the sentence (e.g. bound checks).
      tables: further tables under it, each `(caption, rows)` (e.g. the paper's own metric beside ours).
    """

    verdict: str
    text: str
    details: list[dict[str, Any]] = field(default_factory=list)
    tables: tuple[tuple[str, list[dict[str, Any]]], ...] = ()

    def __post_init__(self):
        if self.verdict not in CLAIM_VERDICTS:
            raise ValueError(f"verdict: expected one of {CLAIM_VERDICTS}, got {self.verdict!r}")


@dataclass(frozen=True)
class FigureData:
    """What the analysis functions of a figure receive.

    Attributes:
      results: the `ok` cells of every sweep of the figure, concatenated, with a `preset`
        column naming the sweep (the preset name, also in quick mode); or the simulation's
        table.
      sweeps: `{preset name: Sweep}` as run (the quick version in quick mode).
      quick: the figure is drawn from the quick sweeps.
      failed: the cells that failed (same columns, `error` says why).
      settings: for simulations, the settings to show (name -> value).
    """

    results: "pd.DataFrame"
    sweeps: Mapping[str, "Sweep"]
    quick: bool
    failed: "pd.DataFrame | None" = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def of(self, preset: str) -> "pd.DataFrame":
        """The ok cells of one sweep of the figure."""
        return self.results[self.results["preset"] == preset]


Unit = tuple[Callable[..., "pd.DataFrame"], Mapping[str, Any]]


@dataclass(frozen=True)
class Simulation:
    """What a figure simulates.

    Attributes:
      name: the store's name (`<results>/simulations/<name>[-quick].sqlite`, `benchmark.studies.simulations`).
      units: `quick -> {unit name: (function, kwargs)}`; `function(**kwargs)` returns the
        unit's rows as a `pd.DataFrame` (the table is their concatenation, in this order).
      settings: `quick -> {name: value}`, the settings shown on the figure's page.
      sources: dotted module names whose code the numbers depend on: their files' bytes, and those of the
        modules of `mdps` and `estimators` they import (`estimators.sources.code_hash`), key the store.
      expected_seconds: measured seconds of the full units, a scheduling hint only (the
        longest run first, so the workers finish together; never part of the numbers).
    """

    name: str
    units: Callable[[bool], Mapping[str, Unit]]
    settings: Callable[[bool], Mapping[str, Any]]
    sources: tuple[str, ...]
    expected_seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FigureSpec:
    """One figure of a study.

    Attributes:
      filename: stem of `reports/figures/<study>/<filename>.{png,pdf}`.
      title: short title (HTML heading).
      sweeps: preset sweep names whose results the figure draws (empty for simulations).
      draw: `FigureData -> matplotlib Figure` (an analysis function calling `benchmark.present.plotting`).
      compare: `FigureData -> Comparison`.
      reproduces: what it reproduces (which paper, which figure or claim) and its settings.
      claim: the published claim it is compared with.
      notes: how to read it (what bands and dashed lines are), deviations from the paper.
      simulation: for figures that are not sweeps: the `Simulation` whose table they draw
        (run in units on the sweeps' workers, stored under `<results>/simulations/`).
      gallery: a full (not quick) run also copies the PNG to `reports/gallery/<study>_<filename>.png`
        (the committed gallery of docs/figures.md).
    """

    filename: str
    title: str
    sweeps: tuple[str, ...]
    draw: Callable[[FigureData], "Figure"]
    compare: Callable[[FigureData], Comparison]
    reproduces: str
    claim: str
    notes: str = ""
    simulation: Simulation | None = None
    gallery: bool = False


# ----------------------------------------------------------------------------- bound checks in words

def check_phrase(check: BoundCheck, *, what: str) -> str:
    """'X: log-log slope -0.52 [-0.61, -0.43] (50 resolved, 30 censored, 0 excluded) vs the
    bound's exponent -0.5 → tight'."""
    cells = (check.n_resolved, check.n_censored, check.n_excluded)
    if not np.isfinite(check.slope):
        return (f"{what}: no slope, {fmt_slope(check.slope, check.slope_lo, check.slope_hi, cells=cells)} "
                f"({check.note or 'too few resolved cells'})")
    expected = "slope 1 against the bound's shape" if check.exponent is None else f"exponent {fmt(check.exponent)}"
    return (f"{what}: log-log slope {fmt_slope(check.slope, check.slope_lo, check.slope_hi, cells=cells)} vs the "
            f"bound's {expected} → {check.verdict}")


def check_row(check: BoundCheck, **labels: Any) -> dict[str, Any]:
    """A row of the details table of a comparison."""
    return {**labels, "bound": BOUNDS[check.bound].formula, "axis": check.axis,
            "slope [95%] (cells)": fmt_slope(check.slope, check.slope_lo, check.slope_hi,
                                             cells=(check.n_resolved, check.n_censored, check.n_excluded)),
            "expected": "1 (vs shape)" if check.exponent is None else fmt(check.exponent),
            "C (least squares)": fmt(check.constant_ls), "C (envelope)": fmt(check.constant_envelope),
            "verdict": check.verdict}
