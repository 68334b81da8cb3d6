"""The HTML page of a study: each figure with what it reproduces, its settings, and the comparison."""
from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from benchmark.studies.spec import Comparison, FigureSpec
from benchmark.analysis.claims import CLAIM_VERDICT_MEANINGS
from benchmark.present.pages import badge, banner, now, page, table, verdict_definitions

STUDY_TITLES = {
    "liu2022": "Liu et al. (2022): gradient bias in meta-RL, tabular study",
    "tang2022": "Tang (2022): biased gradient estimates with drastic variance reduction",
    "vuorio2022": "Vuorio et al. (2022): the bias-variance trade-off in meta-gradients",
    "beyond": "Beyond the papers: the same estimators against both targets",
    "tang2021": "Tang et al. (2021): Hessian estimates from off-policy evaluation",
}
STUDY_REFERENCES = {
    "liu2022": "Liu, Chung, Sanner, Wang, Xu. A Theoretical Understanding of Gradient Bias in Meta-Reinforcement "
               "Learning. NeurIPS 2022, arXiv 2112.15400.",
    "tang2022": "Tang. Biased Gradient Estimate with Drastic Variance Reduction for Meta Reinforcement Learning. "
                "ICML 2022, arXiv 2112.07328.",
    "vuorio2022": "Vuorio, Beck, Whiteson, Foerster, Farquhar. An Investigation of the Bias-Variance Tradeoff in "
                  "Meta-Gradients. 2022, arXiv 2209.11303.",
    "beyond": "Ideal target (Liu et al. 2022) vs practical target (Tang 2022; Fallah et al.; Vuorio et al. 2022), "
              "docs/methods.md, Two targets.",
    "tang2021": "Tang, Kozuno, Rowland, Munos, Valko. Unifying Gradient Estimators for Meta-Reinforcement Learning "
                "via Off-Policy Evaluation. NeurIPS 2021, arXiv 2106.13125.",
}
QUICK_BANNER = ("Quick run: a smoke test of the pipeline (fewer points, at most 2 problem instances, at most 256 "
                "estimates per cell). Its numbers and comparisons are not results; the full run writes the page "
                "without -quick.")


@dataclass
class FigureRecord:
    """What `make_figures` learned about one figure, for the page."""

    spec: FigureSpec
    paths: list[Path] = field(default_factory=list)
    comparison: Comparison | None = None
    settings: list[dict[str, Any]] = field(default_factory=list)
    run_seconds: float = 0.0
    cell_seconds: float = 0.0
    draw_seconds: float = 0.0
    cells_ok: int = 0
    cells_failed: int = 0
    first_error: str | None = None
    results_paths: list[Path] = field(default_factory=list)
    skipped: str | None = None
    heavy_tails: str = ""      # HTML: the cells with large tail diagnostics, or empty


def write_study_page(path: Path, study: str, records: Sequence[FigureRecord], *, quick: bool,
                     command: str) -> Path:
    """Write `reports/<study>.html` (figures referenced by relative path)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    title = STUDY_TITLES.get(study, study)
    parts = [f"<h1>{html.escape(title)}{' — quick run' if quick else ''}</h1>"]
    if quick:
        parts.append(banner(QUICK_BANNER))
    parts += [f"<p class='ref'>{html.escape(STUDY_REFERENCES.get(study, ''))}</p>",
              f"<p class='meta'>Regenerate with <code>{html.escape(command)}</code>. Written {now()}.</p>",
              _summary_table(records, quick=quick), claim_verdict_definitions()]
    for record in records:
        parts.append(_figure_section(path.parent, record))
    path.write_text(page(title + (" (quick)" if quick else ""), parts), encoding="utf-8")
    return path


def write_index_page(path: Path, pages: Mapping[str, Path], *, quick: bool, command: str) -> Path:
    """Write `reports/all.html`: a link to every study page."""
    items = "\n".join(f"<li><a href='{html.escape(os.path.relpath(page, path.parent))}'>"
                      f"{html.escape(STUDY_TITLES.get(study, study))}</a></li>" for study, page in pages.items())
    path.write_text(page("mgbench figures", "<h1>mgbench: the published figures, regenerated</h1>"
                         + (banner(QUICK_BANNER) if quick else "")
                         + f"<p class='meta'><code>{html.escape(command)}</code>, {now()}</p><ul>{items}</ul>"),
                    encoding="utf-8")
    return path


def claim_verdict_definitions() -> str:
    """The one vocabulary of a verdict on a paper's claim (`benchmark.analysis.claims`), defined on every study page."""
    return ("<h2>What the verdicts mean</h2>"
            + verdict_definitions(CLAIM_VERDICT_MEANINGS))


def _summary_table(records: Sequence[FigureRecord], *, quick: bool = False) -> str:
    rows = []
    for record in records:
        verdict = record.comparison.verdict if record.comparison else ("skipped" if record.skipped else "—")
        if quick and record.comparison:
            verdict = "smoke run"
        ok = f"{record.cells_ok} rows simulated" if record.spec.simulation is not None else f"{record.cells_ok}"
        rows.append(f"<tr><td><a href='#{record.spec.filename}'>{html.escape(record.spec.title)}</a></td>"
                    f"<td>{badge(verdict)}</td><td>{ok}</td><td>{record.cells_failed}</td>"
                    f"<td>{record.run_seconds:.1f}</td><td>{record.cell_seconds:.1f}</td></tr>")
    return ("<table class='summary'><tr><th>figure</th><th>published claim</th><th>cells ok</th><th>failed</th>"
            "<th>sweep wall time this run (s)</th><th>cell compute time, all runs (s)</th></tr>"
            + "".join(rows) + "</table>")


def _figure_section(directory: Path, record: FigureRecord) -> str:
    spec = record.spec
    out = [f"<section id='{html.escape(spec.filename)}'><h2>{html.escape(spec.title)}</h2>"]
    if record.skipped:
        out.append(f"<p class='skipped'>Not drawn: {html.escape(record.skipped)}</p></section>")
        return "\n".join(out)
    png = next((p for p in record.paths if p.suffix == ".png"), None)
    pdf = next((p for p in record.paths if p.suffix == ".pdf"), None)
    if png is not None:
        out.append(f"<img src='{html.escape(os.path.relpath(png, directory))}' alt='{html.escape(spec.title)}'>")
    links = []
    if pdf is not None:
        links.append(f"<a href='{html.escape(os.path.relpath(pdf, directory))}'>PDF</a>")
    links += [f"<a href='{html.escape(os.path.relpath(csv, directory))}'>{html.escape(csv.parent.name)}/{html.escape(csv.name)}</a>"
              for csv in record.results_paths]
    if links:
        out.append(f"<p class='links'>{' · '.join(links)}</p>")
    out.append(f"<p><b>Reproduces.</b> {html.escape(spec.reproduces)}</p>")
    out.append(f"<p><b>Published claim.</b> {html.escape(spec.claim)}</p>")
    out.append(f"<p class='caption'><b>Run here.</b> {html.escape(run_settings(record))}</p>")
    if record.comparison is not None:
        out.append(f"<p><b>Our numbers.</b> {badge(record.comparison.verdict)} "
                   f"{html.escape(record.comparison.text)}</p>")
        if record.comparison.details:
            out.append(table(record.comparison.details))
        for caption, rows in record.comparison.tables:
            if rows:
                out.append(f"<p class='notes'>{html.escape(caption)}</p>" + table(rows))
    if spec.notes:
        out.append(f"<p class='notes'><b>How to read it.</b> {html.escape(spec.notes)}</p>")
    if record.heavy_tails:
        out.append(f"<details open><summary>Heavy tails</summary>{record.heavy_tails}</details>")
    if record.cells_failed:
        out.append(f"<p class='skipped'>{record.cells_failed} cells failed and are not drawn; first error: "
                   f"{html.escape(str(record.first_error))}</p>")
    out.append("<details><summary>Settings</summary>" + "".join(table([row]) for row in record.settings) + "</details>")
    what, unit = ("Simulation", "unit") if record.spec.simulation is not None else ("Sweep", "cell")
    out.append(f"<p class='meta'>{what} wall time in this run {record.run_seconds:.1f} s; stored {unit} compute time "
               f"{record.cell_seconds:.1f} s; drawing {record.draw_seconds:.1f} s.</p></section>")
    return "\n".join(out)


def run_settings(record: FigureRecord) -> str:
    """The settings this figure was actually drawn from: estimates per cell and problem
    instances of each sweep (or the simulation's settings), never fixed text."""
    parts = []
    for row in record.settings:
        if "sweep" in row:
            parts.append(f"{row['sweep']}: {row.get('repetitions per cell', '?')} estimates per cell, "
                         f"problem instances {row.get('problem seeds', '—')}")
        else:
            parts.append("; ".join(f"{key} = {value}" for key, value in row.items()))
    drawn = f"{record.cells_ok} rows simulated" if record.spec.simulation is not None else f"{record.cells_ok} cells drawn"
    return (" | ".join(parts) or "no settings recorded") + f" ({drawn})."
