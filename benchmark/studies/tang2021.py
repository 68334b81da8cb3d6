"""Tang, Kozuno, Rowland, Munos, Valko (NeurIPS 2021), arXiv 2106.13125: gradient and Hessian
estimates from off-policy evaluation (step-wise IS = DiCE, doubly robust = Loaded DiCE, V-trace,
TayPO-1, TayPO-2), in their setting, beside their released code's numbers.

Setting (their `main.py`): Liu et al.'s random MDPs (S = 20, A = 5, γ = 0.8, Dirichlet(0.001),
U[0, 1) rewards, start state 0), T = 20-step trajectories of the uniform behaviour μ, target
π = ε·onehot(random action per state) + (1 − ε)·μ, θ = log π (softmax logits), a critic
V^μ + N(0, I)·‖V^μ‖₂/20 drawn once per MDP (baseline and bootstrap of every estimator but
step-wise IS), the exact infinite-horizon ∇V^π(s_0) and ∇²V^π(s_0) w.r.t. the logits as targets,
and the Pearson correlation of the mean of N = 1000 single-trajectory estimates with them.

One simulation (`tang2021_offpolicy`), one unit per (MDP, ε), draws three figures:
(a) their figure: Hessian (and gradient) correlation against ε, mean over MDPs with mgbench's
interval beside their std; (b) mgbench's metrics: relative bias² and variance of Ĥ against ε;
(c) against the number of trajectories N: the correlation of the mean of the first N, and the
relative MSE ‖bias‖² + tr Var/N, where the TayPO bias stays and the IS/DR variance falls.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from benchmark.analysis.claims import claim_verdict
from benchmark.analysis.aggregation import bootstrap_mean_interval
from benchmark.analysis.statistics import expanded_confidence, pearson_with_target
from benchmark.present import plotting
from benchmark.present.pages import fmt
from benchmark.studies.spec import Comparison, FigureData, FigureSpec, Simulation
from benchmark.studies.tang2021_released import RELEASED_RUN
from estimators.tabular.off_policy_evaluation import (OPE_ESTIMATORS, OPE_LABELS, RELEASED_RATIO_OFFSET,
                                                      OffPolicyBatch, OffPolicySetting, ope_hessian_vector_products,
                                                      ope_moments)
from mdps import liu2022_mdp, sample_trajectories

SETTINGS = {"states": 20, "actions": 5, "gamma": 0.8, "length": 20, "epsilons": (0.0, 0.2, 0.5, 0.8),
            "critic_noise": 1.0, "problem_seed": 2106_13125, "sampling_seed": 2021_1}
FULL = {"mdps": 10, "trajectories": 1000, "stops": (10, 30, 100, 300, 1000)}
QUICK = {"mdps": 2, "trajectories": 100, "stops": (10, 30, 100)}
# The paper's figure shows these four (plot_results.py); V-trace and the TayPO-2 variants are extra lines here.
PAPER_ESTIMATORS = ("is", "dr", "taypo1", "taypo2")
SHOWN = ("is", "dr", "vtrace", "taypo1", "taypo2", "taypo2_recursive", "taypo2_released")
COLOURS = {"is": "tab:green", "dr": "tab:purple", "vtrace": "tab:olive", "taypo1": "tab:red", "taypo2": "tab:blue",
           "taypo2_recursive": "tab:cyan", "taypo2_released": "tab:gray"}
CONFIDENCE = 0.95
BOOTSTRAP_DRAWS = 2000
MAX_LEVEL = 0.999



# ----------------------------------------------------------------------------- the simulation

def problem_instance(mdp_index: int, epsilon: float, settings: dict[str, Any]):
    """(mdp, θ = log π, behaviour μ, critic) of MDP `mdp_index` at off-policyness ε.

    The MDP is `liu2022_mdp(problem_seed + mdp_index)`; the greedy action per state and the
    critic noise come from `SeedSequence(problem_seed, spawn_key=(mdp_index,))`, so the same MDP,
    greedy actions and critic serve every ε (common random numbers across ε; the released code
    draws a new MDP per run of main.py, i.e. per ε).
    """
    mdp = liu2022_mdp(settings["problem_seed"] + mdp_index)
    rng = np.random.default_rng(np.random.SeedSequence(settings["problem_seed"], spawn_key=(mdp_index,)))
    n_states, n_actions = settings["states"], settings["actions"]
    behaviour = np.full((n_states, n_actions), 1.0 / n_actions)
    greedy = np.zeros((n_states, n_actions))
    greedy[np.arange(n_states), rng.integers(0, n_actions, n_states)] = 1.0
    target = epsilon * greedy + (1 - epsilon) * behaviour
    exact = mdp.state_values(np.log(behaviour))
    critic = exact + rng.standard_normal(n_states) * settings["critic_noise"] * np.linalg.norm(exact) / n_states
    return mdp, np.log(target), behaviour, critic


def correlation(estimate: np.ndarray, target: np.ndarray) -> float:
    """Pearson correlation over all entries (their `corr`: both flattened and centred), by the one
    owner of `corr` (`benchmark.analysis.statistics.pearson_with_target`)."""
    return float(pearson_with_target(np.ravel(estimate)[None, :], np.ravel(target))[0])


def offpolicy_unit(mdp_index: int, eps_index: int, settings: dict[str, Any]) -> pd.DataFrame:
    """One (MDP, ε): N trajectories of μ, every estimator's moments against the exact targets.

    Rows per (estimator, n in stops): the correlations of the mean of the first n estimates with
    ∇V and ∇²V; at n = N also the relative squared bias ‖E Ĥ − H‖²/‖H‖² (debiased: ‖H̄ − H‖² −
    tr Var/N), the relative variance of one estimate Σ Var(Ĥ_ij)/‖H‖², and the same for ĝ.
    """
    epsilon = settings["epsilons"][eps_index]
    mdp, theta, behaviour, critic = problem_instance(mdp_index, epsilon, settings)
    rng = np.random.default_rng(np.random.SeedSequence(settings["sampling_seed"], spawn_key=(mdp_index, eps_index)))
    trajectories = sample_trajectories(mdp, behaviour, settings["trajectories"], settings["length"], rng)
    batch = OffPolicyBatch(trajectories.states[0], trajectories.actions[0], trajectories.rewards[0],
                           trajectories.final_states[0])
    setting = OffPolicySetting(behaviour, critic, settings["gamma"], RELEASED_RATIO_OFFSET)
    gradient, hessian = mdp.gradient(theta).ravel(), mdp.hessian(theta)
    rows = []
    for name in OPE_ESTIMATORS:
        moments, prefixes = ope_moments(name, theta, setting, batch, stops=settings["stops"])
        n = moments.count
        for stop, (g_mean, h_mean) in prefixes.items():
            row = {"estimator": name, "epsilon": epsilon, "mdp": mdp_index, "N": stop,
                   "hessian_corr": correlation(h_mean, hessian), "gradient_corr": correlation(g_mean, gradient)}
            if stop == n:
                h_var, g_var = moments.hessian_variance().sum(), moments.gradient_variance().sum()
                row.update({
                    "hessian_bias2": (np.sum((h_mean - hessian) ** 2) - h_var / n) / np.sum(hessian**2),
                    "hessian_variance": h_var / np.sum(hessian**2),
                    "gradient_bias2": (np.sum((g_mean - gradient) ** 2) - g_var / n) / np.sum(gradient**2),
                    "gradient_variance": g_var / np.sum(gradient**2)})
            rows.append(row)
    return pd.DataFrame(rows)


def simulation_settings(quick: bool) -> dict[str, Any]:
    """`SETTINGS` with the full or quick budget."""
    return {**SETTINGS, **(QUICK if quick else FULL)}


def simulation_units(quick: bool) -> dict[str, Any]:
    """One unit per (MDP, ε)."""
    settings = simulation_settings(quick)
    return {f"mdp={m} eps={eps}": (offpolicy_unit, {"mdp_index": m, "eps_index": e, "settings": settings})
            for m in range(settings["mdps"]) for e, eps in enumerate(settings["epsilons"])}


def simulation_shown(quick: bool) -> dict[str, Any]:
    """The settings shown on the page."""
    settings = simulation_settings(quick)
    return {"MDP": f"liu2022_mdp (S={settings['states']}, A={settings['actions']}, γ={settings['gamma']}, "
                   "Dirichlet(0.001), U[0,1) rewards, start state 0)",
            "MDPs": f"{settings['mdps']} (seeds {settings['problem_seed']}+0..{settings['mdps'] - 1})",
            "trajectories per (MDP, ε)": settings["trajectories"], "trajectory length T": settings["length"],
            "behaviour μ": "uniform", "target π": "ε·onehot(random action per state) + (1 − ε)·μ, θ = log π",
            "ε": ", ".join(map(str, settings["epsilons"])),
            "critic": "V^μ + N(0, I)·‖V^μ‖₂/20, once per MDP (IS: none)",
            "ratios": "π/(μ + 1e-8) (as released)", "targets": "exact infinite-horizon ∇V^π(s_0), ∇²V^π(s_0) (logits)",
            "N stops": ", ".join(map(str, settings["stops"])), "seeds": f"problem {settings['problem_seed']}, "
                                                                      f"sampling {settings['sampling_seed']}"}


SIMULATION = Simulation(name="tang2021_offpolicy", units=simulation_units, settings=simulation_shown,
                        sources=("benchmark.studies.tang2021", "estimators.tabular.off_policy_evaluation",
                                 "mdps.tabular", "mdps.generators", "mdps.sampling", "mdps.policy"))


# ----------------------------------------------------------------------------- summaries over MDPs

def over_mdps(values: np.ndarray, seed_key: tuple[int, ...]) -> dict[str, float]:
    """Mean, std (ddof 0, as their plot) and a bootstrap-over-MDPs interval of the mean
    (Hesterberg's expanded percentile level, `expanded_confidence`), seeded by `seed_key`."""
    values = np.asarray(values, dtype=float)
    out = {"mean": float(values.mean()), "std": float(values.std()), "n": len(values)}
    if len(values) < 2:
        return {**out, "lo": np.nan, "hi": np.nan}
    rng = np.random.default_rng(np.random.SeedSequence(SETTINGS["sampling_seed"], spawn_key=seed_key))
    # with very few MDPs (the quick run's 2) the expanded level reaches 1: cap it (such intervals are not results)
    level = min(expanded_confidence(CONFIDENCE, len(values)), MAX_LEVEL)
    _, lo, hi = bootstrap_mean_interval(values, rng, n_bootstrap=BOOTSTRAP_DRAWS, confidence=level)
    return {**out, "lo": lo, "hi": hi}


def summary(table: pd.DataFrame, metrics: tuple[str, ...], by: tuple[str, ...] = ("estimator", "epsilon"),
            last_only: bool = True) -> pd.DataFrame:
    """Per group of `by`: each metric's mean, `_lo`, `_hi` (interval over MDPs) and `_std`."""
    rows = table[table["N"] == table["N"].max()] if last_only else table
    out = []
    for key, group in rows.groupby(list(by), sort=False):
        record = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for index, metric in enumerate(metrics):
            stats = over_mdps(group.sort_values("mdp")[metric].to_numpy(),
                              (SHOWN.index(record.get("estimator", "is")), index, int(100 * record.get("epsilon", 0)),
                               int(record.get("N", 0))))
            record.update({metric: stats["mean"], f"{metric}_lo": stats["lo"], f"{metric}_hi": stats["hi"],
                           f"{metric}_std": stats["std"], "mdps": stats["n"]})
        out.append(record)
    return pd.DataFrame(out)


def paired_difference(table: pd.DataFrame, metric: str, better: str, worse: str, epsilon: float) -> dict[str, float]:
    """Mean over MDPs of metric(better) − metric(worse) at ε (N = max), with its interval."""
    rows = table[(table["N"] == table["N"].max()) & (table["epsilon"] == epsilon)]
    a = rows[rows["estimator"] == better].sort_values("mdp")[metric].to_numpy()
    b = rows[rows["estimator"] == worse].sort_values("mdp")[metric].to_numpy()
    return over_mdps(a - b, (SHOWN.index(better), SHOWN.index(worse), int(100 * epsilon)))


# ----------------------------------------------------------------------------- (a) their figure

def draw_correlation(data: FigureData):
    """Hessian and gradient correlation against ε, one line per estimator, bands over MDPs."""
    table = summary(data.results, ("hessian_corr", "gradient_corr"))
    return plotting.metric_vs_axis(table, "epsilon", ["hessian_corr", "gradient_corr"], hue="estimator",
                                   hue_order=SHOWN, labels=OPE_LABELS, colour_map=COLOURS, panel_size=(6.0, 3.2),
                                   xlabel="off-policyness ε", ylabel=["corr(mean Ĥ, ∇²V)", "corr(mean ĝ, ∇V)"],
                                   title=f"Tang et al. (2021): accuracy of OPE-based estimates, "
                                         f"N = {int(data.results['N'].max())} trajectories")


def correlation_details(data: FigureData) -> list[dict[str, Any]]:
    """Rows ε × estimator: mgbench mean [interval] and std, and the released code's mean ± std."""
    table = summary(data.results, ("hessian_corr", "gradient_corr"))
    rows = []
    for record in table.itertuples():
        runs = RELEASED_RUN.get(record.epsilon, {}).get(RELEASED_NAMES.get(record.estimator, ""))
        released = None if runs is None else (float(np.mean(runs[0])), float(np.std(runs[0])), len(runs[0]))
        rows.append({"ε": record.epsilon, "estimator": OPE_LABELS[record.estimator],
                     "Hessian corr (mgbench) [95% over MDPs]":
                         f"{fmt(record.hessian_corr)} [{fmt(record.hessian_corr_lo)}, {fmt(record.hessian_corr_hi)}]",
                     "std over MDPs": fmt(record.hessian_corr_std),
                     "released code: mean ± std (MDPs)": "—" if released is None else
                     f"{fmt(released[0])} ± {fmt(released[1])} ({released[2]})",
                     "gradient corr (mgbench)":
                         f"{fmt(record.gradient_corr)} [{fmt(record.gradient_corr_lo)}, {fmt(record.gradient_corr_hi)}]"})
    return rows


RELEASED_NAMES = {"is": "nocritic", "dr": "loadeddice", "vtrace": "truncated", "taypo1": "firstorder",
                  "taypo2_released": "secondorder"}


def released_agreement(table: pd.DataFrame) -> str:
    """How mgbench's mean Hessian correlation compares with the released code's run (`RELEASED_RUN`):
    the difference of the means over MDPs against its standard error sqrt(s₁²/n₁ + s₂²/n₂)
    (sample std, ddof 1); |Δ| < 2 SE counts as matching within their spread over MDPs."""
    last = table[table["N"] == table["N"].max()]
    matched, compared, worst = 0, 0, (0.0, "")
    for epsilon, runs in sorted(RELEASED_RUN.items()):
        for name, theirs in RELEASED_NAMES.items():
            if theirs not in runs or len(runs[theirs][0]) < 2:
                continue
            ours = last[(last["estimator"] == name) & (last["epsilon"] == epsilon)]["hessian_corr"].to_numpy()
            released = np.asarray(runs[theirs][0], dtype=float)
            se = np.sqrt(ours.var(ddof=1) / len(ours) + released.var(ddof=1) / len(released))
            z = (ours.mean() - released.mean()) / se
            compared += 1
            matched += int(abs(z) < 2)
            if abs(z) > abs(worst[0]):
                worst = (float(z), f"{OPE_LABELS[name]} at ε={epsilon}: {fmt(ours.mean())} vs {fmt(released.mean())}")
    if not compared:
        return ""
    return (f"Against the released code run here (tang2021_released.py): {matched} of {compared} (ε, estimator) "
            f"Hessian correlations match within 2 standard errors of the difference of means over MDPs; the "
            f"largest gap {worst[1]} ({fmt(worst[0])} SE).")


def compare_correlation(data: FigureData) -> Comparison:
    """Their reading of the figure: at large ε the second-order estimate tracks the Hessian
    better than DR and step-wise IS; DR beats IS; TayPO-2 beats TayPO-1. Judged by paired
    differences over MDPs (intervals), at the largest ε and at every ε."""
    table = data.results
    epsilons = sorted(table["epsilon"].unique())
    large = epsilons[-1]
    checks = [("taypo2", "dr", large), ("taypo2", "is", large), ("dr", "is", large)]
    checks += [("taypo2", "taypo1", eps) for eps in epsilons]
    parts, holds = [], []
    for better, worse, eps in checks:
        diff = paired_difference(table, "hessian_corr", better, worse, eps)
        resolved = diff["lo"] > 0
        against = diff["hi"] < 0
        holds.append(1 if resolved else (-1 if against else 0))
        parts.append(f"{OPE_LABELS[better]} − {OPE_LABELS[worse]} at ε={eps}: {fmt(diff['mean'])} "
                     f"[{fmt(diff['lo'])}, {fmt(diff['hi'])}]")
    verdict = claim_verdict({1: True, -1: False}.get(h) for h in holds)
    paper_vs_released = [paired_difference(table, "hessian_corr", "taypo2", "taypo2_released", eps) for eps in epsilons]
    text = ("Paired differences of Hessian correlation over MDPs (95% intervals): " + "; ".join(parts) + ". "
            "TayPO-2 (paper form) − TayPO-2 as released: "
            + ", ".join(f"ε={eps}: {fmt(d['mean'])} [{fmt(d['lo'])}, {fmt(d['hi'])}]"
                        for eps, d in zip(epsilons, paper_vs_released)) + ".")
    if RELEASED_RUN:
        text += " " + released_agreement(table)
    return Comparison(verdict, text, correlation_details(data))


# ----------------------------------------------------------------------------- (b) bias and variance against ε

def draw_bias_variance(data: FigureData):
    """Relative squared bias and relative variance (one trajectory) of Ĥ against ε, log y."""
    table = summary(data.results, ("hessian_bias2", "hessian_variance"))
    table["hessian_bias2"] = table["hessian_bias2"].clip(lower=1e-6)
    table["hessian_bias2_lo"] = table["hessian_bias2_lo"].clip(lower=1e-6)
    return plotting.metric_vs_axis(table, "epsilon", ["hessian_bias2", "hessian_variance"], hue="estimator",
                                   hue_order=SHOWN, labels=OPE_LABELS, colour_map=COLOURS, logy=True,
                                   panel_size=(6.0, 3.2), xlabel="off-policyness ε",
                                   ylabel=["‖E Ĥ − ∇²V‖² / ‖∇²V‖²", "Σ Var Ĥ_ij / ‖∇²V‖² (one trajectory)"],
                                   title="Hessian estimates: relative bias² and variance against ε "
                                         "(bias² below 1e-6 drawn at 1e-6)")


def compare_bias_variance(data: FigureData) -> Comparison:
    """The trade-off: TayPO variance below DR/IS variance off-policy, TayPO bias above theirs."""
    table = summary(data.results, ("hessian_bias2", "hessian_variance"))
    large = table["epsilon"].max()
    at = table[table["epsilon"] == large].set_index("estimator")
    details = [{"ε": r.epsilon, "estimator": OPE_LABELS[r.estimator],
                "relative bias² [95%]": f"{fmt(r.hessian_bias2)} [{fmt(r.hessian_bias2_lo)}, {fmt(r.hessian_bias2_hi)}]",
                "relative variance (one trajectory) [95%]":
                    f"{fmt(r.hessian_variance)} [{fmt(r.hessian_variance_lo)}, {fmt(r.hessian_variance_hi)}]"}
               for r in table.itertuples()]
    # the trade: TayPO-2's variance resolved below both unbiased estimates', and its bias resolved above zero
    lower_variance = at.loc["taypo2", "hessian_variance_hi"] < min(at.loc["dr", "hessian_variance_lo"],
                                                                    at.loc["is", "hessian_variance_lo"])
    biased = at.loc["taypo2", "hessian_bias2_lo"] > 0
    # two pieces, each resolved or not: an unresolved one is not evidence against the claim
    verdict = claim_verdict([True if lower_variance else None, True if biased else None])
    text = (f"At ε={large}: relative variance of one Ĥ: TayPO-2 {fmt(at.loc['taypo2', 'hessian_variance'])}, "
            f"TayPO-1 {fmt(at.loc['taypo1', 'hessian_variance'])}, DR {fmt(at.loc['dr', 'hessian_variance'])}, "
            f"IS {fmt(at.loc['is', 'hessian_variance'])}; relative bias² TayPO-2 {fmt(at.loc['taypo2', 'hessian_bias2'])} "
            f"[{fmt(at.loc['taypo2', 'hessian_bias2_lo'])}, {fmt(at.loc['taypo2', 'hessian_bias2_hi'])}], DR "
            f"{fmt(at.loc['dr', 'hessian_bias2'])} [{fmt(at.loc['dr', 'hessian_bias2_lo'])}, "
            f"{fmt(at.loc['dr', 'hessian_bias2_hi'])}] (DR's bias against the infinite-horizon target is the "
            "truncation at T=20 with a noisy bootstrap only). Claim read: the Taylor estimates trade bias for "
            "lower variance off-policy.")
    return Comparison(verdict, text, details)


# ----------------------------------------------------------------------------- (c) against N

def n_table(data: FigureData) -> pd.DataFrame:
    """Per (estimator, ε, N): the measured correlation of the first-N mean, and the relative MSE
    ‖bias‖² + tr Var/N from the full-N moments (mean over MDPs with intervals)."""
    table = data.results
    measured = summary(table, ("hessian_corr",), by=("estimator", "epsilon", "N"), last_only=False)
    last = table[table["N"] == table["N"].max()]
    mse_rows = []
    for n in sorted(table["N"].unique()):
        rows = last.assign(N=n, hessian_mse=np.maximum(last["hessian_bias2"], 0) + last["hessian_variance"] / n)
        mse_rows.append(rows)
    mse = summary(pd.concat(mse_rows), ("hessian_mse",), by=("estimator", "epsilon", "N"), last_only=False)
    return measured.merge(mse, on=["estimator", "epsilon", "N", "mdps"])


def draw_against_n(data: FigureData):
    """Hessian correlation (measured) and relative MSE (from the moments) against N, per ε."""
    table = n_table(data)
    return plotting.metric_vs_axis(table, "N", ["hessian_corr", "hessian_mse"], hue="estimator", facet="epsilon",
                                   facet_label="ε =", hue_order=SHOWN, labels=OPE_LABELS, colour_map=COLOURS,
                                   logx=True, logy=[False, True], sharey=True,
                                   ylabel=["corr(mean of N Ĥ, ∇²V)", "(‖bias‖² + tr Var/N) / ‖∇²V‖²"],
                                   title="Against the number of trajectories N: the TayPO bias stays, IS/DR variance falls")


def compare_against_n(data: FigureData) -> Comparison:
    """Where MSE(DR) = MSE(TayPO-2): the N beyond which the unbiased estimate wins, per ε."""
    table = data.results
    last = table[table["N"] == table["N"].max()]
    parts, details = [], []
    for eps in sorted(last["epsilon"].unique()):
        rows = last[last["epsilon"] == eps].groupby("estimator")[["hessian_bias2", "hessian_variance"]].mean()
        b2, v2 = max(rows.loc["taypo2", "hessian_bias2"], 0.0), rows.loc["taypo2", "hessian_variance"]
        bd, vd = max(rows.loc["dr", "hessian_bias2"], 0.0), rows.loc["dr", "hessian_variance"]
        crossing = (vd - v2) / (b2 - bd) if b2 > bd and vd > v2 else np.nan
        details.append({"ε": eps, "TayPO-2 bias² / variance": f"{fmt(b2)} / {fmt(v2)}",
                        "DR bias² / variance": f"{fmt(bd)} / {fmt(vd)}",
                        "N where DR's MSE falls below TayPO-2's": "—" if not np.isfinite(crossing) else fmt(crossing)})
        parts.append(f"ε={eps}: " + ("DR never worse" if vd <= v2 else
                                      ("TayPO-2 better at every N" if not np.isfinite(crossing) else
                                       f"DR's MSE below TayPO-2's beyond N ≈ {fmt(crossing)}")))
    text = ("Mean over MDPs of the moments: " + "; ".join(parts) + ". The TayPO bias does not fall with N; the IS "
            "and DR MSE falls as 1/N (their bias is the truncation only).")
    return Comparison("no published claim", text, details)


# ----------------------------------------------------------------------------- (d) beyond: inside Liu et al.'s split

SPLIT = {"steps": 1, "lr": 10.0, "length": 20, "gamma": 0.8, "problem_seed": 2106_13125, "sampling_seed": 2021_2,
         "critic_noise": 1.0}
SPLIT_FULL = {"mdps": 10, "pool": 2048, "batches": (2, 8, 32, 128, 512)}
SPLIT_QUICK = {"mdps": 2, "pool": 128, "batches": (2, 8, 32)}
SPLIT_ESTIMATORS = ("is", "dr", "taypo1", "taypo2", "taypo2_recursive", "taypo2_released")


def split_unit(mdp_index: int, settings: dict[str, Any]) -> pd.DataFrame:
    """Liu et al.'s split `ele` with the Hessian part from an OPE estimate, K = 1, θ_0 = 0.

    g* = v_1 + α ∇²V(θ_0) v_1 with v_1 = ∇V(θ_1), θ_1 = θ_0 + α ∇V(θ_0) (exact inner and outer
    parts); the estimate replaces ∇²V(θ_0) v_1 by the mean of |τ| single-trajectory Ĥ v_1 from
    trajectories of π_{θ_0} (on-policy: μ = π_{θ_0}, ratios exactly 1, no offset), critic
    V^{π_{θ_0}} + N(0, I)·‖V‖/20. A pool of trajectories is cut into disjoint batches of |τ|;
    rows per (estimator, |τ|): the mean over batches of the correlation with g*.
    """
    mdp = liu2022_mdp(settings["problem_seed"] + mdp_index)
    rng = np.random.default_rng(np.random.SeedSequence(settings["problem_seed"], spawn_key=(mdp_index, 1)))
    theta0 = np.zeros((mdp.n_states, mdp.n_actions))
    policy = np.full(theta0.shape, 1.0 / mdp.n_actions)
    theta1 = theta0 + settings["lr"] * mdp.gradient(theta0)
    outer = mdp.gradient(theta1).ravel()
    exact = outer + settings["lr"] * mdp.hessian_vector_product(theta0, outer.reshape(theta0.shape)).ravel()
    values = mdp.state_values(theta0)
    critic = values + rng.standard_normal(mdp.n_states) * settings["critic_noise"] * np.linalg.norm(values) / mdp.n_states
    sampler = np.random.default_rng(np.random.SeedSequence(settings["sampling_seed"], spawn_key=(mdp_index,)))
    trajectories = sample_trajectories(mdp, policy, settings["pool"], settings["length"], sampler)
    batch = OffPolicyBatch(trajectories.states[0], trajectories.actions[0], trajectories.rewards[0],
                           trajectories.final_states[0])
    setting = OffPolicySetting(policy, critic, settings["gamma"])
    rows = []
    for name in SPLIT_ESTIMATORS:
        products = ope_hessian_vector_products(name, theta0, setting, batch, outer)          # (pool, D)
        for size in settings["batches"]:
            groups = products[: (len(products) // size) * size].reshape(-1, size, products.shape[1]).mean(axis=1)
            estimates = outer + settings["lr"] * groups
            rows.append({"estimator": name, "batch": size, "mdp": mdp_index, "batches": len(groups),
                         "corr": float(np.mean([correlation(g, exact) for g in estimates]))})
    return pd.DataFrame(rows)


def split_settings(quick: bool) -> dict[str, Any]:
    """`SPLIT` with the full or quick budget."""
    return {**SPLIT, **(SPLIT_QUICK if quick else SPLIT_FULL)}


def split_units(quick: bool) -> dict[str, Any]:
    """One unit per MDP."""
    settings = split_settings(quick)
    return {f"mdp={m}": (split_unit, {"mdp_index": m, "settings": settings}) for m in range(settings["mdps"])}


def split_shown(quick: bool) -> dict[str, Any]:
    """The settings shown on the page."""
    settings = split_settings(quick)
    return {"MDP": "liu2022_mdp", "MDPs": settings["mdps"], "split": "ele (exact inner and outer, sampled Hessian)",
            "K, α, θ_0": f"{settings['steps']}, {settings['lr']}, 0", "T": settings["length"],
            "trajectories per MDP (pool)": settings["pool"], "|τ|": ", ".join(map(str, settings["batches"])),
            "critic": "V^{π_θ0} + N(0, I)·‖V‖/20", "seeds": f"problem {settings['problem_seed']}, "
                                                          f"sampling {settings['sampling_seed']}"}


SPLIT_SIMULATION = Simulation(name="tang2021_split", units=split_units, settings=split_shown,
                              sources=("benchmark.studies.tang2021", "estimators.tabular.off_policy_evaluation",
                                       "mdps.tabular", "mdps.generators", "mdps.sampling", "mdps.policy"))


def split_summary(data: FigureData) -> pd.DataFrame:
    """Mean corr over MDPs per (estimator, |τ|) with the interval over MDPs."""
    rows = []
    for (name, size), group in data.results.groupby(["estimator", "batch"], sort=False):
        stats = over_mdps(group.sort_values("mdp")["corr"].to_numpy(), (SPLIT_ESTIMATORS.index(name), int(size), 7))
        rows.append({"estimator": name, "batch": size, "corr": stats["mean"], "corr_lo": stats["lo"],
                     "corr_hi": stats["hi"]})
    return pd.DataFrame(rows)


def draw_split(data: FigureData):
    """corr(ĝ_meta, g*) against |τ| per Hessian estimate."""
    return plotting.metric_vs_axis(split_summary(data), "batch", "corr", hue="estimator", hue_order=SPLIT_ESTIMATORS,
                                   labels=OPE_LABELS, colour_map=COLOURS, logx=True, panel_size=(6.0, 3.4),
                                   ylabel="corr(meta-gradient estimate, exact)",
                                   title="Liu et al.'s split ele (K = 1, α = 10): the Hessian part from OPE estimates")


def compare_split(data: FigureData) -> Comparison:
    """The numbers at the largest |τ|, and TayPO-2 ≡ DR on-policy."""
    table = split_summary(data)
    largest = table["batch"].max()
    at = table[table["batch"] == largest].set_index("estimator")
    parts = [f"{OPE_LABELS[name]} {fmt(at.loc[name, 'corr'])} [{fmt(at.loc[name, 'corr_lo'])}, "
             f"{fmt(at.loc[name, 'corr_hi'])}]" for name in SPLIT_ESTIMATORS]
    text = (f"corr with the exact meta-gradient at |τ| = {int(largest)}: " + "; ".join(parts) + ". On-policy (ratios 1) "
            "TayPO-2 in its paper form is the doubly robust estimate trajectory by trajectory (tested), so their "
            "curves coincide; TayPO-1 keeps only the one-step Hessian terms.")
    details = [{"estimator": OPE_LABELS[r.estimator], "|τ|": int(r.batch), "corr [95% over MDPs]":
                f"{fmt(r.corr)} [{fmt(r.corr_lo)}, {fmt(r.corr_hi)}]"} for r in table.itertuples()]
    return Comparison("no published claim", text, details)


# ----------------------------------------------------------------------------- figures

REPRODUCES = ("Tang, Kozuno, Rowland, Munos, Valko (NeurIPS 2021, arXiv 2106.13125), Figure 1 and its released code "
              "(github.com/robintyh1/neurips2021-meta-gradient-offpolicy-evaluation, main.py): Liu et al.'s random "
              "MDPs (S=20, A=5, γ=0.8), T=20, uniform μ, π = ε·onehot + (1 − ε)·μ, ε ∈ {0, 0.2, 0.5, 0.8}, "
              "10 MDPs, 1000 single-trajectory estimates averaged, Pearson correlation with the exact Hessian "
              "(10,000 entries) and gradient (100 entries).")

FIGURES = [
    FigureSpec(
        filename="hessian_correlation",
        gallery=True,
        title="Hessian and gradient correlation against off-policyness",
        sweeps=(),
        draw=draw_correlation,
        compare=compare_correlation,
        simulation=SIMULATION,
        reproduces=REPRODUCES,
        claim="Off-policy evaluation gives Hessian estimates with a bias-variance trade-off: step-wise IS (DiCE) "
              "and doubly robust (Loaded DiCE) are unbiased but their variance grows with off-policyness; the "
              "Taylor-expansion (TayPO) estimates are biased with lower variance, and the second-order one keeps "
              "the best Hessian accuracy as ε grows (their Fig. 1 plots DR, IS, first- and second-order). The claim "
              "as read from issue 22 and the released plot script; the paper's text was not at hand when this was written.",
        notes="Lines: mean over MDPs; bands: 95% bootstrap-over-MDPs intervals (expanded percentile); the table "
              "puts the std over MDPs (their error bars) and the released code's numbers beside them. TayPO-2 "
              "(paper) is the second-order truncation of the doubly robust estimate; 'recursion, critic by state' "
              "is Secondorder_evaluation with V read by state; 'as released' reads the critic by time step "
              "(docs/figures.md). Same MDPs, greedy actions and critic for every ε (common random numbers).",
    ),
    FigureSpec(
        filename="hessian_bias_variance",
        title="Relative bias² and variance of the Hessian estimates against off-policyness",
        sweeps=(),
        draw=draw_bias_variance,
        compare=compare_bias_variance,
        simulation=SIMULATION,
        reproduces="mgbench's metrics in the setting of Tang et al. (2021): the bias and variance behind the "
                   "correlations of their Figure 1.",
        claim="The Taylor-expansion estimates trade a bias for a lower variance off-policy.",
        notes="Bias² is debiased (‖H̄ − H‖² − tr Var/N) and can be below zero when unresolved; points below 1e-6 "
              "are drawn at 1e-6. Variance: of one single-trajectory estimate. Both relative to ‖∇²V‖²_F.",
    ),
    FigureSpec(
        filename="hessian_against_n",
        title="Hessian accuracy against the number of trajectories",
        sweeps=(),
        draw=draw_against_n,
        compare=compare_against_n,
        simulation=SIMULATION,
        reproduces="Beyond their figure (fixed N = 1000): the same estimates against N, in their setting.",
        claim="No published claim; expected: the TayPO bias stays, the IS/DR variance falls as 1/N.",
        notes="Top: the measured correlation of the mean of the first N trajectories' estimates. Bottom: "
              "‖bias‖² + tr Var/N from the moments at the largest N (a prediction of the MSE at each N).",
    ),    FigureSpec(
        filename="split_hessian",
        title="Beyond the paper: OPE Hessian estimates inside Liu et al.'s meta-gradient split",
        sweeps=(),
        draw=draw_split,
        compare=compare_split,
        simulation=SPLIT_SIMULATION,
        reproduces="Beyond the paper: the decompose setting of Liu et al. (2022) (liu2022 MDPs, K = 1, α = 10, θ_0 = 0, "
                   "split ele: exact inner gradient and outer gradient, sampled Hessian part), with the Hessian part "
                   "taken from each OPE estimate on trajectories of π_θ0.",
        claim="No published claim (Tang et al. 2021 propose the OPE Hessians for meta-gradients; measured here in "
              "Liu et al.'s split).",
        notes="Lines: mean over MDPs of the per-batch correlation; bands: 95% bootstrap over MDPs. The critic is the "
              "noise recipe of Tang et al. on V^{π_θ0}, not Liu et al.'s critic; disjoint batches cut from one pool "
              "of trajectories per MDP.",
    ),
]
