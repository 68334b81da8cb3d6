"""Vuorio et al. (2022), arXiv 2209.11303: the bias-variance frontier of meta-gradient estimators.

In their setting (`vuorio2022-bandit`, `vuorio2022-bandit-fd`): a learned learning-rate
schedule on noisy 30-armed bandit tasks over a lifetime of 80 inner steps, their estimators as
their released code runs them (truncation windows at a random position × correction, DiCE, ES),
against mgbench's unbiased reference target and beside their finite-difference ground truth.

In mgbench's own setting (kept, labelled so): truncated backprop through the last L of K = 8 sampled inner steps, times the
sampling-correction coefficient λ_c ∈ {0, .25, .5, .75, 1}, with the naive autodiff
Jacobian and with DiCE's; antithetic OpenES; DiCE through the whole loop (L = K, λ_c = 0,
DiCE Jacobian). All against the practical target ∇E[V(θ_K)]: a reference estimate on a
small MDP (`vuorio-frontier`) and exact by enumeration on a bandit (`vuorio-frontier-exact`).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from benchmark.present import plotting
from benchmark.analysis.aggregation import seed_summary
from benchmark.analysis.claims import claim_verdict
from benchmark.analysis.statistics import TARGET_ERROR_MULTIPLE
from benchmark.present.pages import fmt, fmt_interval
from benchmark.studies.spec import Comparison, FigureData, FigureSpec

JACOBIAN_LABELS = {"naive": "naive autodiff Jacobian", "dice": "DiCE Jacobian"}


def _summary(data: FigureData, preset: str) -> tuple[pd.DataFrame, int]:
    cells = data.of(preset)
    steps = int(cells["steps"].iloc[0])
    summary = seed_summary(cells, ["estimator", "window", "lambda_c", "jacobian"], ["bias", "variance"])
    return summary, steps


def _frontier_tables(summary: pd.DataFrame, steps: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    truncated = summary[summary["estimator"] == "truncated"].copy()
    truncated["family"] = [f"truncated L={int(w)}" + (" (= K, full backprop)" if int(w) >= steps else "")
                           for w in truncated["window"]]
    truncated["panel"] = truncated["jacobian"].map(JACOBIAN_LABELS)
    highlight = []
    es = summary[summary["estimator"] == "es"]
    if not es.empty:
        highlight.append(es.assign(label="ES (antithetic, σ=0.1)", panel=np.nan, look="es"))
    dice = truncated[(truncated["jacobian"] == "dice") & (truncated["window"] >= steps) & (truncated["lambda_c"] == 0)]
    if not dice.empty:
        highlight.append(dice.assign(label="DiCE (L=K, λ_c=0)", panel=np.nan, look="dice"))
    unbiased = truncated[(truncated["jacobian"] == "naive") & (truncated["window"] >= steps)
                         & (truncated["lambda_c"] == 1)]
    if not unbiased.empty:
        highlight.append(unbiased.assign(label="unbiased SF (naive, L=K, λ_c=1)", panel=JACOBIAN_LABELS["naive"], look="sf"))
    return truncated, pd.concat(highlight, ignore_index=True) if highlight else None


def _draw(data: FigureData, preset: str, title: str):
    summary, steps = _summary(data, preset)
    truncated, highlight = _frontier_tables(summary, steps)
    reference = _target_error_line(data.of(preset))
    return plotting.frontier(truncated, x="variance", y="bias", hue="family", order="lambda_c", annotate="lambda_c",
                             annotate_ends=True, facet="panel", facet_label="", facet_order=list(JACOBIAN_LABELS.values()),
                             highlight=highlight, reference=reference,
                             title=title + " (numbers at each curve's ends: λ_c)")


def _target_error_line(cells: pd.DataFrame) -> list[tuple[float, str]]:
    """The dotted line of a frontier against an estimated target: twice its mean standard
    error, below which no bias is resolved (`statistics.with_target_error`); none for an exact target."""
    target_se = pd.to_numeric(cells["target_se"], errors="coerce")
    if not target_se.notna().any():
        return []
    return [(TARGET_ERROR_MULTIPLE * float(target_se.mean()), "twice the standard error of the reference target")]


def draw_frontier(data: FigureData):
    """The frontier against the reference practical target on the 4-state MDP."""
    return _draw(data, "vuorio-frontier", "Bias-variance frontier, K = 8, small MDP, reference practical target")


def draw_frontier_exact(data: FigureData):
    """The frontier against the exact practical target on the 3-armed bandit."""
    return _draw(data, "vuorio-frontier-exact", "Bias-variance frontier, K = 8, 3-armed bandit, exact practical target")


def _point(summary: pd.DataFrame, **where) -> pd.Series | None:
    rows = summary
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return None if rows.empty else rows.iloc[0]


def _resolved_greater(a: pd.Series, b: pd.Series, metric: str) -> bool:
    """a's interval lies entirely above b's."""
    return bool(a[f"{metric}_lo"] > b[f"{metric}_hi"])


def _compare(data: FigureData, preset: str) -> Comparison:
    summary, steps = _summary(data, preset)
    cells = data.of(preset)
    method = str(cells["target_method"].iloc[0]) if "target_method" in cells else "?"
    target_se = pd.to_numeric(cells["target_se"], errors="coerce").mean()
    target_norm = float(cells["target_norm"].mean())
    trunc = summary[summary["estimator"] == "truncated"]
    windows = sorted(trunc["window"].dropna().unique())
    lambdas = sorted(trunc["lambda_c"].dropna().unique())
    full, short = max(windows), min(windows)

    def show(point: pd.Series | None) -> str:
        if point is None:
            return "n/a"
        return f"bias {fmt_interval(point['bias'], point['bias_lo'], point['bias_hi'])}, variance {fmt(point['variance'])}"

    naive_full = _point(trunc, jacobian="naive", window=full, lambda_c=0.0)
    naive_short = _point(trunc, jacobian="naive", window=short, lambda_c=0.0)
    unbiased = _point(trunc, jacobian="naive", window=full, lambda_c=1.0)
    dice = _point(trunc, jacobian="dice", window=full, lambda_c=0.0)
    es = _point(summary, estimator="es")

    # Claim 1: DiCE-style Hessian estimation adds bias (and can add variance): pair every
    # (L, λ_c) cell of the DiCE Jacobian with the naive one.
    pairs = more_bias = less_bias = more_variance = 0
    for window in windows:
        for lambda_c in lambdas:
            a, b = _point(trunc, jacobian="dice", window=window, lambda_c=lambda_c), \
                _point(trunc, jacobian="naive", window=window, lambda_c=lambda_c)
            if a is None or b is None:
                continue
            pairs += 1
            more_bias += _resolved_greater(a, b, "bias")
            less_bias += _resolved_greater(b, a, "bias")
            more_variance += bool(a["variance"] > b["variance"])
    dice_biased = dice is not None and dice["bias_lo"] > 0
    # Claim 2: truncation and the correction trade bias for variance (naive Jacobian).
    correction_rows = []
    for window in windows:
        start, end = _point(trunc, jacobian="naive", window=window, lambda_c=min(lambdas)), \
            _point(trunc, jacobian="naive", window=window, lambda_c=max(lambdas))
        if start is None or end is None:
            continue
        correction_rows.append({"L": int(window), "bias λc=0": fmt(start["bias"]), "bias λc=1": fmt(end["bias"]),
                                "bias λc=1 upper limit": fmt(end["bias_hi"]),
                                "variance λc=0": fmt(start["variance"]), "variance λc=1": fmt(end["variance"]),
                                "variance ratio": fmt(end["variance"] / start["variance"]),
                                "_bias_falls": bool(end["bias"] < start["bias"]),
                                "_variance_grows": bool(end["variance"] > start["variance"])})
    correction_trades = bool(correction_rows) and all(
        row["_bias_falls"] and row["_variance_grows"] for row in correction_rows)
    for row in correction_rows:
        row.pop("_bias_falls"), row.pop("_variance_grows")
    truncation_trades = (naive_short is not None and naive_full is not None
                         and naive_short["variance"] < naive_full["variance"]
                         and naive_short["bias_lo"] > naive_full["bias_hi"])
    truncation_opposite = (naive_short is not None and naive_full is not None
                           and naive_short["variance"] > naive_full["variance"]
                           and naive_short["bias_hi"] < naive_full["bias_lo"])
    target = (f"Target: {method}" + (f", standard error {fmt(target_se)}" if math.isfinite(target_se) else "")
              + f", ‖g*‖ = {fmt(target_norm)}.")
    sentences = [
        target,
        f"Naive full backprop (L={int(full)}, λ_c=0): {show(naive_full)}; truncated L={int(short)}: {show(naive_short)}; "
        f"unbiased SF (L={int(full)}, λ_c=1): {show(unbiased)}; DiCE: {show(dice)}; ES: {show(es)}.",
        f"DiCE Jacobian vs naive at the same (L, λ_c): more bias (intervals disjoint) in {more_bias} of {pairs} pairs, "
        f"less bias in {less_bias}, more variance in {more_variance}.",
        "The correction trades bias for variance (naive Jacobian, λ_c 0 → 1, bias falls and variance grows for every "
        f"L): {'yes' if correction_trades else 'not for every L'}.",
        f"Truncation (L={int(full)} → {int(short)}, λ_c=0): "
        + ("lower variance, more bias, as claimed." if truncation_trades else
           "the opposite: higher variance and less bias." if truncation_opposite else
           "no clean trade (intervals overlap or both move the same way)."),
    ]
    if math.isfinite(target_se):
        sentences.append(_unresolved_sentence(summary))
    claim_dice = more_bias > less_bias or (dice_biased and naive_full is not None and dice["bias"] > naive_full["bias"])
    verdict = claim_verdict([claim_dice, correction_trades, truncation_trades])
    return Comparison(verdict, " ".join(sentences), correction_rows)


def _unresolved_sentence(summary: pd.DataFrame) -> str:
    """How many points' bias intervals reach zero once the reference target's error is counted."""
    unresolved = int((summary["bias_lo"] <= 0).sum())
    return (f"{unresolved} of {len(summary)} points have a bias interval reaching zero (it includes ±2 standard "
            f"errors of the reference target) and cannot be told apart from unbiased against this reference.")


def compare_frontier(data: FigureData) -> Comparison:
    """Vuorio et al.'s claims on the MDP with a reference target."""
    return _compare(data, "vuorio-frontier")


def compare_frontier_exact(data: FigureData) -> Comparison:
    """Vuorio et al.'s claims on the bandit with the exact target."""
    return _compare(data, "vuorio-frontier-exact")


_NOTES = ("Each curve is one truncation window L, its points λ_c = 0, 0.25, ..., 1 (written next to them); left "
          "panel: naive autodiff Jacobian, right: DiCE's (its L=K, λ_c=0 point is DiCE). Error bars: 95% "
          "bootstrap intervals of the cell. " + plotting.OPEN_INTERVALS_NOTE + " Bias is ‖E ĝ − g*‖ (not "
          "squared as in the paper); variance the trace of the covariance. The naive L=K, λ_c=1 point is the "
          "unbiased score-function estimator (`sf`).")
_CLAIM = ("Hessian estimation à la DiCE always adds bias and can add variance; truncation and the sampling "
          "correction trade bias for variance (the headline frontier of Vuorio et al. 2022).")

# ----------------------------------------------------------------------------- their setting
BANDIT, BANDIT_FD = "vuorio2022-bandit", "vuorio2022-bandit-fd"


def _bandit_summary(cells: pd.DataFrame) -> pd.DataFrame:
    """Each point averaged over the initial η (the η grid plays the role of problem instances:
    root-mean-square bias, mean variance, intervals by a bootstrap over η)."""
    cells = cells.copy()
    cells["mdp_seed"] = cells.groupby(["eta0", "eta1"]).ngroup()
    for column in ("window", "lambda_c"):
        if column not in cells:
            cells[column] = np.nan
    return seed_summary(cells, ["estimator", "window", "lambda_c"], ["bias", "variance"])


def _bandit_tables(summary: pd.DataFrame, lifetime: int) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    truncated = summary[summary["estimator"] == "truncated"].copy()
    truncated["family"] = [f"mg, window L={int(w)}" + (" (whole lifetime)" if int(w) >= lifetime else "")
                           for w in truncated["window"]]
    highlight = []
    dice = summary[summary["estimator"] == "dice"]
    if not dice.empty:
        highlight.append(dice.assign(label="DiCE (whole lifetime, λ_c=0)", look="dice"))
    es = summary[summary["estimator"] == "es"]
    if not es.empty:      # one look, each point labelled with its window
        highlight.append(es.assign(label="ES (one antithetic pair, σ=0.1)", look="es",
                                   note=[f"L={int(window)}" for window in es["window"]]))
    return truncated, pd.concat(highlight, ignore_index=True) if highlight else None


def draw_frontier_bandit(data: FigureData):
    """The frontier in their setting, averaged over the initial η, against the reference target."""
    cells = data.of(BANDIT)
    lifetime = int(data.sweeps[BANDIT].problem.values["lifetime"])
    truncated, highlight = _bandit_tables(_bandit_summary(cells), lifetime)
    reference = _target_error_line(cells)
    return plotting.frontier(truncated, x="variance", y="bias", hue="family", order="lambda_c", annotate="lambda_c",
                             annotate_ends=True, highlight=highlight, reference=reference, panel_size=(7.0, 4.6),
                             highlight_annotate="note",
                             title=f"Their setting: noisy 30-armed bandit, learned lr schedule, lifetime {lifetime} "
                                   f"(numbers at each curve's ends: λ_c; ES labelled with its window L)")


def compare_frontier_bandit(data: FigureData) -> Comparison:
    """Vuorio et al.'s claims in their own setting (scaled down; docs/figures.md)."""
    cells = data.of(BANDIT)
    summary = _bandit_summary(cells)
    trunc = summary[summary["estimator"] == "truncated"]
    windows, lambdas = sorted(trunc["window"].dropna().unique()), sorted(trunc["lambda_c"].dropna().unique())
    full, short = max(windows), min(windows)
    target_se = float(pd.to_numeric(cells["target_se"], errors="coerce").mean())
    n_eta = cells.groupby(["eta0", "eta1"]).ngroups

    def show(point: pd.Series | None) -> str:
        if point is None:
            return "n/a"
        return f"bias {fmt_interval(point['bias'], point['bias_lo'], point['bias_hi'])}, variance {fmt(point['variance'])}"

    mg_full = _point(trunc, window=full, lambda_c=0.0)
    mg_short = _point(trunc, window=short, lambda_c=0.0)
    unbiased = _point(trunc, window=full, lambda_c=1.0)
    dice = _point(summary, estimator="dice")
    es_full = _point(summary, estimator="es", window=full)
    correction_rows = []
    for window in windows:
        start, end = _point(trunc, window=window, lambda_c=min(lambdas)), _point(trunc, window=window, lambda_c=max(lambdas))
        if start is None or end is None:
            continue
        correction_rows.append({"L": int(window), "bias λc=0": fmt_interval(start["bias"], start["bias_lo"], start["bias_hi"]),
                                "bias λc=1": fmt_interval(end["bias"], end["bias_lo"], end["bias_hi"]),
                                "variance λc=0": fmt(start["variance"]), "variance λc=1": fmt(end["variance"]),
                                "_variance_grows": bool(end["variance"] > start["variance"]),
                                "_bias_falls": bool(end["bias_hi"] < start["bias_lo"])})
    # L = 2: in their code the score of a window's first step carries no gradient (θ is
    # stop-gradiented before it; its update does, through α(η)), so the correction (and DiCE's
    # extra term) is identically zero there
    inert = [row["L"] for row in correction_rows if row["L"] <= 2]
    variance_grows = bool(correction_rows) and all(row["_variance_grows"] for row in correction_rows
                                                   if row["L"] > 2)
    bias_falls = [row["L"] for row in correction_rows if row["_bias_falls"]]
    for row in correction_rows:
        row.pop("_variance_grows"), row.pop("_bias_falls")
    truncation_variance = mg_short is not None and mg_full is not None and mg_short["variance"] < mg_full["variance"]
    truncation_bias = mg_short is not None and mg_full is not None and mg_short["bias_lo"] > mg_full["bias_hi"]
    dice_more_bias = dice is not None and mg_full is not None and dice["bias_lo"] > mg_full["bias_hi"]
    dice_less_bias = dice is not None and mg_full is not None and mg_full["bias_lo"] > dice["bias_hi"]
    dice_more_variance = dice is not None and mg_full is not None and dice["variance"] > mg_full["variance"]
    sentences = [
        f"Target: mgbench's unbiased reference (mean standard error {fmt(target_se)}), averaged over {n_eta} initial η.",
        f"mg through the whole lifetime (L={int(full)}, λ_c=0): {show(mg_full)}; L={int(short)}: {show(mg_short)}; "
        f"with the full correction (L={int(full)}, λ_c=1, unbiased): {show(unbiased)}; DiCE: {show(dice)}; "
        f"ES (L={int(full)}): {show(es_full)}.",
        f"The correction raises the variance for {'every' if variance_grows else 'not every'} window"
        + (f" longer than 2 (at L = {', '.join(map(str, inert))} it is identically zero in their code: the window's "
           f"first-step score carries no gradient; its update does, through α(η))" if inert else "")
        + f"; its bias falls with intervals apart for L in {bias_falls or 'none'}.",
        f"Truncation (L={int(full)} → {int(short)}, λ_c=0): variance "
        f"{'falls' if truncation_variance else 'does not fall'}, bias "
        f"{'rises (intervals apart)' if truncation_bias else 'does not rise resolvably'}.",
        f"DiCE vs mg through the whole lifetime: {'more' if dice_more_bias else 'less' if dice_less_bias else 'no resolved difference in'} "
        f"bias, {'more' if dice_more_variance else 'less'} variance.",
    ]
    if BANDIT_FD in data.sweeps and not data.of(BANDIT_FD).empty:
        fd = data.of(BANDIT_FD)
        rows = [f"η=({row.eta0:g}, {row.eta1:g}) λ_c={row.lambda_c:g}: bias {fmt_interval(row.bias, row.bias_lo, row.bias_hi)}"
                for row in fd.sort_values(["eta1", "lambda_c"]).itertuples()]
        fd_se = float(pd.to_numeric(fd["target_se"]).mean())
        sentences.append(f"Against their finite-difference ground truth at our budget ({fd['target_method'].iloc[0]}, "
                         f"standard error {fmt(fd_se)}; the intervals below include ±2 of them, so a bias within "
                         f"the target's own error is not resolved against it): "
                         + "; ".join(rows) + ".")
    if math.isfinite(target_se):
        sentences.append(_unresolved_sentence(summary))
    # each claim: agrees (both halves resolved as claimed), contradicted (a half resolved the other
    # way), or unresolved at this budget
    truncation_bias_falls = (mg_short is not None and mg_full is not None
                             and mg_short["bias_hi"] < mg_full["bias_lo"])
    claims = {
        "correction": ("agrees" if variance_grows and bias_falls else
                       "contradicted" if not variance_grows else "unresolved"),
        "truncation": ("agrees" if truncation_variance and truncation_bias else
                       "contradicted" if (mg_short is not None and not truncation_variance) or truncation_bias_falls
                       else "unresolved"),
        "DiCE": "agrees" if dice_more_bias else "contradicted" if dice_less_bias else "unresolved",
    }
    sentences.append("Claims at this budget: " + "; ".join(f"{name}: {status}" for name, status in claims.items())
                     + " (the variance halves: the correction raises it "
                     + ("for every window > 2" if variance_grows else "not everywhere")
                     + f", truncation {'lowers' if truncation_variance else 'does not lower'} it, DiCE "
                     + f"{'raises' if dice_more_variance else 'does not raise'} it).")
    per_eta = bandit_claims_per_eta(cells, full=int(full), short=int(short))
    sentences.append(per_eta_sentence(per_eta))
    claims = {name: per_eta[name]["status"] if per_eta[name]["status"] != "unresolved" else status
              for name, status in claims.items()}
    sentences.append("Per-η verdicts: " + "; ".join(f"{name}: {status}" for name, status in claims.items()) + ".")
    their_rows = their_metrics_rows(cells, ["estimator", "window", "lambda_c"])
    for row in correction_rows:
        for lambda_c, label in ((min(lambdas), "λc=0"), (max(lambdas), "λc=1")):
            theirs = their_rows.get(("truncated", float(row["L"]), float(lambda_c)))
            if theirs is not None:
                row[f"their bias {label}"] = fmt(theirs["their_bias"])
    verdict = claim_verdict({"agrees": True, "contradicted": False}.get(status) for status in claims.values())
    return Comparison(verdict, " ".join(sentences), correction_rows)


_BANDIT_NOTES = ("Their setting and grid (docs/figures.md): their 25 initial η on the 5×5 grid over [0.5, 2.5]², "
                 "4000 estimates per cell on the compiled kernel (theirs 4000 runs × 200 iterations), the target "
                 "mgbench's unbiased reference with a standard error of 0.0025 per η (theirs: finite differences, "
                 "32000 runs × 200 iterations). "
                 "Each curve is one window L of their truncated meta-gradient (placed at a random position in the "
                 "lifetime), its points λ_c = 0 … 1 (their e_maml_lambda / 10). Bias is the root mean square over η of "
                 "‖E ĝ − g*‖, variance the mean trace of the covariance; error bars bootstrap over η (widened to the cells' "
                 "own limits, which include ±2 standard errors of the reference target). Biases below the dotted line "
                 "are not resolved against this target. The claims are also read η by η (each cell against its own "
                 "η's target), with the estimates per cell that would resolve what is not; the table gives Vuorio et "
                 "al.'s own metrics beside mgbench's (their bias: the mean over the two coordinates of the squared "
                 "error, raw; their variance var₀ + var₁ is mgbench's). " + plotting.OPEN_INTERVALS_NOTE)

FIGURES = [
    FigureSpec(
        filename="frontier_bandit",
        gallery=True,
        title="Bias-variance frontier in their setting (noisy 30-armed bandit, learned lr schedule, lifetime 80)",
        sweeps=(BANDIT, BANDIT_FD),
        draw=draw_frontier_bandit,
        compare=compare_frontier_bandit,
        reproduces="Vuorio et al. (2022), arXiv 2209.11303, the bias-variance frontier in their own setting (released "
                   "code: experiments/bandits_trunc_bias_variance_{mg,dice,es,fd}_longer_lifetimes.py): 30-armed "
                   "bandits with means exp(U(−100, 1)) drawn per run, reward noise 2, 10 pulls per step, lifetime 80, "
                   "the learning-rate schedule η ∈ R² (cutoff 8) as meta-parameter, the lifetime reward as objective; "
                   "truncation windows {2, 21, 41, 61, 80} at a random position × correction 0 … 1, DiCE, OpenES with "
                   "one antithetic pair and σ = 0.1 without common random numbers.",
        claim=_CLAIM,
        notes=_BANDIT_NOTES,
    ),
    FigureSpec(
        filename="frontier_exact",
        gallery=True,
        title="mgbench's own setting: bias-variance frontier against the exact practical target (3-armed bandit, K = 8)",
        sweeps=("vuorio-frontier-exact",),
        draw=draw_frontier_exact,
        compare=compare_frontier_exact,
        reproduces="mgbench's own setting, beyond the paper (initialisation as meta-parameter, terminal value as "
                   "objective, no task distribution, no reward noise): the bias-variance frontier of Vuorio et al. "
                   "(2022) (truncation × correction, ES, DiCE), with the ground truth computed exactly by enumerating every path of K = 8 batches "
                   "(|τ| = 2, α = 1) instead of finite differences. Enumeration at K = 8 is only feasible on a "
                   "one-state, three-armed bandit (T = 1).",
        claim=_CLAIM,
        notes=_NOTES,
    ),
    FigureSpec(
        filename="frontier_mdp",
        title="mgbench's own setting: bias-variance frontier against a reference practical target (4-state MDP, K = 8)",
        sweeps=("vuorio-frontier",),
        draw=draw_frontier,
        compare=compare_frontier,
        reproduces="mgbench's own setting, beyond the paper: the same frontier on a random 4-state, 2-action MDP (γ = 0.5, rollouts T = 2, |τ| = 2, α = 1, "
                   "K = 8), where the practical target is a reference estimate (mean of 20000 unbiased SF "
                   "estimates) with twice its standard error drawn as a dotted line.",
        claim=_CLAIM,
        notes=_NOTES + " The error bars include ±2 standard errors of the reference target; biases below the dotted "
                       "line are not resolved against it.",
    ),
]


# ----------------------------------------------------------------------------- their claims η by η (issue 23)
# The η-averaged intervals above bootstrap over η, so they also carry how much the biases vary
# from one η to another; a claim about two estimators is sharper η by η, where both cells share
# their target: at each η the claim's bias half is resolved when the two bias intervals (each
# widened by ±2 standard errors of the target) are apart.

def _cells_where(cells: pd.DataFrame, **where) -> pd.DataFrame:
    rows = cells
    for column, value in where.items():
        rows = rows[np.isclose(rows[column].astype(float), value)] if isinstance(value, float) else rows[rows[column] == value]
    return rows.set_index(["eta0", "eta1"])


def _estimates_needed(a: pd.Series, b: pd.Series) -> float:
    """Estimates per cell that would part the two bias intervals at this η if the biases are what
    was measured: the gap must exceed 2 (√(v_a/n) + √(v_b/n)) + 4 s (s the target's standard
    error); inf when the target's own error already exceeds the gap (then s must fall first)."""
    gap = abs(float(a["bias"]) - float(b["bias"]))
    target = 4 * float(a["target_se"]) if math.isfinite(float(a["target_se"])) else 0.0
    if gap <= target:
        return math.inf
    return (2 * (math.sqrt(float(a["variance"])) + math.sqrt(float(b["variance"]))) / (gap - target)) ** 2


def _pair_claim(high: pd.DataFrame, low: pd.DataFrame) -> dict:
    """η by η: `high` claimed to have more bias than `low` (and the variances compared)."""
    joined = high.join(low, lsuffix="_a", rsuffix="_b", how="inner")
    agree = int((joined["bias_lo_a"] > joined["bias_hi_b"]).sum())
    against = int((joined["bias_hi_a"] < joined["bias_lo_b"]).sum())
    open_rows = [row for _, row in joined.iterrows()
                 if not (row["bias_lo_a"] > row["bias_hi_b"] or row["bias_hi_a"] < row["bias_lo_b"])]
    # a cell whose variance the data cannot bound (upper limit ∞: docs/methods.md, Heavy tails)
    # has no budget: more estimates do not shrink an interval resting on a variance that may not exist
    bounded = [row for row in open_rows if row["variance_hi_a"] < math.inf and row["variance_hi_b"] < math.inf]
    unbounded = len(open_rows) - len(bounded)
    needed = [_estimates_needed(row[[c for c in row.index if c.endswith("_a")]].rename(lambda c: c[:-2]),
                                row[[c for c in row.index if c.endswith("_b")]].rename(lambda c: c[:-2]))
              for row in bounded]
    finite = [n for n in needed if math.isfinite(n)]
    # the target-limited rows (`_estimates_needed` = ∞): the target standard error that would part them
    gaps = [abs(float(row["bias_a"]) - float(row["bias_b"])) / 4 for row, n in zip(bounded, needed)
            if not math.isfinite(n)]
    return {"count": len(joined), "agree": agree, "against": against, "unresolved": len(open_rows),
            "unbounded": unbounded, "target_limited": len(needed) - len(finite),
            "needed": float(np.median(finite)) if finite else math.nan,
            "target_needed": float(np.median(gaps)) if gaps else math.nan,
            "variance_lower_a": int((joined["variance_a"] < joined["variance_b"]).sum())}


def bandit_claims_per_eta(cells: pd.DataFrame, *, full: int, short: int) -> dict[str, dict]:
    """Their three claims at each η: truncation (mg L=short vs L=full at λ_c=0: more bias, less
    variance), the correction (λ_c=0 vs 1 at each window > 2: more bias, less variance) and DiCE
    (DiCE vs mg L=full: more bias, more variance). `status`: agrees when the bias half is
    resolved as claimed at a majority of η and against it at none, contradicted when resolved
    against it at a majority, else unresolved."""
    truncated = cells[cells["estimator"] == "truncated"]
    lambdas = sorted(truncated["lambda_c"].dropna().unique())
    windows = sorted(w for w in truncated["window"].dropna().unique() if w > 2)
    result = {"truncation": _pair_claim(_cells_where(truncated, window=short, lambda_c=0.0),
                                        _cells_where(truncated, window=full, lambda_c=0.0))}
    corrections = [_pair_claim(_cells_where(truncated, window=w, lambda_c=float(min(lambdas))),
                               _cells_where(truncated, window=w, lambda_c=float(max(lambdas)))) for w in windows]
    medians = ("needed", "target_needed")
    result["correction"] = {key: (sum(c[key] for c in corrections) if key not in medians else
                                  float(np.nanmedian([c[key] for c in corrections]))
                                  if any(math.isfinite(c[key]) for c in corrections) else math.nan)
                            for key in ("count", "agree", "against", "unresolved", "unbounded", "target_limited",
                                        *medians,
                                        "variance_lower_a")}
    dice = cells[cells["estimator"] == "dice"]
    result["DiCE"] = (_pair_claim(dice.set_index(["eta0", "eta1"]), _cells_where(truncated, window=full, lambda_c=0.0))
                      if not dice.empty else {"count": 0, "agree": 0, "against": 0, "unresolved": 0,
                                               "unbounded": 0, "target_limited": 0, "needed": math.nan, "target_needed": math.nan,
                                               "variance_lower_a": 0})
    for claim in result.values():
        claim["status"] = ("agrees" if claim["count"] and claim["agree"] > claim["count"] / 2 and not claim["against"]
                           else "contradicted" if claim["count"] and claim["against"] > claim["count"] / 2
                           else "unresolved")
    return result


def per_eta_sentence(claims: dict[str, dict]) -> str:
    """The per-η counts and, where unresolved, the estimates per cell that would resolve them."""
    parts = []
    for name, claim in claims.items():
        text = (f"{name}: bias as claimed (intervals apart) at {claim['agree']} of {claim['count']} "
                f"{'(η, window) pairs' if name == 'correction' else 'η'}, against it at {claim['against']}, "
                f"unresolved at {claim['unresolved']}")
        parts.append(text + budget_note(claim))
    return "η by η (each cell against the target of its own η): " + "; ".join(parts) + "."


def budget_note(claim: dict) -> str:
    """What would resolve a claim's unresolved η (`_pair_claim`), in brackets; empty when none is."""
    if not claim["unresolved"]:
        return ""
    notes = []
    if math.isfinite(claim["needed"]):
        notes.append(f"median budget to resolve those the estimates limit: ~{claim['needed']:.3g} estimates per cell")
    if claim["target_limited"]:
        notes.append(f"{claim['target_limited']} limited by the target's error, resolved (if the biases are as "
                     f"measured) by a target standard error below ~{claim['target_needed']:.2g} per η (median)")
    if claim["unbounded"]:
        notes.append(f"{claim['unbounded']} with a variance the data cannot bound (upper limit ∞), for which no "
                     f"number of estimates can be computed")
    return " (" + "; ".join(notes) + ")"


def their_metrics_rows(cells: pd.DataFrame, keys: list[str]) -> dict[tuple, dict[str, float]]:
    """Vuorio et al.'s metrics per point, averaged over η: bias = the mean over the 2 coordinates of
    (mean − target)² (raw, against the reference as drawn: mgbench's bias2 + s² + v/n, halved),
    variance = var₀ + var₁ (= mgbench's variance)."""
    cells = cells.copy()
    target_se = pd.to_numeric(cells["target_se"], errors="coerce").fillna(0.0)
    cells["their_bias"] = (cells["bias2"] + target_se ** 2 + cells["variance"] / cells["count"]) / 2
    for column in keys:
        if column not in cells:
            cells[column] = np.nan
    grouped = cells.groupby(keys, dropna=False)[["their_bias", "variance"]].mean()
    return {tuple(float(k) if isinstance(k, (int, float, np.floating, np.integer)) else k for k in index): row.to_dict()
            for index, row in grouped.iterrows()}


META_DISCOUNT = "vuorio2022-meta-discount"


def _meta_discount_summary(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.copy()
    cells["mdp_seed"] = cells.groupby(["eta0", "eta1"]).ngroup()
    return seed_summary(cells, ["estimator", "window", "meta_discount"], ["bias", "variance"])


def draw_frontier_meta_discount(data: FigureData):
    """Their meta-discount sweep: one curve per window L, its points d = 0 … 1, averaged over η."""
    cells = data.of(META_DISCOUNT)
    lifetime = int(data.sweeps[META_DISCOUNT].problem.values["lifetime"])
    summary = _meta_discount_summary(cells)
    summary["family"] = [f"window L={int(w)}" + (" (whole lifetime)" if int(w) >= lifetime else "")
                         for w in summary["window"]]
    return plotting.frontier(summary, x="variance", y="bias", hue="family", order="meta_discount",
                             annotate="meta_discount", annotate_ends=True, reference=_target_error_line(cells),
                             panel_size=(7.0, 4.6),
                             title=f"Their meta-discount correction (λ_c = 1), lifetime {lifetime} "
                                   f"(numbers at each curve's ends: d)")


def compare_frontier_meta_discount(data: FigureData) -> Comparison:
    """mgbench's own reading of their meta-discount sweep (the paper does not discuss it): d trades
    bias for variance as λ_c does, η by η."""
    cells = data.of(META_DISCOUNT)
    truncated = cells[cells["estimator"] == "truncated"]
    windows = sorted(w for w in truncated["window"].dropna().unique())
    discounts = sorted(truncated["meta_discount"].dropna().unique())
    low, high = float(min(discounts)), float(max(discounts))
    summary = _meta_discount_summary(cells)
    theirs = their_metrics_rows(cells, ["estimator", "window", "meta_discount"])
    rows, trades = [], []
    for window in windows:
        a, b = _point(summary, window=window, meta_discount=low), _point(summary, window=window, meta_discount=high)
        if a is None or b is None:
            continue
        claim = _pair_claim(_cells_where(truncated, window=window, meta_discount=low),
                            _cells_where(truncated, window=window, meta_discount=high))
        row = {"L": int(window), f"bias d={low:g}": fmt_interval(a["bias"], a["bias_lo"], a["bias_hi"]),
               f"bias d={high:g}": fmt_interval(b["bias"], b["bias_lo"], b["bias_hi"]),
               f"variance d={low:g}": fmt(a["variance"]), f"variance d={high:g}": fmt(b["variance"]),
               "η with more bias at d=0 (apart)": f"{claim['agree']} of {claim['count']}",
               "η with less": str(claim["against"])}
        for discount, label in ((low, f"their bias d={low:g}"), (high, f"their bias d={high:g}")):
            point = theirs.get(("truncated", float(window), float(discount)))
            if point is not None:
                row[label] = fmt(point["their_bias"])
        rows.append(row)
        trades.append((int(window), claim, bool(b["variance"] > a["variance"])))
    target_se = float(pd.to_numeric(cells["target_se"], errors="coerce").mean())
    sentences = [f"Target: mgbench's unbiased reference (mean standard error {fmt(target_se)} per η), "
                 f"{cells.groupby(['eta0', 'eta1']).ngroups} initial η, {int(cells['count'].max())} estimates per cell."]
    for window, claim, variance_grows in trades:
        sentences.append(f"L={window}: d {low:g} → {high:g} {'raises' if variance_grows else 'does not raise'} the "
                         f"variance; the bias at d={low:g} is above the bias at d={high:g} (intervals apart) at "
                         f"{claim['agree']} of {claim['count']} η, below at {claim['against']}"
                         f"{budget_note(claim) if window > 2 else ''}.")
    resolved = [window for window, claim, grows in trades if grows and claim["agree"] > claim["count"] / 2
                and not claim["against"]]
    # per window L > 2 (at L = 2 the correction is identically zero): the trade resolved η by η at a
    # majority of η supports the claim, the opposite at a majority contradicts it
    verdict = claim_verdict(True if window in resolved else False if claim["against"] > claim["count"] / 2 else None
                            for window, claim, _ in trades if window > 2)
    sentences.append(f"d trades bias for variance, resolved η by η at a majority of η, for L in {resolved or 'none'} "
                     "(at L = 2 the correction is identically zero in their code).")
    return Comparison(verdict, " ".join(sentences), rows)


FIGURES.append(FigureSpec(
    filename="frontier_meta_discount",
    title="Their meta-discount correction (released code, not in the paper): bias-variance by window and discount",
    sweeps=(META_DISCOUNT,),
    draw=draw_frontier_meta_discount,
    compare=compare_frontier_meta_discount,
    reproduces="Vuorio et al.'s released sweep experiments/sweep_trunc_meta_discount_bias_variance.py (on "
               "algorithms/off_policy_bandits.py, logpi_cum_fn = 'meta_discount', e_maml_lambda = 1): noisy 30-armed "
               "bandits, learned learning-rate schedule (cutoff 7), lifetime 30, windows L = 2 … 30 at a random "
               "position × discount d ∈ {0, 0.5, 0.8, 0.9, 0.95, 1}, their 25 initial η on [1, 4]².",
    claim="(not in the paper) the meta-discount d trades bias for variance as λ_c does; d = 1 is the full, unbiased "
          "correction through the whole lifetime.",
    notes="Each curve is one window L, its points d = 0 … 1 (written at the ends). Bias is the root mean square over η "
          "of ‖E ĝ − g*‖, variance the mean trace of the covariance, error bars bootstrap over η (widened by ±2 "
          "standard errors of the reference target). The table gives, per window, the η-by-η count of resolved "
          "differences and Vuorio et al.'s own metrics (bias: mean over coordinates of the squared error, raw).",
))


# ----------------------------------------------------------------------------- beyond the paper: PES and NRES (issue 23)
BANDIT_PES = "vuorio2022-bandit-pes"
ES_FAMILY_LABELS = {"es": "their ES (window at a random position)", "pes": "PES (fresh noise per window)",
                    "nres": "NRES (one noise for every window)"}


def _es_family_summary(cells: pd.DataFrame) -> pd.DataFrame:
    cells = cells.copy()
    cells["mdp_seed"] = cells.groupby(["eta0", "eta1"]).ngroup()
    summary = seed_summary(cells, ["estimator", "window"], ["bias", "variance"])
    summary["family"] = summary["estimator"].map(ES_FAMILY_LABELS)
    return summary


def draw_frontier_pes(data: FigureData):
    """ES, PES and NRES over the truncation windows of a lifetime: one curve each, its points the windows L."""
    cells = data.of(BANDIT_PES)
    return plotting.frontier(_es_family_summary(cells), x="variance", y="bias", hue="family", order="window",
                             annotate="window", reference=_target_error_line(cells), panel_size=(7.0, 4.6),
                             title="Beyond the paper: PES and NRES over the truncation windows of one lifetime, "
                                   "beside their ES (numbers: the window L)")


def compare_frontier_pes(data: FigureData) -> Comparison:
    """Variance of PES and NRES against their ES at each window, η by η, and the biases."""
    cells = data.of(BANDIT_PES)
    summary = _es_family_summary(cells)
    rows, sentences = [], []
    windows = sorted(cells["window"].dropna().unique())
    for window in windows:
        es = _cells_where(cells[cells["estimator"] == "es"], window=window)
        row = {"L": int(window)}
        for name in ("es", "pes", "nres"):
            point = _point(summary, estimator=name, window=window)
            if point is not None:
                row[f"{name} bias"] = fmt_interval(point["bias"], point["bias_lo"], point["bias_hi"])
                row[f"{name} variance"] = fmt(point["variance"])
        for name in ("pes", "nres"):
            other = _cells_where(cells[cells["estimator"] == name], window=window)
            ratio = (other["variance"] / es["variance"]).dropna()
            if len(ratio):
                row[f"{name}/es variance (median over η)"] = fmt(float(ratio.median()))
        rows.append(row)
    target_se = float(pd.to_numeric(cells["target_se"], errors="coerce").mean())
    unresolved = int((summary["bias_lo"] <= 0).sum())
    sentences.append(f"Target: mgbench's unbiased reference (mean standard error {fmt(target_se)} per η), "
                     f"{cells.groupby(['eta0', 'eta1']).ngroups} initial η, {int(cells['count'].max())} estimates per "
                     f"cell. {unresolved} of {len(summary)} points have a bias interval reaching 0.")
    for row in rows:
        sentences.append(f"L={row['L']}: variance ES {row.get('es variance', 'n/a')}, PES {row.get('pes variance', 'n/a')}, "
                         f"NRES {row.get('nres variance', 'n/a')}.")
    return Comparison("no published claim", " ".join(sentences), rows)


FIGURES.append(FigureSpec(
    filename="frontier_pes",
    title="Beyond the paper: PES and NRES over the truncation windows of one lifetime, in their setting",
    sweeps=(BANDIT_PES,),
    draw=draw_frontier_pes,
    compare=compare_frontier_pes,
    reproduces="mgbench's own extension in Vuorio et al.'s setting (noisy 30-armed bandits, learned learning-rate "
               "schedule, lifetime 80): PES (Vicol et al. 2021) and NRES (Li et al. 2023) over the truncation windows "
               "of one lifetime (estimators/bandit/persistent.py), one antithetic pair with σ = 0.1 as their ES, at "
               "windows {2, 21, 41, 61, 80}; 9 initial η (3×3 over [0.5, 2.5]²), 4000 estimates per cell.",
    claim="(not in the paper) PES credits the earlier windows' perturbations (unbiased for the per-window smoothed "
          "objective); NRES reuses one noise (Li et al.: lower variance than PES).",
    notes="Each curve is one estimator, its points the windows L (written next to them). Bias is the root mean square "
          "over η of ‖E ĝ − g*‖, variance the mean trace of the covariance; error bars bootstrap over η (widened by ±2 "
          "standard errors of the reference target). With one window (L = 80) PES and NRES are ES through the whole "
          "lifetime; ES's window sits at a uniform position in 0..K−L, PES's and NRES's at a multiple of L.",
))
