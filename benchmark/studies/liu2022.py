"""Liu et al. (2022), arXiv 2112.15400: the tabular study of meta-gradient bias.

Presets (benchmark/sweeps/presets, the paper's settings): `decompose` (corr and std_sum vs |τ| for DiCE,
Loaded DiCE, LVC and MAML under the seven inner/Hessian/outer splits), `lr` and `step`
(MAML vs α and vs K), `comp-lr`, `comp-sample`, `comp-step` (compositional bias, split
lee, with the fitted bound K α^K σ_in |τ|^-1/2; their own metric, the squared error of a mean of 10
estimates, beside the bias), `comp-sigma` (the same bias against σ_in alone, moved by the critic's noise), `hessian-bias` (bias vs the injected
Hessian error, bound (K-1) Δ_H^(K-1)) and `lirpg` (the intrinsic-reward meta-gradient).
Every curve is the mean over the problem seeds (10 random `liu2022` MDPs) with a 95%
bootstrap interval over them. The IPD panels (LOLA-DiCE training) are in
`benchmark.studies.liu2022_ipd`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from benchmark.present import plotting
from benchmark.present.looks import estimator_label
from benchmark.analysis.aggregation import bound_check, bound_curve, seed_summary
from benchmark.analysis.claims import bound_evidence, claim_verdict
from benchmark.present.pages import fmt, fmt_interval
from benchmark.studies.liu2022_ipd import FIGURE as IPD_FIGURE
from benchmark.studies.spec import Comparison, FigureData, FigureSpec, check_phrase, check_row

ESTIMATORS = ("maml", "dice", "lvc", "loaded")
SPLITS = ("lee", "ele", "eel", "lle", "lel", "ell", "lll")
HESSIAN_SAMPLED = tuple(split for split in SPLITS if split[1] == "l")
AXES = ("steps", "lr", "batch")
SPLIT_NOTE = ("Splits name the inner gradient, the Hessian and the outer gradient, each exact (e) or sampled (l): "
              "lee samples only the inner gradients (compositional bias), ele only the Hessians, eel only the outer "
              "gradient.")
BAND_NOTE = "Lines: mean over the problem seeds; bands: 95% bootstrap interval of that mean over the seeds."
BIAS_BAND_NOTE = ("Lines: root mean square bias over the problem seeds, sqrt(mean of the per-cell unbiased squared-bias "
                  "estimates); bands: 95% bootstrap interval over the seeds.")


def _summary(cells: pd.DataFrame, by: list[str], metrics: list[str]) -> pd.DataFrame:
    return seed_summary(cells, by, metrics)


def _last(values) -> float:
    return sorted(values)[-1]


# ----------------------------------------------------------------------------- decompose

def draw_decompose_corr(data: FigureData):
    """corr vs |τ|, one panel per split, one line per estimator."""
    summary = _summary(data.of("decompose"), ["split", "estimator", "batch"], ["corr", "std_sum"])
    return plotting.metric_vs_axis(summary, "batch", "corr", hue="estimator", facet="split", facet_label="split",
                                   hue_order=ESTIMATORS, facet_order=SPLITS, logx=True, col_wrap=4,
                                   title="Correlation with the exact meta-gradient vs |τ| (K = 1, α = 10)")


def draw_decompose_std(data: FigureData):
    """std_sum vs |τ|, one panel per split, one line per estimator (log-log)."""
    summary = _summary(data.of("decompose"), ["split", "estimator", "batch"], ["corr", "std_sum"])
    return plotting.metric_vs_axis(summary, "batch", "std_sum", hue="estimator", facet="split", facet_label="split",
                                   hue_order=ESTIMATORS, facet_order=SPLITS, logx=True, logy=True, col_wrap=4,
                                   title="Summed coordinate standard deviation vs |τ| (K = 1, α = 10)")


def compare_decompose_std(data: FigureData) -> Comparison:
    """The log-log slope of std_sum against |τ| per (split, estimator): Monte-Carlo −1/2?"""
    from benchmark.analysis.slopes import fit_slope

    summary = _summary(data.of("decompose"), ["split", "estimator", "batch"], ["corr", "std_sum"])
    largest = _last(summary["batch"].unique())
    details, slopes, counts = [], {}, {}
    for (split, name), group in summary.groupby(["split", "estimator"], sort=False):
        # a standard deviation is never under a noise floor: every point is resolved
        fit = fit_slope(group["batch"].to_numpy(float), group["std_sum"].to_numpy(float))
        slopes[(split, name)], counts[(split, name)] = fit.slope, fit.counts
    cells_text = lambda keys: "; ".join(sorted({f"{r} resolved, {c} censored, {e} excluded"  # noqa: E731
                                                for r, c, e in (counts[key] for key in keys)}))
    for name in ESTIMATORS:
        keys = [key for key in slopes if key[1] == name]
        values = [slopes[key] for key in keys]
        at = summary[(summary["estimator"] == name) & (summary["batch"] == largest)]
        if values:
            details.append({"estimator": estimator_label(name),
                            "slope of std_sum vs |τ| (min / median / max over splits)":
                                f"{fmt(min(values))} / {fmt(float(np.median(values)))} / {fmt(max(values))}",
                            "points per fit (mean over instances per |τ|)": cells_text(keys),
                            f"std_sum at |τ|={largest}, split lll": fmt(at[at["split"] == "lll"]["std_sum"].mean())})
    all_slopes = np.array(list(slopes.values()))
    text = (f"std_sum falls with |τ| in {int((all_slopes < 0).sum())} of {len(all_slopes)} curves, with log-log slopes "
            f"{fmt(np.nanmin(all_slopes))} to {fmt(np.nanmax(all_slopes))} (median {fmt(float(np.nanmedian(all_slopes)))}; "
            f"each a least-squares fit over {cells_text(list(slopes))} points; "
            f"Monte-Carlo averaging gives −0.5). DiCE (no baseline) has the largest std_sum (table).")
    return Comparison("no published claim", text, details)


def compare_decompose(data: FigureData) -> Comparison:
    """Which Hessian estimator correlates best at the largest |τ|, per split."""
    summary = _summary(data.of("decompose"), ["split", "estimator", "batch"], ["corr", "std_sum"])
    largest = _last(summary["batch"].unique())
    at = summary[summary["batch"] == largest]
    details, low_bias_wins, rising, evidence = [], 0, 0, []
    for split in SPLITS:
        rows = at[at["split"] == split].set_index("estimator")
        if rows.empty:
            continue
        best = rows["corr"].idxmax()
        details.append({"split": split, **{estimator_label(name): fmt_interval(rows.loc[name, "corr"],
                                                                                       rows.loc[name, "corr_lo"],
                                                                                       rows.loc[name, "corr_hi"])
                                           for name in ESTIMATORS if name in rows.index},
                        "highest corr": estimator_label(best)})
        if split in HESSIAN_SAMPLED:
            low_bias_wins += best in ("lvc", "loaded")
            evidence.append(best in ("lvc", "loaded"))     # per split with a sampled Hessian: a low-bias one is best
    for (split, name), group in summary.groupby(["split", "estimator"]):
        group = group.sort_values("batch")
        rising += bool(group["corr"].iloc[-1] > group["corr"].iloc[0])
    n_curves = summary.groupby(["split", "estimator"]).ngroups
    hessian_splits = [split for split in HESSIAN_SAMPLED if split in set(summary["split"])]
    lll = at[at["split"] == "lll"].set_index("estimator")
    text = (f"corr rises with |τ| in {rising} of {n_curves} (split, estimator) curves. At |τ| = {largest}, a low-bias "
            f"Hessian estimator (LVC or Loaded DiCE) has the highest correlation in {low_bias_wins} of "
            f"{len(hessian_splits)} splits with a sampled Hessian ({', '.join(hessian_splits)})")
    if not lll.empty:
        text += "; split lll: " + ", ".join(f"{estimator_label(name)} {fmt(lll.loc[name, 'corr'])}"
                                            for name in ESTIMATORS if name in lll.index)
    text += "."
    verdict = claim_verdict(evidence)
    return Comparison(verdict, text, details)


# ----------------------------------------------------------------------------- maml vs alpha and K

def _draw_maml(data: FigureData, preset: str, axis: str, title: str):
    summary = _summary(data.of(preset), ["split", axis], ["corr", "std_sum"])
    return plotting.metric_vs_axis(summary, axis, ["corr", "std_sum"], hue="split", hue_order=SPLITS,
                                   labels={split: f"split {split}" for split in SPLITS}, logy=[False, True],
                                   panel_size=(5.0, 3.0), title=title)


def draw_maml_lr(data: FigureData):
    """MAML: corr and std_sum vs α, one line per split."""
    return _draw_maml(data, "lr", "lr", "MAML (naive autodiff): corr and std_sum vs α (K = 5, |τ| = 32)")


def draw_maml_steps(data: FigureData):
    """MAML: corr and std_sum vs K, one line per split."""
    return _draw_maml(data, "step", "steps", "MAML (naive autodiff): corr and std_sum vs K (α = 10, |τ| = 32)")


def _compare_maml(data: FigureData, preset: str, axis: str, symbol: str) -> Comparison:
    summary = _summary(data.of(preset), ["split", axis], ["corr", "std_sum"])
    values = sorted(summary[axis].unique())
    details, falls, resolved, evidence = [], 0, 0, []
    for split in SPLITS:
        rows = summary[summary["split"] == split].set_index(axis)
        if rows.empty:
            continue
        first, last = rows.loc[values[0]], rows.loc[values[-1]]
        falls += bool(last["corr"] < first["corr"])
        resolved += bool(last["corr_hi"] < first["corr_lo"])
        # per split: a fall with disjoint intervals supports the claim, a rise with disjoint ones contradicts it
        evidence.append(True if last["corr_hi"] < first["corr_lo"] else False if last["corr_lo"] > first["corr_hi"]
                        else None)
        details.append({"split": split, f"corr at {symbol}={fmt(values[0])}": fmt_interval(first["corr"], first["corr_lo"], first["corr_hi"]),
                        f"corr at {symbol}={fmt(values[-1])}": fmt_interval(last["corr"], last["corr_lo"], last["corr_hi"]),
                        f"std_sum at {symbol}={fmt(values[0])}": fmt(first["std_sum"]),
                        f"std_sum at {symbol}={fmt(values[-1])}": fmt(last["std_sum"])})
    n = len(details)
    text = (f"From {symbol} = {fmt(values[0])} to {fmt(values[-1])}, MAML's correlation with the exact meta-gradient "
            f"falls in {falls} of {n} splits ({resolved} with disjoint intervals).")
    verdict = claim_verdict(evidence)
    return Comparison(verdict, text, details)


def compare_maml_lr(data: FigureData) -> Comparison:
    """corr falls as α grows (the compositional and Hessian biases grow with α)."""
    return _compare_maml(data, "lr", "lr", "α")


def compare_maml_steps(data: FigureData) -> Comparison:
    """corr falls as K grows."""
    return _compare_maml(data, "step", "steps", "K")


# ----------------------------------------------------------------------------- compositional bias

COMPOSITIONAL = {"comp-lr": ("lr", True), "comp-sample": ("batch", True), "comp-step": ("steps", False)}


def _compositional(data: FigureData, preset: str):
    axis, _ = COMPOSITIONAL[preset]
    cells = data.of(preset)
    summary = _summary(cells, ["estimator", *AXES], ["bias", "rel_bias", "variance"])
    checks, curves = {}, []
    for name in [estimator for estimator in ESTIMATORS if estimator in set(cells["estimator"])]:
        check = bound_check(cells[cells["estimator"] == name], "compositional", axis)
        checks[name] = check
        points = summary[summary["estimator"] == name]
        if np.isfinite(check.constant_envelope):
            curves.append(bound_curve(points, "compositional", check.constant_envelope, axis=axis, estimator=name,
                                      label="bound C·K α^K σ_in |τ|^-1/2 (envelope)"))
    return summary, checks, (pd.concat(curves) if curves else None)


def _draw_compositional(data: FigureData, preset: str, title: str):
    axis, logx = COMPOSITIONAL[preset]
    summary, _, curves = _compositional(data, preset)
    return plotting.metric_vs_axis(summary, axis, "bias", hue="estimator", hue_order=ESTIMATORS, bound=curves,
                                   logx=logx, logy=True, panel_size=(5.2, 3.6), title=title)


def draw_comp_lr(data: FigureData):
    """Compositional bias (split lee) vs α, K = 6, with the fitted bound."""
    return _draw_compositional(data, "comp-lr", "Compositional bias (split lee) vs α (K = 6, |τ| = 32)")


def draw_comp_sample(data: FigureData):
    """Compositional bias (split lee) vs |τ|, with the fitted bound."""
    return _draw_compositional(data, "comp-sample", "Compositional bias (split lee) vs |τ| (K = 2, α = 3)")


def draw_comp_step(data: FigureData):
    """Compositional bias (split lee) vs K, with the fitted bound."""
    return _draw_compositional(data, "comp-step", "Compositional bias (split lee) vs K (α = 3, |τ| = 32)")


THEIR_ESTIMATES_PER_MDP = 10     # `--same_trials 10` in their run_comp_*.sh: the mean of 10 estimates per MDP
THEIR_METRIC = "their metric (1/d)‖mean of 10 − g*‖²"
OUR_METRIC = "ours: squared bias per coordinate, bias²/d"
AXIS_SYMBOLS = {"batch": "|τ|", "lr": "α", "steps": "K"}
THEIR_METRIC_SEED = 2112_15400      # SeedSequence entropy of the bootstrap over MDPs of these tables


def their_compositional_metric(cells: pd.DataFrame, dim: int, n: int = THEIR_ESTIMATES_PER_MDP) -> pd.DataFrame:
    """Liu et al.'s compositional-bias metric beside mgbench's squared bias, per cell.

    Their `decompose_comp_theory.py` averages `same_trials` = 10 estimates per MDP and records
    the squared error of that mean averaged over the d = S·A coordinates: in expectation
    (bias² + variance/10)/d (`benchmark.analysis.statistics.mean_of_n_squared_error`), which
    mgbench computes exactly, without the noise of 10 draws, from each cell's unbiased `bias2`
    and `variance` (its R = 1000 estimates are not a mean of 10). Columns added: `theirs`,
    `ours` (bias2/d, the square of mgbench's bias per coordinate) and `variance_part` (variance/(10 d)).
    """
    from benchmark.analysis.statistics import mean_of_n_squared_error

    out = cells.copy()
    out["theirs"] = mean_of_n_squared_error(out["bias2"].to_numpy(float), out["variance"].to_numpy(float), n, dim)
    out["ours"] = out["bias2"].to_numpy(float) / dim
    out["variance_part"] = out["variance"].to_numpy(float) / (n * dim)
    return out


def their_metric_table(data: FigureData, preset: str) -> tuple[list[dict], str]:
    """Rows (estimator, axis value): their metric and ours, each the mean over the MDPs with a
    95% bootstrap interval over them; and the sentence on where the two disagree."""
    from benchmark.analysis.aggregation import bootstrap_mean_interval
    from benchmark.analysis.slopes import fit_slope
    from benchmark.present.pages import fmt_slope

    axis = COMPOSITIONAL[preset][0]
    fields = data.sweeps[preset].problem.values
    cells = their_compositional_metric(data.of(preset), int(fields["n_states"]) * int(fields["n_actions"]))
    rng = np.random.default_rng(np.random.SeedSequence(THEIR_METRIC_SEED))
    rows, sentences = [], []
    for name in [estimator for estimator in ESTIMATORS if estimator in set(cells["estimator"])]:
        own = cells[cells["estimator"] == name]
        values = {column: own.pivot_table(index=axis, columns="mdp_seed", values=column) for column in
                  ("theirs", "ours", "variance_part")}
        points = values["theirs"].index.to_numpy()
        intervals = {column: bootstrap_mean_interval(frame.to_numpy(float), rng, n_bootstrap=N_METRIC_BOOTSTRAP)
                     for column, frame in values.items()}
        share = intervals["variance_part"][0] / intervals["theirs"][0]
        for i, point in enumerate(points):
            rows.append({"estimator": estimator_label(name), AXIS_SYMBOLS[axis]: fmt(point),
                         THEIR_METRIC: fmt_interval(*(part[i] for part in intervals["theirs"])),
                         OUR_METRIC: fmt_interval(*(part[i] for part in intervals["ours"])),
                         "variance/(10 d)": fmt(intervals["variance_part"][0][i]),
                         "variance's share of theirs": f"{100 * share[i]:.0f}%"})
        dominated = [fmt(point) for point, part in zip(points, share) if part > 0.5]
        theirs_fit = fit_slope(own[axis].to_numpy(float), own["theirs"].to_numpy(float))
        resolved = (own["bias_lo"].to_numpy(float) > 0)
        ours_fit = fit_slope(own[axis].to_numpy(float), own["bias2"].to_numpy(float),
                             resolved=resolved & (own["bias2"].to_numpy(float) > 0),
                             upper=own["bias_hi"].to_numpy(float) ** 2)
        sentences.append(
            f"{estimator_label(name)}: variance/10 is more than half of their metric at "
            f"{AXIS_SYMBOLS[axis]} = {', '.join(dominated) if dominated else 'no point'} "
            f"(share {100 * share[0]:.0f}% at {fmt(points[0])}, {100 * share[-1]:.0f}% at {fmt(points[-1])}); "
            f"log-log slope of their metric "
            f"{fmt_slope(theirs_fit.slope, theirs_fit.slope_lo, theirs_fit.slope_hi, cells=theirs_fit.counts)}, "
            f"of our squared bias "
            f"{fmt_slope(ours_fit.slope, ours_fit.slope_lo, ours_fit.slope_hi, cells=ours_fit.counts)}")
    text = (f" Their own metric (the squared error of the mean of {THEIR_ESTIMATES_PER_MDP} estimates per MDP, averaged "
            f"over the d = S·A coordinates, their decompose_comp_theory.py) is in expectation (bias² + variance/"
            f"{THEIR_ESTIMATES_PER_MDP})/d, computed here exactly from each cell's unbiased bias² and variance (table "
            "below): " + "; ".join(sentences) + ". Where variance/10 dominates, their curve measures the "
            "estimator's variance, not its bias (variance contamination), so it can neither confirm nor refute a "
            "bias bound there.")
    if axis == "batch":
        text += (" Along |τ| the variance falls as |τ|^-1, which is also the squared bound's rate (|τ|^-1/2 squared), "
                 "so a slope of their metric near -1 agrees with the bound whether or not the bias does.")
    return rows, text


N_METRIC_BOOTSTRAP = 2000
THEIR_METRIC_PRESETS = ("comp-sample", "comp-lr", "comp-step")   # their run_comp_*.sh: same_trials 10 each


def _compare_compositional(data: FigureData, preset: str) -> Comparison:
    _, checks, _ = _compositional(data, preset)
    axis = COMPOSITIONAL[preset][0]
    sentences = [check_phrase(check, what=estimator_label(name)) for name, check in checks.items()]
    verdict = claim_verdict(bound_evidence(check.verdict) for check in checks.values())
    text = f"Along {plotting.axis_label(axis)}: " + "; ".join(sentences) + "."
    if any(check.verdict == "consistent" for check in checks.values()):
        text += " 'consistent' means the bias changes more favourably than the bound: it holds but is loose."
    if axis == "lr":
        text += (" Along α the bound grows as α^K while the bias grows far more slowly, so the envelope constant is "
                 "set by the smallest α and the bound is loose by orders of magnitude at the largest.")
    tables = ()
    if preset in THEIR_METRIC_PRESETS:
        rows, their_text = their_metric_table(data, preset)
        text += their_text
        tables = (("Liu et al.'s own metric beside mgbench's squared bias (both per coordinate; mean over the MDPs, "
                   "95% bootstrap interval over them):", rows),)
    return Comparison(verdict, text, [check_row(check, estimator=estimator_label(name))
                                      for name, check in checks.items()], tables)


def compare_comp_lr(data: FigureData) -> Comparison:
    """The compositional bias against α: the bound's exponent is K."""
    return _compare_compositional(data, "comp-lr")


def compare_comp_sample(data: FigureData) -> Comparison:
    """The compositional bias against |τ|: the bound's exponent is -1/2."""
    return _compare_compositional(data, "comp-sample")


def compare_comp_step(data: FigureData) -> Comparison:
    """The compositional bias against K (not a power law: judged against the bound's shape)."""
    return _compare_compositional(data, "comp-step")


# ----------------------------------------------------------------------------- σ_in swept alone

def _sigma(data: FigureData):
    """Per estimator: the cells' bound check along σ_in (toward σ_in → 0, the bound's scope) and the
    per-noise summary (bias as root mean square over the MDPs, σ_in their mean)."""
    cells = data.of("comp-sigma")
    summary = _summary(cells, ["estimator", "critic_noise"], ["bias", "variance"])
    checks = {name: bound_check(cells[cells["estimator"] == name], "compositional", "sigma_in")
              for name in ESTIMATORS if name in set(cells["estimator"])}
    return summary, checks


def draw_comp_sigma(data: FigureData):
    """Compositional bias (split lee) vs σ_in, moved alone by the critic's noise (K = 2, α = 3, |τ| = 32)."""
    summary, _ = _sigma(data)
    summary = summary.assign(sigma_in=[float(f"{value:.2g}") for value in summary["sigma_in"]])   # tick labels
    return plotting.metric_vs_axis(summary, "sigma_in", "bias", hue="estimator", hue_order=ESTIMATORS, logx=True,
                                   logy=True, xlabel="σ_in (moved by the critic's noise)", panel_size=(5.2, 3.6),
                                   title="Compositional bias (split lee) vs σ_in (K = 2, α = 3, |τ| = 32)")


def compare_comp_sigma(data: FigureData) -> Comparison:
    """The compositional bias against σ_in alone: the bound's exponent is 1, a claim as σ_in → 0."""
    from benchmark.analysis.aggregation import bootstrap_mean_interval
    from benchmark.analysis.slopes import fit_slope

    summary, checks = _sigma(data)
    cells = data.of("comp-sigma")
    sentences = []
    for name, check in checks.items():
        rows = summary[summary["estimator"] == name].sort_values("critic_noise")
        # each MDP its own constant: the slope within each instance (censored like the pooled fit), their mean
        within = np.array([fit_slope(group["sigma_in"].to_numpy(float), group["bias"].to_numpy(float),
                                     resolved=group["bias_lo"].to_numpy(float) > 0,
                                     upper=group["bias_hi"].to_numpy(float)).slope
                           for _, group in cells[cells["estimator"] == name].groupby("mdp_seed")])
        within_text = ""
        if np.isfinite(within).sum() >= 3:
            rng = np.random.default_rng(np.random.SeedSequence(THEIR_METRIC_SEED))
            mean, lo, hi = bootstrap_mean_interval(within[np.isfinite(within)], rng)
            within_text = (f"; within each instance {fmt_interval(mean, lo, hi)} (the mean of "
                           f"{int(np.isfinite(within).sum())} per-instance slopes, bootstrap over instances)")
        sentences.append(check_phrase(check, what=estimator_label(name)) + " as σ_in → 0 (σ_in "
                         f"{fmt(rows['sigma_in'].iloc[0])} to {fmt(rows['sigma_in'].iloc[-1])} over critic noise "
                         f"{fmt(rows['critic_noise'].iloc[0])} to {fmt(rows['critic_noise'].iloc[-1])})" + within_text)
    verdict = claim_verdict(bound_evidence(check.verdict) for check in checks.values())
    text = ("Along σ_in with the estimator, split, K, α and |τ| fixed: " + "; ".join(sentences) + ". 'consistent' "
            "means the bias vanishes faster than σ_in as σ_in → 0: the bound holds but is loose. A second-order "
            "effect of a zero-mean inner-gradient error would grow like σ_in² (slope 2).")
    details = [check_row(check, estimator=estimator_label(name)) for name, check in checks.items()]
    for _, row in summary.iterrows():
        details.append({"estimator": estimator_label(row["estimator"]), "critic noise": fmt(row["critic_noise"]),
                        "σ_in": fmt(row["sigma_in"]), "bias": fmt_interval(row["bias"], row["bias_lo"], row["bias_hi"])})
    return Comparison(verdict, text, details)


# ----------------------------------------------------------------------------- multi-step Hessian bias

def _hessian_cells(data: FigureData) -> pd.DataFrame:
    """The cells with Δ_H = ‖E[D]‖ = 2c/(S·A), the injected Hessian error (estimators.tabular.liu_probes)."""
    from estimators.tabular.liu_probes import injected_hessian_error

    cells = data.of("hessian-bias").copy()
    fields = data.sweeps["hessian-bias"].problem.values
    cells["hessian_error"] = injected_hessian_error(cells["c"].astype(float), fields["n_states"], fields["n_actions"])
    return cells


def _hessian(data: FigureData):
    cells = _hessian_cells(data)
    summary = _summary(cells, ["lr", "hessian_error", "steps", "c"], ["bias", "rel_bias"])
    checks, curves = {}, []
    for lr in sorted(cells["lr"].unique()):
        check = bound_check(cells[cells["lr"] == lr], "multi_step_hessian", "hessian_error")
        checks[lr] = check
        if np.isfinite(check.constant_envelope):
            curves.append(bound_curve(summary[summary["lr"] == lr], "multi_step_hessian", check.constant_envelope,
                                      axis="hessian_error", lr=lr, label="bound C·(K−1) Δ_H^(K−1) (envelope)"))
    return summary, checks, (pd.concat(curves) if curves else None)


def draw_hessian_bias(data: FigureData):
    """Bias vs the injected Hessian error Δ_H, one line per α, with the fitted bound."""
    summary, _, curves = _hessian(data)
    labels = {lr: f"α = {fmt(lr)}" for lr in summary["lr"].unique()}
    return plotting.metric_vs_axis(summary, "hessian_error", "bias", hue="lr", labels=labels, bound=curves,
                                   logx=True, logy=True, xlabel=plotting.axis_label("delta_h") + " = 2c/(S·A)",
                                   panel_size=(5.2, 3.6), title="Multi-step Hessian bias vs injected error (K = 2)")


def compare_hessian_bias(data: FigureData) -> Comparison:
    """The bias against Δ_H per α: the bound's exponent is K − 1, a statement about Δ_H → 0.

    O((K−1) Δ_H^(K−1)) is about small Δ_H: the bias of K = 2 steps is a polynomial
    a Δ_H + b Δ_H² (exactly: the reverse accumulation is multilinear in the injected shifts),
    so a slope above K − 1 means the bias vanishes at least as fast as the bound as Δ_H → 0
    ('consistent'), a slope below it that it vanishes more slowly ('violated'); the bound's
    scope says so (`toward_zero`) and `check_bound` judges in that direction.
    """
    _, checks, _ = _hessian(data)
    sentences, rows, verdicts = [], [], []
    for lr, check in checks.items():
        verdicts.append(check.verdict)
        sentences.append(check_phrase(check, what=f"α = {fmt(lr)}") + f" as Δ_H → 0; "
                         f"C = {fmt(check.constant_envelope)} bounds every resolved cell")
        rows.append(check_row(check, alpha=fmt(lr)))
    return Comparison(claim_verdict(map(bound_evidence, verdicts)), "Along Δ_H: " + "; ".join(sentences) + ".", rows)


# ----------------------------------------------------------------------------- LIRPG

def draw_lirpg(data: FigureData):
    """LIRPG: corr vs |τ| for MAML and LVC (split ele), one panel per K."""
    summary = _summary(data.of("lirpg"), ["estimator", "steps", "batch"], ["corr", "std_sum"])
    return plotting.metric_vs_axis(summary, "batch", "corr", hue="estimator", facet="steps", facet_label="K =",
                                   hue_order=("maml", "lvc"), logx=True, col_wrap=5, panel_size=(3.2, 2.9),
                                   title="Intrinsic-reward (LIRPG) meta-gradient: corr vs |τ| (split ele, α = 10)")


def compare_lirpg(data: FigureData) -> Comparison:
    """Does LVC's low-bias Hessian beat MAML's, and how does corr move with |τ| and K?"""
    summary = _summary(data.of("lirpg"), ["estimator", "steps", "batch"], ["corr", "std_sum"])
    pivot = summary.pivot_table(index=["steps", "batch"], columns="estimator", values="corr")
    lo = summary.pivot_table(index=["steps", "batch"], columns="estimator", values="corr_lo", dropna=False)
    hi = summary.pivot_table(index=["steps", "batch"], columns="estimator", values="corr_hi", dropna=False)
    wins = int((pivot["lvc"] > pivot["maml"]).sum()) if {"lvc", "maml"} <= set(pivot.columns) else 0
    resolved = int((lo["lvc"] > hi["maml"]).sum()) if {"lvc", "maml"} <= set(pivot.columns) else 0
    losses = int((hi["lvc"] < lo["maml"]).sum()) if {"lvc", "maml"} <= set(pivot.columns) else 0
    steps = sorted(summary["steps"].unique())
    batches = sorted(summary["batch"].unique())
    details = []
    for name in ("maml", "lvc"):
        for k in (steps[0], steps[-1]):
            rows = summary[(summary["estimator"] == name) & (summary["steps"] == k)].set_index("batch")
            if rows.empty:
                continue
            details.append({"estimator": estimator_label(name), "K": int(k),
                            **{f"|τ|={b}": fmt(rows.loc[b, "corr"]) for b in (batches[0], batches[-1]) if b in rows.index}})
    rises = falls = curves_batch = curves_steps = 0
    for (name, k), group in summary.groupby(["estimator", "steps"]):
        group = group.sort_values("batch")
        curves_batch += 1
        rises += bool(group["corr"].iloc[-1] > group["corr"].iloc[0])
    for (name, b), group in summary.groupby(["estimator", "batch"]):
        group = group.sort_values("steps")
        curves_steps += 1
        falls += bool(group["corr"].iloc[-1] < group["corr"].iloc[0])
    text = (f"LVC correlates better than MAML in {wins} of {len(pivot)} (K, |τ|) points ({resolved} with disjoint "
            f"intervals), worse with disjoint intervals in {losses}. From |τ| = {batches[0]} to {batches[-1]} corr rises in {rises} of {curves_batch} "
            f"(estimator, K) curves; from K = {steps[0]} to {steps[-1]} it falls in {falls} of {curves_steps} "
            f"(estimator, |τ|) curves.")
    # per (K, |τ|) point: LVC above MAML with disjoint intervals supports the claim, below contradicts it
    verdict = claim_verdict([True] * resolved + [False] * losses + [None] * (len(pivot) - resolved - losses))
    return Comparison(verdict, text, details)


# ----------------------------------------------------------------------------- figures

_LIU = "Liu et al. (2022), arXiv 2112.15400, tabular study: liu2022 MDPs (S = 20, A = 5, γ = 0.8, Dirichlet(0.001) " \
       "transitions, T = 20 rollouts bootstrapped with a noisy critic), θ₀ = 0, exact ideal target (they draw 20 " \
       "estimates per cell; the estimates and problem instances of this run are stated below)."
_COMP_CLAIM = "Compositional bias O(K α^K σ_in |τ|^-1/2) (Liu et al. 2022, their compositional-bias theorem)."
_COMP_NOTES = ("Dashed: the bound C·K α^K σ_in |τ|^-1/2 with σ_in the measured standard deviation of a one-trajectory "
               "inner gradient and C its envelope per estimator: the smallest constant above every resolved cell's "
               "interval. " + BIAS_BAND_NOTE + " " + plotting.OPEN_INTERVALS_NOTE)

FIGURES = [
    FigureSpec("decompose_corr", "Correlation vs |τ| per estimator and split", ("decompose",),
               draw_decompose_corr, compare_decompose,
               reproduces=_LIU + " Their decomposition figure: |τ| = 2..256, K = 1, α = 10, DiCE, Loaded DiCE, LVC, "
                                 "MAML, the seven splits.",
               claim="Sampled Hessians are a main source of meta-gradient error; low-bias Hessian estimators "
                     "(LVC, Loaded DiCE) reduce it; more samples raise the correlation.",
               notes=SPLIT_NOTE + " " + BAND_NOTE, gallery=True),
    FigureSpec("decompose_std", "std_sum vs |τ| per estimator and split", ("decompose",),
               draw_decompose_std, compare_decompose_std,
               reproduces=_LIU + " The std_sum panels of the same figure.",
               claim="No separate claim (the paper states claims about the bias only); std_sum accompanies the correlation "
                     "panels. Monte-Carlo averaging alone would give std_sum ∝ |τ|^-1/2.",
               notes=SPLIT_NOTE + " " + BAND_NOTE),
    FigureSpec("maml_lr", "MAML vs the inner learning rate α", ("lr",), draw_maml_lr, compare_maml_lr,
               reproduces=_LIU + " α = 1..13, K = 5, |τ| = 32, MAML, the seven splits.",
               claim="Implied by both bias bounds, which grow with α: the error grows and the correlation falls "
                     "with α.",
               notes=SPLIT_NOTE + " " + BAND_NOTE),
    FigureSpec("maml_steps", "MAML vs the number of inner steps K", ("step",), draw_maml_steps, compare_maml_steps,
               reproduces=_LIU + " K = 1..6, α = 10, |τ| = 32, MAML, the seven splits.",
               claim="Implied by both bias bounds, which grow with K: the error grows and the correlation falls "
                     "with K.",
               notes=SPLIT_NOTE + " " + BAND_NOTE),
    FigureSpec("comp_lr", "Compositional bias vs α", ("comp-lr",), draw_comp_lr, compare_comp_lr,
               reproduces=_LIU + " Split lee (only the inner gradients sampled), MAML and DiCE, α = 1..13, K = 6, "
                                 "|τ| = 32.",
               claim=_COMP_CLAIM + " Along α the bound grows as α^K = α⁶.", notes=_COMP_NOTES),
    FigureSpec("comp_sample", "Compositional bias vs |τ|", ("comp-sample",), draw_comp_sample, compare_comp_sample,
               reproduces=_LIU + " Split lee, MAML and DiCE, |τ| = 2..256, K = 2, α = 3.",
               claim=_COMP_CLAIM + " Along |τ| the bound falls as |τ|^-1/2.", notes=_COMP_NOTES, gallery=True),
    FigureSpec("comp_step", "Compositional bias vs K", ("comp-step",), draw_comp_step, compare_comp_step,
               reproduces=_LIU + " Split lee, MAML, LVC, Loaded DiCE and DiCE, K = 1..6, α = 3, |τ| = 32.",
               claim=_COMP_CLAIM + " Along K the bound grows as K α^K (not a power law: the log bias is regressed "
                                   "on the log of the bound's shape, slope 1 when tight).",
               notes=_COMP_NOTES),
    FigureSpec("comp_sigma", "Compositional bias vs σ_in alone", ("comp-sigma",), draw_comp_sigma, compare_comp_sigma,
               reproduces=_LIU + " Split lee, MAML, K = 2, α = 3, |τ| = 32 (their comp-sample setting at one batch "
                                 "size), with the noisy critic's scale swept (0 to 8): it moves MAML's σ_in alone "
                                 "(the noise has mean 0, so the mean inner gradient stays). Not a figure of theirs: "
                                 "mgbench's test of the bound's σ_in factor in their setting.",
               claim=_COMP_CLAIM + " Along σ_in the bound grows as σ_in¹.",
               notes="x: σ_in, the measured standard deviation of a one-trajectory inner gradient (mean over the "
                     "MDPs at each noise). The bound is judged as σ_in → 0, the direction in which |τ| → ∞ takes the "
                     "inner step's noise. " + BIAS_BAND_NOTE),
    FigureSpec("hessian_bias", "Multi-step Hessian bias vs the injected Hessian error", ("hessian-bias",),
               draw_hessian_bias, compare_hessian_bias,
               reproduces=_LIU + " Exact meta-gradient except that every inner Jacobian uses H + diag(2(c + 0.3ε)/(S·A)), "
                                 "c = 0.5..4, one curve per α ∈ {3, 3.5, 4, 4.5}, K = 2.",
               claim="Multi-step Hessian bias O((K−1) Δ_H^(K−1)), Δ_H = ‖E[Ĥ] − H‖; with K = 2 linear in Δ_H.",
               gallery=True,
               notes="x: Δ_H = 2c/(S·A), the norm of the injected bias. Dashed: the bound per α with its envelope constant (the smallest above every resolved cell). The bound is "
                     "about Δ_H → 0, so its slope is judged in that direction (the comparison says how). " + BIAS_BAND_NOTE),
    FigureSpec("lirpg", "LIRPG: intrinsic-reward meta-gradient", ("lirpg",), draw_lirpg, compare_lirpg,
               reproduces=_LIU + " Meta-parameter: an intrinsic reward η (LIRPG), split ele (sampled Hessians only), "
                                 "MAML and LVC, |τ| = 16..256, K = 1..5, α = 10 (not given in the paper; their "
                                 "decompose value); advantages by GAE with λ = 0.9 from the critic of r + η, "
                                 "differentiated in η, as their tabular/lirpg/run_step.sh runs it (the preset's "
                                 "gae_lambda = 0.9, detach_critic = false).",
               claim="Low-bias Hessian estimators reduce the bias (the general claim, applied to the intrinsic-reward "
                     "meta-gradient: LVC should correlate better than MAML with split ele).",
               notes=BAND_NOTE),
    IPD_FIGURE,
]
