"""Tang (2022), arXiv 2112.07328: SF, LSF and pathwise on the 1-D Gaussian toy.

(a) bias and variance against N (sweep `tang-toy`), with the claimed rates fitted;
(b) stochastic gradient ascent on θ with each estimator (a small simulation run here).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmark.present import plotting
from benchmark.present.looks import estimator_label
from benchmark.analysis.aggregation import bound_check, bound_curve, seed_summary
from benchmark.analysis.claims import bound_evidence, claim_verdict
from benchmark.present.pages import fmt
from benchmark.studies.spec import Comparison, FigureData, FigureSpec, Simulation, check_phrase, check_row
from benchmark.analysis.statistics import percentile_interval

TOY_ESTIMATORS = ("sf", "lsf", "pw")
SF_THETA_N_REGIME = 32     # Var[SF] is Θ(N) only once N dominates (θ - c)⁻²: fit from here on


# ----------------------------------------------------------------------------- (a) bias and variance vs N

def _toy_summary(data: FigureData) -> pd.DataFrame:
    return seed_summary(data.of("tang-toy"), ["estimator", "N"], ["bias", "variance"])


def _toy_checks(data: FigureData) -> list[tuple[str, str, Any]]:
    cells = data.of("tang-toy")
    lsf, sf = cells[cells["estimator"] == "lsf"], cells[cells["estimator"] == "sf"]
    sf_large = sf[sf["N"] >= SF_THETA_N_REGIME]
    return [
        ("LSF bias", "lsf_bias", bound_check(lsf, "lsf_bias", "N")),
        ("LSF bias", "lsf_bias_abstract", bound_check(lsf, "lsf_bias_abstract", "N")),
        ("LSF variance", "lsf_variance", bound_check(lsf, "lsf_variance", "N")),
        (f"SF variance (N ≥ {SF_THETA_N_REGIME})", "sf_variance", bound_check(sf_large, "sf_variance", "N")),
    ]


def draw_bias_variance(data: FigureData):
    """Bias and variance of SF, LSF and PW against N, log-log, with the fitted rates dashed."""
    summary = _toy_summary(data)
    curves = []
    labels = {"lsf_bias": "bound C/N (slides; envelope)", "lsf_bias_abstract": "bound C/√N (abstract; envelope)",
              "lsf_variance": "bound C/N (envelope)", "sf_variance": "bound C·N (envelope)"}
    for _, bound, check in _toy_checks(data):
        estimator = "sf" if bound == "sf_variance" else "lsf"
        points = summary[summary["estimator"] == estimator]
        if bound == "sf_variance":
            points = points[points["N"] >= SF_THETA_N_REGIME]
        if np.isfinite(check.constant_envelope) and not points.empty:
            curves.append(bound_curve(points, bound, check.constant_envelope, axis="N", estimator=estimator,
                                      metric="bias" if "bias" in bound else "variance", label=labels[bound]))
    figure = plotting.metric_vs_axis(summary, "N", ["bias", "variance"], hue="estimator",
                                     hue_order=TOY_ESTIMATORS, bound=pd.concat(curves) if curves else None,
                                     logx=True, logy=True, panel_size=(5.0, 3.0),
                                     title="Gaussian toy: bias and variance against N")
    return figure


def compare_bias_variance(data: FigureData) -> Comparison:
    """The LSF rates (1/N slides, 1/√N abstract), SF Θ(N), and unbiasedness of SF and PW."""
    checks = _toy_checks(data)
    sentences = [check_phrase(check, what=what + f" vs the {plotting_formula(bound)} claim")
                 for what, bound, check in checks]
    summary = _toy_summary(data)
    unresolved = []
    for estimator in ("sf", "pw"):
        rows = summary[summary["estimator"] == estimator]
        resolved = int((rows["bias_lo"] > 0).sum())
        unresolved.append(f"{estimator_label(estimator)} bias resolved from zero in {resolved} of "
                          f"{len(rows)} N values (max bias {fmt(rows['bias'].max())}, "
                          f"max upper limit {fmt(rows['bias_hi'].max())})")
    sf = summary[summary["estimator"] == "sf"].sort_values("N")
    if len(sf) >= 2:
        last, before = sf.iloc[-1], sf.iloc[-2]
        local = np.log(last["variance"] / before["variance"]) / np.log(last["N"] / before["N"])
        sentences.append(f"SF variance local slope over the last step N = {int(before['N'])} → {int(last['N'])}: "
                         f"{fmt(local)} (Θ(N) needs it to approach 1; 'consistent' above is the O(N) half)")
    by_bound = {bound: check for _, bound, check in checks}
    # The claims: LSF variance O(1/N) and SF variance Θ(N); LSF bias O(1/N) (slides); the
    # abstract's O(1/√N) is then "consistent" (a looser upper bound).
    verdict = claim_verdict(bound_evidence(by_bound[name].verdict) for name in ("lsf_bias", "lsf_variance", "sf_variance"))
    theta = data.sweeps["tang-toy"].problem.values["theta"]
    lsf = summary[summary["estimator"] == "lsf"].sort_values("N")
    exact = [f"N={n}: {fmt(b)} (exact 2θ/N = {fmt(2 * theta / n)})" for n, b in
             zip(lsf["N"].iloc[[0, len(lsf) // 2, -1]], lsf["bias"].iloc[[0, len(lsf) // 2, -1]])]
    text = ("; ".join(sentences) + ". " + "; ".join(unresolved) + ". LSF bias against its closed form: "
            + ", ".join(exact) + ".")
    return Comparison(verdict, text, [check_row(check, quantity=what) for what, _, check in checks])


def plotting_formula(bound: str) -> str:
    from benchmark.analysis.bounds import BOUNDS

    return BOUNDS[bound].formula


# ----------------------------------------------------------------------------- (b) optimisation curves

OPTIMISATION = {"theta0": 0.0, "c": 1.0, "sigma": 1.0, "lr": 0.05, "N": (1, 8, 64), "seed": 2112_07328}
OPTIMISATION_FULL = {"iterations": 200, "runs": 64}
OPTIMISATION_QUICK = {"iterations": 100, "runs": 16}
DIVERGED = 10.0       # |θ - c| beyond this (10x the initial gap) counts as diverged: there the
                      # estimators' noise grows like (θ - c)² θ and the iteration is unstable


def optimisation_runs(n_index: int, e_index: int, settings: dict[str, Any]) -> pd.DataFrame:
    """Stochastic gradient ascent θ ← θ + lr · ĝ(θ) with one toy estimator at one N: a unit
    of the simulation (a function of its arguments alone).

    Each run draws one estimate per iteration (`repetitions = 1`) from its own generator,
    `SeedSequence(seed, spawn_key=(N index, estimator index, run))`, so runs are independent
    and reproducible. The objective recorded is the exact L_N(θ_t) = −(θ_t − c)² − σ²/N.

    Returns:
      columns estimator, N, run, iteration, theta, objective.
    """
    from estimators import ToyProblem, get_estimator
    from mdps import GaussianToy

    toy = GaussianToy(sigma=settings["sigma"], c=settings["c"])
    n_samples, name = settings["N"][n_index], TOY_ESTIMATORS[e_index]
    estimator = get_estimator(name, "gaussian_toy")
    thetas = np.empty((settings["runs"], settings["iterations"] + 1))
    for run in range(settings["runs"]):
        rng = np.random.default_rng(np.random.SeedSequence(settings["seed"], spawn_key=(n_index, e_index, run)))
        theta = settings["theta0"]
        thetas[run, 0] = theta
        with np.errstate(over="ignore", invalid="ignore"):
            for iteration in range(1, settings["iterations"] + 1):
                if abs(theta - settings["c"]) < DIVERGED:
                    theta = theta + settings["lr"] * float(estimator(ToyProblem(toy, theta, n_samples), 1, rng)[0, 0])
                thetas[run, iteration] = theta
    iterations = np.arange(settings["iterations"] + 1)
    return pd.DataFrame({
        "estimator": name, "N": n_samples, "run": np.repeat(np.arange(settings["runs"]), len(iterations)),
        "iteration": np.tile(iterations, settings["runs"]), "theta": thetas.ravel(),
        "objective": [toy.objective(theta, n_samples) for theta in thetas.ravel()]})


def optimisation_settings(quick: bool) -> dict[str, Any]:
    """The simulation's settings (`OPTIMISATION` with the full or quick budget)."""
    return {**OPTIMISATION, **(OPTIMISATION_QUICK if quick else OPTIMISATION_FULL)}


def optimisation_units(quick: bool) -> dict[str, Any]:
    """One unit per (N, estimator)."""
    settings = optimisation_settings(quick)
    return {f"N={n_samples} {name}": (optimisation_runs, {"n_index": n_index, "e_index": e_index,
                                                          "settings": settings})
            for n_index, n_samples in enumerate(settings["N"]) for e_index, name in enumerate(TOY_ESTIMATORS)}


def optimisation_shown(quick: bool) -> dict[str, Any]:
    """The settings shown on the page."""
    shown = optimisation_settings(quick)
    shown["N"] = ", ".join(map(str, shown["N"]))
    shown["objective"] = "−(θ − c)² − σ²/N (exact, at the iterate)"
    shown["estimates per iteration"] = 1
    return shown


OPTIMISATION_SIMULATION = Simulation(name="tang2022_optimisation", units=optimisation_units,
                                     settings=optimisation_shown,
                                     sources=("benchmark.studies.tang2022", "estimators.gaussian_toy.gradients"))


def _diverged_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """(estimator, N, run) of the runs that left |θ − c| < `DIVERGED` at some iteration."""
    c = OPTIMISATION["c"]
    far = runs[~((runs["theta"] - c).abs() < DIVERGED)]
    return far[["estimator", "N", "run"]].drop_duplicates()


def _curve_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean objective over the runs that did not diverge, per (estimator, N, iteration), with a
    95% bootstrap-over-runs interval; `diverged` counts the runs left out."""
    diverged = _diverged_runs(runs)
    rows = []
    for (name, n_samples), group in runs.groupby(["estimator", "N"], sort=False):
        out = set(diverged[(diverged["estimator"] == name) & (diverged["N"] == n_samples)]["run"])
        kept = group[~group["run"].isin(out)]
        table = kept.pivot(index="run", columns="iteration", values="objective").to_numpy(dtype=float)
        spawn = (int(n_samples), TOY_ESTIMATORS.index(name) if name in TOY_ESTIMATORS else len(TOY_ESTIMATORS))
        rng = np.random.default_rng(np.random.SeedSequence(OPTIMISATION["seed"], spawn_key=spawn))
        draws = rng.integers(0, table.shape[0], size=(1000, table.shape[0]))
        means = table[draws].mean(axis=1)             # (B, iterations)
        for iteration in range(table.shape[1]):
            lo, hi = percentile_interval(means[:, iteration])
            rows.append({"estimator": name, "N": n_samples, "iteration": iteration, "diverged": len(out),
                         "runs": group["run"].nunique(), "objective": float(table[:, iteration].mean()),
                         "objective_lo": lo, "objective_hi": hi})
    return pd.DataFrame(rows)


def draw_optimisation(data: FigureData):
    """Mean objective against iterations, one panel per N, with the maximum −σ²/N dashed."""
    summary = _curve_summary(data.results)
    sigma = data.settings.get("sigma", 1.0)
    optimum = pd.DataFrame({"N": sorted(summary["N"].unique())})
    optimum["value"] = -sigma**2 / optimum["N"]
    optimum["label"] = "maximum −σ²/N"
    labels = {}
    for name in TOY_ESTIMATORS:
        rows = summary[summary["estimator"] == name].drop_duplicates("N")
        lost = [f"{int(r.diverged)}/{int(r.runs)} at N={int(r.N)}" for r in rows.itertuples() if r.diverged]
        labels[name] = estimator_label(name) + (f" (diverged, not averaged: {', '.join(lost)})" if lost else "")
    return plotting.optimisation_curves(summary, hue="estimator", facet="N", facet_label="N =",
                                        hue_order=TOY_ESTIMATORS, labels=labels, optimum=optimum,
                                        title="Gaussian toy: stochastic gradient ascent (mean over runs)")


def compare_optimisation(data: FigureData) -> Comparison:
    """Final objective gap per estimator and N (median over runs, diverged runs counted as
    diverged); LSF's biased fixed point cN/(N + 1)."""
    runs = data.results
    settings = data.settings
    c = settings.get("c", 1.0)
    last = runs["iteration"].max()
    diverged_runs = _diverged_runs(runs)
    tail = runs[runs["iteration"] >= int(0.8 * last)]
    parts, details = [], []
    lsf_better_large_n, lsf_worse_small_n = [], []
    for n_samples in sorted(runs["N"].unique()):
        gaps, thetas = {}, {}
        for name in TOY_ESTIMATORS:
            group = tail[(tail["estimator"] == name) & (tail["N"] == n_samples)]
            lost = set(diverged_runs[(diverged_runs["estimator"] == name) & (diverged_runs["N"] == n_samples)]["run"])
            gap = ((group["theta"] - c) ** 2).groupby(group["run"]).mean()       # inf for diverged runs
            gap[gap.index.isin(lost)] = np.inf
            kept = group[~group["run"].isin(lost)]
            gaps[name] = float(np.median(gap))
            thetas[name] = float(kept["theta"].mean())
            details.append({"N": int(n_samples), "estimator": estimator_label(name),
                            "median final gap (θ − c)²": fmt(gaps[name]),
                            "mean final θ (runs that did not diverge)": fmt(thetas[name]),
                            "runs diverged": f"{len(lost)} / {group['run'].nunique()}"})
        fixed_point = c * n_samples / (n_samples + 1)
        parts.append(f"N={n_samples}: median final gap (θ−c)² SF {fmt(gaps['sf'])}, LSF {fmt(gaps['lsf'])}, "
                     f"PW {fmt(gaps['pw'])}; LSF settles at θ ≈ {fmt(thetas['lsf'])} (its biased fixed point "
                     f"cN/(N+1) = {fmt(fixed_point)}, gap {fmt((c - fixed_point) ** 2)})")
        (lsf_better_large_n if n_samples > 1 else lsf_worse_small_n).append(gaps["lsf"] < gaps["sf"])
    lost = [row for row in details if not row["runs diverged"].startswith("0 ")]
    if lost:
        parts.append("diverged (|θ − c| ≥ 10): " + ", ".join(f"{row['estimator']} {row['runs diverged']} runs at "
                                                           f"N={row['N']}" for row in lost))
    verdict = claim_verdict(lsf_better_large_n)     # each N > 1: does LSF end closer to the optimum than SF?
    text = ("; ".join(parts) + ". Tang's point, that LSF's drastic variance reduction outweighs its O(1/N) bias "
            f"in optimisation, {'holds' if verdict == 'agrees' else 'holds only in part'} for N > 1 at lr = "
            f"{settings.get('lr')}; at N = 1 LSF's bias (fixed point c/2) "
            f"{'makes it worse than SF' if not all(lsf_worse_small_n) else 'does not hurt it'}.")
    return Comparison(verdict, text, details)


# ----------------------------------------------------------------------------- figures

FIGURES = [
    FigureSpec(
        filename="toy_bias_variance",
        gallery=True,
        title="Bias and variance of SF, LSF and PW against N",
        sweeps=("tang-toy",),
        draw=draw_bias_variance,
        compare=compare_bias_variance,
        reproduces="Tang (2022), arXiv 2112.07328, the bias-variance figure on the 1-D toy max E[−(X̄_N − 1)²], "
                   "X_i ~ N(θ, 1), at θ = 0.5: SF (unbiased score function), LSF (linearised score function) and "
                   "PW (pathwise), N = 1..1024, exact target −2(θ − c).",
        claim="LSF has bias O(1/N) (slides; O(1/√N) in the abstract) and variance O(1/N); the unbiased SF "
              "meta-gradient has variance Θ(N).",
        notes="Bands: 95% bootstrap intervals of each cell. " + plotting.OPEN_INTERVALS_NOTE + " Dashed/dotted: the claimed rates as bounds, each with its envelope constant (the "
              "smallest constant above every resolved cell's interval; SF's Θ(N) on "
              f"N ≥ {SF_THETA_N_REGIME}, where N dominates; below it Var[SF] first falls).",
    ),
    FigureSpec(
        filename="toy_optimisation",
        gallery=True,
        title="1-D stochastic gradient ascent with each estimator",
        sweeps=(),
        draw=draw_optimisation,
        compare=compare_optimisation,
        simulation=OPTIMISATION_SIMULATION,
        reproduces="Tang (2022), the 1-D optimisation curves: θ ← θ + lr · ĝ(θ) from θ₀ = 0 on "
                   "L_N(θ) = −(θ − 1)² − 1/N with one SF, LSF or PW estimate per step, lr = 0.05, N ∈ {1, 8, 64}.",
        claim="LSF (and the DiCE/LVC-style MAML estimators, its variants) trade a small O(1/N) bias for a drastic "
              "variance reduction, which makes optimisation faster and more stable than with the unbiased SF.",
        notes="Curves: mean of the exact objective over independent runs; bands: 95% bootstrap interval over runs. "
              "Runs that diverge (|θ − c| ≥ 10, ten times the initial gap, which happens to SF at large N) are left out of the mean and "
              "counted in the legend.",
    ),
]
