"""Liu et al. (2022), IPD panels: LOLA-DiCE training with the exact LOLA gradient alongside.

Their `play()` (released code `lola/lola_dice_original.py`, `lola/lola_dice_ablation.py`,
`lola/lola_dice_off_policy.py`, `lola/lola_dice_off_policy_ablation.py`), vectorized over seeds: both players start at θ = 0
with learned values v = 0; at every outer update each player's meta-gradient is estimated
by DiCE-LOLA (`estimators.ipd.lola.stacked_lola_estimates`, K look-ahead steps of size lr_in,
rollouts of T steps, learned-value baseline), the exact LOLA meta-gradient is computed
(`mdps.ipd.batch_lola_player_one`, infinite horizon, as their `true_objective`), and we record
the Pearson correlation of each player's 5-vector with its exact one, averaged over the two
players (their `Corr`), the same with the outer gradient made exact on the same inner and
Hessian samples (their `grad_outer_exact`), and the joint score (the mean over both players
of the expected average reward per step over T steps; theirs is one sampled batch). Then
θ ← Adam ascent (lr_out) along the sampled (or exact) meta-gradients and the values ← Adam
(lr_v) on the value loss mean_t (r_t − v[s_t])² of a batch at the current pair (theirs uses
the outer batch, drawn at the look-ahead opponent).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from benchmark.present.pages import fmt, fmt_interval
from benchmark.analysis.aggregation import bootstrap_mean_interval
from benchmark.analysis.claims import claim_verdict
from benchmark.analysis.statistics import pearson_with_target
from benchmark.present import plotting
from benchmark.studies.spec import Comparison, FigureData, FigureSpec, Simulation
from estimators.ipd.lola import GameBuffer, OffPolicy, draw_batch, stacked_lola_estimates, value_residual_sums
from mdps import IteratedPrisonersDilemma
from mdps.ipd import OPPONENT_VIEW, REWARDS, Adam, batch_lola_player_one, outcome_law
from mdps.policy import sigmoid


@dataclass(frozen=True)
class TrainingVariant:
    """One estimator configuration of their ablations (names after their README's log dirs).

    Attributes:
      label: legend label.
      split: inner (their comp) / Hessian / outer letters, e exact or l sampled.
      n_inner, n_hessian, n_outer: batch sizes (comp_batch_size, hessian_batch_size, outer_batch_size).
      off_inner, off_hessian: the part uses the off-policy buffer (None: on-policy DiCE).
      shared: one batch (one buffer read) serves the inner gradient and the Hessian.
      buffer: buffer size B (their buffer_size).
    """

    label: str
    split: str = "lll"
    n_inner: int = 128
    n_hessian: int = 128
    n_outer: int = 128
    off_inner: bool = False
    off_hessian: bool = False
    shared: bool = False
    buffer: int = 1024

    @property
    def off_policy(self) -> bool:
        return self.off_inner or self.off_hessian


ON_POLICY = {
    "comp128_hessian128": TrainingVariant("inner 128, Hessian 128"),
    "comp128_hessian1024": TrainingVariant("inner 128, Hessian 1024", n_hessian=1024),
    "comp128_hessian_exact": TrainingVariant("inner 128, Hessian exact", split="lel"),
    "comp_exact_hessian128": TrainingVariant("inner exact, Hessian 128", split="ell"),
    "comp1024_hessian128": TrainingVariant("inner 1024, Hessian 128", n_inner=1024),
}
OFF_POLICY = {
    "off_policy": TrainingVariant("off-policy (both)", off_inner=True, off_hessian=True, shared=True),
    "off_comp_on_hessian": TrainingVariant("off-policy inner, on-policy Hessian", off_inner=True),
    "on_comp_off_hessian": TrainingVariant("on-policy inner, off-policy Hessian", off_hessian=True),
}
# Their on-policy run, `lola/lola_dice_original.py` (README: inner_128_outer128_baseline): one batch of 128 games
# gives the inner gradient and, differentiated again, its Hessian. Listed last, so the seeds of the others stay.
ORIGINAL = {
    "original": TrainingVariant("inner = Hessian, one batch of 128 (their original)", shared=True),
}
VARIANTS = {**ON_POLICY, **OFF_POLICY, **ORIGINAL}

FULL = dict(n_seeds=10, updates=500, length=100, scale=1)   # their setting (~31 min on one busy core)
QUICK = dict(n_seeds=2, updates=25, length=30, scale=8)     # batches and buffer divided by `scale`


def average_rewards(theta1s: np.ndarray, theta2s: np.ndarray, length: int) -> np.ndarray:
    """`(R, 2)` expected average reward per step over `length` steps, (1/T) Σ_{t<T} q_tᵀ r_p."""
    laws = outcome_law(sigmoid(theta1s), sigmoid(theta2s[:, OPPONENT_VIEW]))
    law, total = laws[:, 0], np.zeros((len(laws), 2))
    for _ in range(length):
        total += law @ REWARDS.T
        law = np.einsum("ro,rok->rk", law, laws[:, 1:])
    return total / length


def value_loss_gradient(own: np.ndarray, other: np.ndarray, values: np.ndarray, n_games: int, length: int,
                        rng: np.random.Generator, kernel: str = "compiled") -> np.ndarray:
    """∂/∂v of mean_{n,t} (r_t − v[s_t])² for each row's own player on fresh games, `(M, 5)`."""
    return -2.0 * value_residual_sums(own, other, values, n_games, length, rng, kernel) / (n_games * length)


def lola_training(variant: TrainingVariant, *, n_seeds: int, updates: int, seed: int, length: int = 100,
                  scale: int = 1, steps: int = 1, lr_in: float = 0.3, lr_out: float = 0.1, lr_values: float = 0.1,
                  gamma: float = 0.96, exact_updates: bool = False, kernel: str = "compiled") -> dict[str, np.ndarray]:
    """LOLA-DiCE training of S seeds at once, with the exact LOLA gradient alongside.

    Args:
      variant: the estimator configuration.
      n_seeds: S independent runs (their 10 seeds).
      updates: outer updates (their n_update = 500).
      seed: the sampling seed (SeedSequence entropy; the runs are spawned from it).
      length: rollout length T (their len_rollout = 100).
      scale: divide every batch size and the buffer by this (quick runs).
      steps, lr_in, lr_out, lr_values, gamma: K, α, the outer and value Adam rates, γ.
      exact_updates: ascend the exact meta-gradients instead of the sampled ones.
      kernel: `compiled` or `numpy`, how games and DiCE sums are computed (`estimators.ipd.lola`;
        the same draws, the same numbers to a few ulps).
    Returns:
      `corr`, `corr_outer_exact`, `score`: `(updates, S)` arrays (joint over both players).
    """
    variant = replace(variant, n_inner=max(1, variant.n_inner // scale), n_hessian=max(1, variant.n_hessian // scale),
                      n_outer=max(1, variant.n_outer // scale), buffer=max(1, variant.buffer // scale))
    game = IteratedPrisonersDilemma(gamma)
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    theta, values = np.zeros((n_seeds, 2, 5)), np.zeros((n_seeds, 2, 5))
    theta_optimiser, value_optimiser = Adam(lr_out, theta.shape), Adam(lr_values, values.shape)
    off_policy = None
    if variant.off_policy:
        history = GameBuffer(n_seeds, variant.buffer, length)
        for _ in range(variant.buffer // variant.n_inner):                     # their fill_replay
            history.push(draw_batch(theta[:, 0], theta[:, 1], variant.n_inner, length, rng, kernel))
        off_policy = OffPolicy(variant.buffer, variant.off_inner, variant.off_hessian, history=history)
    record = {name: np.zeros((updates, n_seeds)) for name in ("corr", "corr_outer_exact", "score")}
    for update in range(updates):
        own = np.concatenate([theta[:, 0], theta[:, 1]])
        other = np.concatenate([theta[:, 1], theta[:, 0]])
        critic_values = np.concatenate([values, values[:, ::-1]])
        sampled, outer_exact = stacked_lola_estimates(
            game, own, other, rng, steps=steps, lr=lr_in, length=length, critic="learned",
            critic_values=critic_values, split=variant.split, n_inner=variant.n_inner, n_hessian=variant.n_hessian,
            n_outer=variant.n_outer, shared=variant.shared, off_policy=off_policy, with_exact_outer=True,
            kernel=kernel)
        exact = batch_lola_player_one(game, own, other, lr=lr_in, steps=steps)
        record["corr"][update] = pearson_with_target(sampled, exact).reshape(2, n_seeds).mean(axis=0)
        record["corr_outer_exact"][update] = pearson_with_target(outer_exact, exact).reshape(2, n_seeds).mean(axis=0)
        record["score"][update] = average_rewards(theta[:, 0], theta[:, 1], length).mean(axis=1)
        value_gradient = value_loss_gradient(own, other, critic_values[:, 0], variant.n_outer, length, rng, kernel)
        values = values - value_optimiser.step(np.stack([value_gradient[:n_seeds], value_gradient[n_seeds:]], 1))
        direction = exact if exact_updates else sampled
        theta = theta + theta_optimiser.step(np.stack([direction[:n_seeds], direction[n_seeds:]], axis=1))
    return record


def variant_seed(seed: int, name: str) -> int:
    """The sampling seed of one variant: `seed` + its index in `VARIANTS` (order-independent runs)."""
    return seed + list(VARIANTS).index(name)


def training_frame(name: str, seed: int, settings: dict[str, int]) -> Any:
    """One variant's training curves as a tidy table (variant, label, seed, update, corr,
    corr_outer_exact, score): a unit of the simulation, a function of its arguments alone."""
    variant = VARIANTS[name]
    record = lola_training(variant, seed=variant_seed(seed, name), **settings)
    updates, n_seeds = record["corr"].shape
    return pd.DataFrame({"variant": name, "label": variant.label,
                         "seed": np.tile(np.arange(n_seeds), updates),
                         "update": np.repeat(np.arange(updates), n_seeds),
                         **{key: value.ravel() for key, value in record.items()}})


def training_units(quick: bool, *, seed: int = 2022) -> dict[str, Any]:
    """The simulation's units: one per variant (`training_frame`), independent of each other."""
    settings = dict(QUICK if quick else FULL)
    return {name: (training_frame, {"name": name, "seed": seed, "settings": settings}) for name in VARIANTS}


def training_settings(quick: bool) -> dict[str, Any]:
    """The settings shown on the page."""
    settings = dict(QUICK if quick else FULL)
    settings.update(lr_in=0.3, lr_out=0.1, lr_values=0.1, gamma=0.96, steps=1)
    settings["batch sizes and buffer"] = ("their values (128 / 1024, buffer 1024)" if settings["scale"] == 1
                                          else f"their values / {settings['scale']}")
    settings.pop("scale")
    return settings


TRAINING = Simulation(name="liu2022_ipd_training", units=training_units, settings=training_settings,
                      sources=("benchmark.studies.liu2022_ipd", "estimators.ipd.lola"),
                      # seconds of each full unit on 2 workers of an idle machine (run E, docs/performance.md):
                      # the longest first
                      expected_seconds={"off_policy": 41, "on_comp_off_hessian": 26, "comp128_hessian1024": 25,
                                        "off_comp_on_hessian": 19, "comp1024_hessian128": 18,
                                        "comp128_hessian128": 7, "comp_exact_hessian128": 5,
                                        "comp128_hessian_exact": 4, "original": 6})


# ----------------------------------------------------------------------------- figure
CLAIMED_IMPROVEMENTS = (          # (variant, than, what Liu et al. claim raises the correlation)
    # the paper's off-policy gain is over their original on-policy run: one shared batch, like off_policy's
    ("off_policy", "original", "off-policy DiCE against their original (one shared batch)"),
    ("comp_exact_hessian128", "comp128_hessian128", "an exact inner gradient"),
    ("comp128_hessian_exact", "comp128_hessian128", "an exact Hessian"),
    ("comp1024_hessian128", "comp128_hessian128", "a larger inner batch (1024)"),
    ("comp128_hessian1024", "comp128_hessian128", "a larger Hessian batch (1024)"),
)
OTHER_DIFFERENCES = (             # differences reported beside the claims, not evidence for them
    ("off_policy", "comp128_hessian128", "off-policy DiCE against separate inner and Hessian batches"),
    ("original", "comp128_hessian128", "one shared batch against separate inner and Hessian batches"),
    ("on_comp_off_hessian", "off_comp_on_hessian", "off-policy Hessian alone against off-policy inner alone"),
)
PANELS = (("corr", (*ON_POLICY, *ORIGINAL), "on-policy ablations: corr"),
          ("corr", ("original", "comp128_hessian128", *OFF_POLICY), "off-policy variants: corr"),
          ("corr_outer_exact", tuple(VARIANTS), "outer step exact: corr"),
          ("score", tuple(VARIANTS), "joint score"))
SEED_BOOTSTRAP = 1000       # bootstrap draws of an interval over training seeds
BOOTSTRAP_SEED = 2112_15400


def smoothing_window(updates: int) -> int:
    """The trailing window (in updates) of the moving average drawn: updates / 20, at least 1."""
    return max(1, updates // 20)


def training_summary(table) -> Any:
    """Per (panel, variant, update): the trailing moving average (`smoothing_window`) of each
    seed's curve, then its mean over seeds and a 95% bootstrap interval over seeds."""
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    rows = []
    for metric, variants, title in PANELS:
        for name in variants:
            runs = table[table["variant"] == name].pivot(index="update", columns="seed", values=metric)
            if runs.empty:
                continue
            runs = runs.rolling(smoothing_window(len(runs)), min_periods=1).mean()
            mean, lo, hi = bootstrap_mean_interval(runs.to_numpy(float), rng, n_bootstrap=SEED_BOOTSTRAP)
            rows.append(pd.DataFrame({"panel": title, "variant": name, "update": runs.index.to_numpy(),
                                      "value": mean, "value_lo": lo, "value_hi": hi}))
    return pd.concat(rows, ignore_index=True)


def draw_training(data: FigureData):
    """Four panels against the outer update: corr of the on-policy ablations, of the off-policy
    variants, corr with the outer step exact, and the joint score (mean over seeds, 95% band)."""
    summary = training_summary(data.results)
    labels = {name: variant.label for name, variant in VARIANTS.items()}
    return plotting.optimisation_curves(summary, x="update", y="value", hue="variant", facet="panel",
                                        facet_label="", labels=labels, hue_order=list(VARIANTS),
                                        facet_order=[title for _, _, title in PANELS], xlabel="outer update",
                                        ylabel="corr / score", title="IPD, LOLA-DiCE training")


def training_means(table, metric: str = "corr") -> dict[str, np.ndarray]:
    """Per variant: the mean of `metric` over all updates, one value per seed `(S,)`."""
    return {name: group.groupby("seed")[metric].mean().to_numpy(float) for name, group in table.groupby("variant")}


def compare_training(data: FigureData) -> Comparison:
    """Liu et al.'s claims, each as a difference of mean correlations over training (seed-bootstrap intervals)."""
    rng = np.random.default_rng(BOOTSTRAP_SEED + 1)
    means = training_means(data.results)
    outer = training_means(data.results, "corr_outer_exact")
    details, outcomes, parts = [], [], []
    for name in VARIANTS:
        if name not in means:
            continue
        value, lo, hi = bootstrap_mean_interval(means[name], rng, n_bootstrap=SEED_BOOTSTRAP)
        outer_value, outer_lo, outer_hi = bootstrap_mean_interval(outer[name], rng, n_bootstrap=SEED_BOOTSTRAP)
        details.append({"variant": VARIANTS[name].label, "mean corr over training": fmt_interval(value, lo, hi),
                        "mean corr, outer step exact": fmt_interval(outer_value, outer_lo, outer_hi)})
    for name, than, what in CLAIMED_IMPROVEMENTS:
        if name not in means or than not in means:
            continue
        difference, lo, hi = bootstrap_mean_interval(means[name] - means[than], rng, n_bootstrap=SEED_BOOTSTRAP)   # paired by seed index
        outcome = "raises" if lo > 0 else "lowers" if hi < 0 else "unresolved"
        outcomes.append(outcome)
        parts.append(f"{what}: {fmt(difference)} [{fmt(lo)}, {fmt(hi)}] ({outcome})")
    others = []
    for name, than, what in OTHER_DIFFERENCES:
        if name not in means or than not in means:
            continue
        pieces = []
        for metric, values in (("corr", means), ("outer step exact", outer)):
            difference, lo, hi = bootstrap_mean_interval(values[name] - values[than], rng, n_bootstrap=SEED_BOOTSTRAP)
            pieces.append(f"{metric} {fmt(difference)} [{fmt(lo)}, {fmt(hi)}]")
        others.append(f"{what}: " + ", ".join(pieces))
    verdict = claim_verdict({"raises": True, "lowers": False}.get(outcome) for outcome in outcomes)
    text = ("Change of the mean correlation over training against the baseline each claim names: their original "
            "on-policy run (one batch of 128 for the inner gradient and its Hessian) for off-policy DiCE, inner 128 / "
            "Hessian 128 on separate batches (their ablation script) for the rest (positive: higher correlation; 95% "
            "bootstrap intervals over seeds, paired by seed): " + "; ".join(parts) + ".")
    if others:
        text += " Beside the claims (not evidence): " + "; ".join(others) + "."
    return Comparison(verdict, text, details)


FIGURE = FigureSpec(
    filename="ipd_lola",
    title="IPD: LOLA-DiCE correlation with the exact LOLA gradient along training",
    sweeps=(),
    draw=draw_training,
    compare=compare_training,
    simulation=TRAINING,
    reproduces="Liu et al. (2022), arXiv 2112.15400, the IPD experiment (released code lola/lola_dice_original.py, "
               "lola/lola_dice_ablation.py, lola/lola_dice_off_policy*.py): LOLA-DiCE with learned-value baselines, "
               "K = 1 look-ahead of lr_in 0.3, rollouts of 100 steps, outer Adam lr 0.1, both players from θ = 0; "
               "their original on-policy run (one batch of 128 games for the inner gradient and its Hessian), the "
               "on-policy ablations (separate inner/Hessian batches of 128 or 1024, or exact) and the off-policy "
               "buffer (1024 games) for the inner gradient and/or the Hessian.",
    claim="Off-policy DiCE raises the correlation with the exact meta-gradient (it reduces the compositional "
          "error); exact inner parts raise it; larger batches raise it.",
    notes="Curves: mean over seeds of the per-update correlation (Pearson over each player's 5 logits, averaged "
          "over both players; each seed's curve smoothed by a trailing moving average over updates/20 updates) and "
          "of the joint score (expected average reward per step over the rollout length, "
          "mean of both players; −1 is mutual cooperation); bands: 95% bootstrap intervals over seeds. "
          "The full run uses their 10 seeds and 500 outer updates; docs/ipd.md says where the simulation "
          "differs from their code.",
    gallery=True,
)
