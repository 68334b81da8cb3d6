"""The one HTML page builder and the one number formatter of mgbench's pages.

Every page (sweep report, `mgbench compare`, study pages) is `page(title, body)` with the
same style sheet; tables are `table(rows)` or `frame_table(frame)`; numbers go through
`fmt` (significant digits), `fmt_interval` ('0.52 [0.48, 0.57]'), `fmt_bias` (an
interval reaching 0 is an upper limit: '< 0.0031', never '0') and `fmt_slope` (a slope with
its interval and its resolved / censored / excluded cells).
"""
from __future__ import annotations

import datetime as _datetime
import html
import math
from typing import Any, Mapping, Sequence

__all__ = ["page", "table", "frame_table", "badge", "banner", "details", "fmt", "fmt_interval", "fmt_bias",
           "fmt_slope", "verdict_definitions", "now", "VERDICT_COLOURS"]

VERDICT_COLOURS = {"tight": "#029e73", "consistent": "#0173b2", "violated": "#d55e00", "inconclusive": "#949494",
                   "agrees": "#029e73", "partly agrees": "#de8f05", "disagrees": "#d55e00",
                   "no published claim": "#0173b2", "skipped": "#949494"}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: .5em 0; font-size: 85%; }
td, th { border: 1px solid #ccc; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
.badge { color: white; padding: 1px 6px; border-radius: 3px; font-size: 85%; white-space: nowrap; }
.meta, .ref, .links, .caption { color: #555; font-size: 90%; }
.caption { max-width: 900px; }
.notes { font-size: 92%; }
.skipped { color: #d55e00; }
.banner { background: #fff3cd; border: 2px solid #de8f05; padding: .6em 1em; margin: 1em 0; font-weight: 600; }
.found { background: #eef6fb; border-left: 4px solid #0173b2; padding: .5em 1em; }
dl.defs dt { font-weight: 600; float: left; clear: left; width: 10.5em; }
dl.defs dd { margin-left: 11em; margin-bottom: .2em; font-size: 92%; }
section { margin-top: 2.2em; }
details summary { cursor: pointer; color: #0173b2; }
"""


def page(title: str, body: str | Sequence[str]) -> str:
    """A complete HTML document with mgbench's style sheet."""
    text = body if isinstance(body, str) else "\n".join(body)
    return (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n{text}\n</body></html>\n")


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    if isinstance(value, dict):
        return "; ".join(f"{key}={_cell(item)}" for key, item in value.items())
    if value is None:
        return ""
    return str(value)


def table(rows: Sequence[Mapping[str, Any]], *, raw: Sequence[str] = ()) -> str:
    """An HTML table of dict rows (columns in order of first appearance); cells escaped
    except the columns in `raw` (already HTML, e.g. badges)."""
    columns = list(dict.fromkeys(name for row in rows for name in row))
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in columns)
    body = "".join("<tr>" + "".join(
        f"<td>{row.get(name, '') if name in raw else html.escape(_cell(row.get(name, '')))}</td>"
        for name in columns) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def frame_table(frame, *, raw: Sequence[str] = ()) -> str:
    """`table` of a DataFrame's rows (missing values blank)."""
    rows = [{key: (None if _missing(value) else value) for key, value in row.items()}
            for row in frame.to_dict("records")]
    if not rows:
        return "<p class='meta'>(none)</p>"
    return table(rows, raw=raw)


def badge(verdict: str) -> str:
    """A coloured verdict label."""
    colour = VERDICT_COLOURS.get(verdict, "#949494")
    return f"<span class='badge' style='background:{colour}'>{html.escape(verdict)}</span>"


def banner(text: str) -> str:
    """A prominent warning line (e.g. that a page shows a smoke run)."""
    return f"<div class='banner'>{html.escape(text)}</div>"


def details(summary: str, body: str) -> str:
    """A collapsible section."""
    return f"<details><summary>{html.escape(summary)}</summary>{body}</details>"


def verdict_definitions(meanings: Mapping[str, str], *, precision: float | None = None) -> str:
    """The verdict vocabulary as a definition list (every page that uses verdicts shows it)."""
    items = "".join(f"<dt>{badge(name)}</dt><dd>{html.escape(text)}</dd>" for name, text in meanings.items())
    note = (f"<p class='meta'>Precision used here: a slope interval's half-width must be at most "
            f"±{precision:g} (exponent units) for tight or violated.</p>" if precision is not None else "")
    return f"<dl class='defs'>{items}</dl><div style='clear:both'></div>{note}"


# ----------------------------------------------------------------------------- numbers

def fmt(value: Any, digits: int = 3) -> str:
    """A number with `digits` significant digits ('n/a' for missing, integers plain)."""
    if isinstance(value, bool):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "n/a"
    if number == 0:
        return "0"
    if number.is_integer() and abs(number) < 1e6:
        return str(int(number))
    return f"{number:.{digits}g}"


def fmt_interval(value: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    """'0.52 [0.48, 0.57]'; '0.52 [0.3, ∞]' for an upper limit of +∞ (the data do not bound it);
    the value alone without an interval."""
    if not _finite(value):
        return "n/a"
    if _finite(lo) and _infinite_upper(hi):
        return f"{fmt(value, digits)} [{fmt(lo, digits)}, ∞]"
    if not (_finite(lo) and _finite(hi)):
        return fmt(value, digits)
    return f"{fmt(value, digits)} [{fmt(lo, digits)}, {fmt(hi, digits)}]"


def fmt_bias(value: Any, lo: Any, hi: Any, digits: int = 3) -> str:
    """A bias (or any quantity ≥ 0) with its interval; unresolved (lo ≤ 0) as '< hi', and as
    'not resolved' when hi is +∞ too."""
    if _infinite_upper(hi) and not (_finite(lo) and float(lo) > 0):
        return "not resolved"
    if _finite(hi) and (not _finite(lo) or float(lo) <= 0):
        return f"< {fmt(hi, digits)}"
    return fmt_interval(value, lo, hi, digits)


def fmt_slope(slope: Any, lo: Any, hi: Any, *, cells: Sequence[Any]) -> str:
    """A fitted slope with its interval and the cells behind it, the one way every page
    prints a slope: '-0.52 [-0.61, -0.43] (50 resolved, 30 censored, 0 excluded)' with two
    decimals; '— (2 resolved, 6 censored, 0 excluded)' without a slope.

    Args:
      slope, lo, hi: the slope and its interval (nan: none).
      cells: (resolved, censored, excluded): the cells entering the fit as points, as upper
        limits (under the noise floor), and not at all.
    """
    resolved, censored, excluded = (_count(value) for value in cells)
    counts = f"({resolved} resolved, {censored} censored, {excluded} excluded)"
    if not _finite(slope):
        return f"— {counts}"
    if not (_finite(lo) and _finite(hi)):
        return f"{float(slope):.2f} {counts}"
    return f"{float(slope):.2f} [{float(lo):.2f}, {float(hi):.2f}] {counts}"


def _count(value: Any) -> str:
    return str(int(value)) if _finite(value) else "?"


def tail_section(heavy, total: int, keys: Sequence[str], *, kurtosis_note: float, share_note: float) -> str:
    """A note on the cells whose variance is a rare-event statistic, and their `tail_table`.

    Args:
      heavy: the rows (a DataFrame) of those cells, with the tail diagnostics.
      total: the number of cells they were chosen from.
      keys: the columns that name a cell.
      kurtosis_note, share_note: the thresholds that chose them.
    """
    unresolved = int(sum(_infinite_upper(value) for value in heavy["variance_hi"])) if "variance_hi" in heavy else 0
    text = (f"{len(heavy)} of {total} cells have heavy-tailed estimates (kurtosis ≥ {fmt(kurtosis_note)}, the "
            f"largest 0.1 % of the estimates carrying ≥ {fmt(100 * share_note)} % of Σ‖g − m‖², against about 1 % "
            f"for Gaussian estimates, or a tail index below 2): their variance is a rare-event statistic, set by a few extreme estimates; "
            f"compare it with the variance without the top 0.1 %. A tail index (of ‖g − m‖², Hill's estimate from "
            f"the largest √R) below 2 means the variance's own uncertainty may be unbounded, below 1 that the "
            f"variance itself may not exist. Intervals of variance, std_sum and mse are "
            f"studentized (bootstrap-t); an upper limit ∞ ({unresolved} of these cells) means one estimate carries "
            f"half of Σ‖g − m‖², or Hill's estimates from the 2√R and the √R/2 largest values do not reject a tail "
            f"index ≤ 1 (at one-sided level 1 − the intervals' confidence): the data do not show that the variance "
            f"exists, so they cannot bound it, the mse or the bias (docs/methods.md, Heavy tails).")
    return f"<p class='notes'>{html.escape(text)}</p>" + tail_table(heavy, keys)


def tail_table(frame, keys: Sequence[str]) -> str:
    """The tail diagnostics of the cells of `frame` (one row each, columns `keys` first): the
    variance with its interval, the trimmed variance, kurtosis and tail share (docs/methods.md,
    Heavy tails)."""
    rows = []
    for record in frame.to_dict("records"):
        row = {key: record.get(key) for key in keys}
        row["variance [95%]"] = fmt_interval(record.get("variance"), record.get("variance_lo"),
                                             record.get("variance_hi"))
        row["variance without the largest 0.1 %"] = fmt(record.get("trimmed_variance"))
        row["kurtosis"] = fmt(record.get("kurtosis"))
        row["share of the largest 0.1 % (≥ 1 estimate)"] = fmt(record.get("tail_share"), 2)
        row["tail index (Hill)"] = fmt(record.get("tail_index"), 2)
        rows.append(row)
    return table(rows) if rows else "<p class='meta'>(none)</p>"


def _infinite_upper(value: Any) -> bool:
    try:
        return float(value) == math.inf
    except (TypeError, ValueError):
        return False


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)   # nan, pd.NA raise or compare unequal
    except (TypeError, ValueError):
        return True


# ----------------------------------------------------------------------------- provenance

def now() -> str:
    """The current UTC time, to the minute."""
    return _datetime.datetime.now(_datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
