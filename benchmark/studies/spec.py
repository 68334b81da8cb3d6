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

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

    from benchmark.sweeps.records import Sweep

VERDICTS = ("agrees", "partly agrees", "disagrees", "inconclusive", "no published claim")


@dataclass(frozen=True)
class Comparison:
    """The comparison of a figure's numbers with the published claim.

    Attributes:
      verdict: one of `VERDICTS`.
      text: one or a few sentences with the numbers (slopes with intervals, values).
      details: optional rows for a table under the sentence (e.g. bound checks).
    """

    verdict: str
    text: str
    details: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict: expected one of {VERDICTS}, got {self.verdict!r}")


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
      simulate: for figures that are not sweeps: `quick -> (table, settings)`.
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
    simulate: Callable[[bool], tuple["pd.DataFrame", dict[str, Any]]] | None = None
    gallery: bool = False
