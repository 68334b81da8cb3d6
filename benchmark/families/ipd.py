"""The IPD family: LOLA on the Iterated Prisoner's Dilemma with memory-one policies (Liu et al.'s
testbed, docs/ipd.md) at a pair of policies, K look-ahead steps of size α, the exact LOLA
meta-gradients as target. Estimates have shape `(2, 5)`: both players' meta-gradients."""
from __future__ import annotations

import functools
from typing import Any

import numpy as np

from benchmark.families.family import SAMPLE_SIZE_PARAMETERS, CompareSuite, Family, Target, integer_parameter
from benchmark.families.schema import SweepError, expect_choice, mdp_field
from estimators import LolaProblem
from estimators.ipd.problem import GAME_CRITICS
from mdps import IteratedPrisonersDilemma
from mdps.ipd import exact_lola_training

FIELDS = ("gamma", "horizon", "rollout_length", "critic", "theta")
POINTS = ("zeros", "random", "training")
# Liu et al. (2022), their IPD experiment (docs/ipd.md): γ = 0.96, rollouts of 100 steps, learned
# baselines, both players at θ = 0 (where LOLA training starts)
DEFAULTS: dict[str, Any] = {"gamma": 0.96, "horizon": None, "rollout_length": 100, "critic": "learned",
                            "theta": "zeros"}
COMPARE_REPETITIONS = 512


def ipd_field(name: str, value: Any) -> Any:
    """One `[problem]` field of an IPD problem, checked; a `SweepError` names it."""
    if name == "critic":
        return expect_choice(f"problem.{name}", value, GAME_CRITICS)
    if name == "theta":
        return expect_choice(f"problem.{name}", value, POINTS)
    return mdp_field(name, value)


def ipd_point(theta: str, seed: int | None, game: IteratedPrisonersDilemma) -> tuple[np.ndarray, np.ndarray]:
    """The IPD evaluation point: both players' logits zero (`zeros`, where LOLA training
    starts); θ₁, θ₂ ~ N(0, I₅) from `SeedSequence(seed)` (`random`, the problem seed); or the
    pair after `seed` updates of exact LOLA training on `game` from zero (`training`: Adam
    0.1, K = 1, α = 0.3, Liu et al.'s loop with exact meta-gradients)."""
    if theta == "zeros":
        return np.zeros(5), np.zeros(5)
    if theta == "training":
        point = _training_point(game.gamma, game.horizon, int(seed))
        return point[0].copy(), point[1].copy()
    draw = np.random.default_rng(np.random.SeedSequence(int(seed))).standard_normal((2, 5))
    return draw[0], draw[1]


@functools.lru_cache(maxsize=64)
def _training_point(gamma: float, horizon: int | None, updates: int) -> np.ndarray:
    return exact_lola_training(IteratedPrisonersDilemma(gamma, horizon), updates)[-1]


class IpdFamily(Family):
    name = "ipd"
    description = "LOLA on the Iterated Prisoner's Dilemma (Liu et al.'s testbed): both players' meta-gradients"
    fields = FIELDS
    meta_parameters = ("init",)
    targets = ("ideal",)
    problem_axes = ("steps", "lr")
    target_notes = {"ideal": "the exact LOLA meta-gradients"}
    foreign_axes = {"eta0": "the schedule η needs a bandit problem", "eta1": "the schedule η needs a bandit problem"}
    estimate_shape = "(R, 2, 5): both players' LOLA meta-gradients (player, memory-one state)"
    compare = CompareSuite(
        baselines=("lola_dice",), primary="batch",
        axes={"batch": {"steps": 1, "lr": 0.3, "batch": [32, 64, 128, 256, 512]}},
        problem={"kind": "ipd", "rollout_length": 100}, repetitions=COMPARE_REPETITIONS,
        shared_parameters={"split": "lll"},
        setting="the IPD at θ = 0 (where LOLA training starts), γ = 0.96, T = 100, learned baselines, K = 1, "
                "α = 0.3, split lll (Liu et al.'s LOLA-DiCE)")

    def parse_problem(self, table):
        overrides = tuple(name for name in FIELDS if name in table)
        return {**DEFAULTS, **{name: ipd_field(name, table[name]) for name in overrides}}, None, overrides

    def check_seeds(self, values, table):
        if values["theta"] == "zeros" and any(name in table for name in ("n_mdps", "mdp_seeds")):
            raise SweepError("problem.n_mdps: expected no problem seeds for theta = \"zeros\" (seeds draw the "
                             "points of theta = \"random\" and count the updates of theta = \"training\")")
        return values["theta"] != "zeros"

    def bytes_per_repetition(self, values, parameters, cell):
        """2 rows (players) x the largest batch or buffer of games x T steps, ~20 arrays."""
        games = integer_parameter(parameters, (*SAMPLE_SIZE_PARAMETERS, "buffer"))
        return 2 * 2 * games * int(values["rollout_length"]) * 160

    def build_problem(self, values, cell, meta_parameter, kernel):
        """LOLA with K look-ahead steps of size α at the point `theta` (zeros, or given by the problem seed)."""
        game = IteratedPrisonersDilemma(values["gamma"], values["horizon"])
        theta1, theta2 = ipd_point(values["theta"], cell.mdp_seed, game)
        return LolaProblem(game, theta1, theta2, steps=int(cell.axis("steps")), lr=float(cell.axis("lr")),
                           rollout_length=values["rollout_length"], critic=values["critic"], kernel=kernel)

    def target(self, sweep, cell, problem, parameters):
        """The exact LOLA meta-gradients of both players."""
        return Target(problem.exact_meta_gradient(), None, "exact")

    def bench_call(self, cell):
        """The estimator at θ = 0 of the IPD with γ = 0.96 and horizon T = `cell.rollout_length`,
        `cell.batch` games per batch (its games are drawn in several places: not counted)."""
        from estimators import get_estimator

        problem = LolaProblem(IteratedPrisonersDilemma(0.96, cell.rollout_length), np.zeros(5), np.zeros(5),
                              steps=cell.steps, lr=cell.lr, rollout_length=cell.rollout_length, critic=cell.critic,
                              kernel=cell.kernel)
        estimator = get_estimator(cell.estimator, self.name)
        return lambda repetitions, rng: estimator(problem, repetitions, rng, batch=cell.batch, **cell.parameters)

    def corr_groups(self, target):
        """One Pearson correlation per player, averaged (Liu et al.'s per-player `corr`)."""
        return int(target.shape[0])


FAMILY = IpdFamily()
