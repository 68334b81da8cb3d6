"""The IPD driver of the autodiff estimators: a two-player surrogate written in JAX or PyTorch,
from which mgbench builds LOLA's look-ahead and Liu et al.'s split, as `lola_dice` does in
closed form (`estimators.ipd.lola.stacked_lola_estimates`).

A surrogate L(x; batch) of one batch of N games of T steps, x = (θ_own, θ_other) `(2, 5)`,
is the objective of the player whose rewards the batch carries: the opponent's in the
look-ahead (inner and Hessian batches), the row's own player's in the outer batch. With
the derivatives of the surrogate wrt x:

  forward,  k = 0..K-1:  y_{k+1} = y_k + α ∇_y L_other((own, y_k); inner batch k)
  outer:                 (u, v) = ∇_x L_own((own, y_K); outer batch)
  backward, k = K-1..0:  t = vjp of x ↦ ∇_x L_other(x; Hessian batch k) with (0, v)
                         (a Hessian-vector product); u += α t_own, v += α t_other.
  player 1's meta-gradient: u.

Both players are one stack of 2R rows, (θ₁, θ₂) then (θ₂, θ₁) (the game is symmetric), each
with its own batches, in the order and from the stream of the closed form (numpy
`lola.draw_batch`: inner batches 0..K-1, the outer batch, the Hessian batches K-1..0); the
baselines b_t are the closed form's (`lola.baseline_table`, the problem's critic). The exact
parts (`e`) are `mdps.ipd`'s closed forms in numpy (not rewritten in the framework).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from estimators.autodiff.contract import SurrogateDriver, check_objective, load_backend
from estimators.ipd.lola import OTHER, OWN, SPLITS, baseline_table, critic_baselines, draw_batch, player_rows
from estimators.ipd.problem import LolaProblem
from estimators.problem import positive_int
from mdps import IteratedPrisonersDilemma
from mdps.ipd import OPPONENT_VIEW, lola_look_ahead


@dataclass(frozen=True, eq=False)
class GameSurrogateBatch:
    """One batch of N IPD games of T steps, as arrays of the surrogate's framework (float64;
    indices int64), at one row's pair (θ_own, θ_other) (logits `(5,)` each, σ = P(cooperate)).

    Attributes:
      logp_own: `(N, T)` log π_own(a¹_t|s_t), differentiable in θ_own.
      logp_other: `(N, T)` log π_other(a²_t|s²_t), differentiable in θ_other.
      rewards: `(N, T)` r_t of the player whose objective this is (the opponent in the
        look-ahead, the own player in the outer batch).
      baselines: `(N, T)` b_t of that player at its state (the problem's critic; 0 for `none`).
      discount: γ.
      states: `(N, T)` int s_t from the own player's side (the other's is `OPPONENT_VIEW[s_t]`).
      actions_own, actions_other: `(N, T)` int (0 = C, 1 = D).
    """

    logp_own: Any
    logp_other: Any
    rewards: Any
    baselines: Any
    discount: float
    states: Any
    actions_own: Any
    actions_other: Any


@functools.lru_cache(maxsize=64)
def game_objective(surrogate: Callable[..., Any], options: tuple, framework: str, gamma: float) -> Callable[..., Any]:
    """L(x, unused, data, model) of one row, x = (θ_own, θ_other) `(2, 5)` (the backends' objective signature)."""
    xp = load_backend(framework)
    view = xp.asarray(OPPONENT_VIEW)
    keywords = dict(options)

    def objective(pair, unused, data, model):
        tables = xp.log_sigmoid(xp.stack([pair, -pair], -1))                     # (2, 5, 2) log π(C|s), log π(D|s)
        states = data["states"]
        batch = GameSurrogateBatch(logp_own=tables[0][states, data["actions_own"]],
                                   logp_other=tables[1][view[states], data["actions_other"]],
                                   rewards=data["rewards"], baselines=data["baselines"], discount=gamma,
                                   states=states, actions_own=data["actions_own"],
                                   actions_other=data["actions_other"])
        return surrogate(batch, **keywords)

    return objective


def game_data(xp, game: IteratedPrisonersDilemma, critic: str, critic_values, own: np.ndarray, other: np.ndarray,
              length: int, player: int, sample) -> dict[str, Any]:
    """The arrays of a numpy `GameBatch` for `player`'s objective, `(M, ...)` each, in the framework."""
    games = sample.games
    baselines = critic_baselines(baseline_table(game, critic, own, other, length, player, critic_values), games)
    arrays = {"states": games.states, "actions_own": games.actions[0], "actions_other": games.actions[1],
              "rewards": games.rewards[player], "baselines": baselines}
    return {name: xp.asarray(np.ascontiguousarray(array)) for name, array in arrays.items()}


def surrogate_lola_estimate(problem: LolaProblem, repetitions: int, rng: np.random.Generator,
                            surrogate: Callable[..., Any], framework: str, *, options: tuple = (), batch: int = 128,
                            split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
                            n_outer: int | None = None, shared: bool = False) -> np.ndarray:
    """R estimates `(R, 2, 5)` of both players' LOLA meta-gradients from a two-player surrogate
    (module docstring); the arguments and draws of `lola.lola_split_estimate` (on-policy)."""
    if not isinstance(problem, LolaProblem):
        raise TypeError(f"problem: expected a LolaProblem, got {type(problem).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split: expected three letters of e (exact) and l (sampled), one of {SPLITS}, got {split!r}")
    repetitions = positive_int("repetitions", repetitions)
    n_inner, n_hessian, n_outer = (positive_int(name, batch if size is None else size) for name, size in
                                   (("n_inner", n_inner), ("n_hessian", n_hessian), ("n_outer", n_outer)))
    xp = load_backend(framework)
    game, length, lr = problem.game, problem.length, float(problem.lr)
    objective = game_objective(surrogate, tuple(options), framework, float(game.gamma))
    gradient, products = xp.gradient_function(objective), xp.product_function(objective)
    own, other, values = player_rows(problem, repetitions)
    inner_letter, hessian_letter, outer_letter = split
    share = bool(shared) and inner_letter == "l" and hessian_letter == "l"
    unused = np.zeros((len(own), 2, 5))

    def pairs(point_other: np.ndarray) -> np.ndarray:
        return np.stack([own, point_other], axis=1)                                  # (M, 2, 5)

    def data(point_other: np.ndarray, size: int, player: int, sample=None):
        sample = draw_batch(own, point_other, size, length, rng) if sample is None else sample
        return sample, game_data(xp, game, problem.critic, values, own, point_other, length, player, sample)

    inner_batches = []
    if inner_letter == "e":
        iterates = lola_look_ahead(game, own, other, lr=lr, steps=problem.steps)
    else:
        iterates = [other]
        for k in range(problem.steps):
            sample, arrays = data(iterates[k], n_inner, OTHER)
            inner_batches.append(sample if share else None)
            iterates.append(iterates[k] + lr * gradient(pairs(iterates[k]), unused, arrays, {})[:, OTHER])

    if outer_letter == "e":
        outer = game.batch_values_and_gradients(own, iterates[-1])[1][:, OWN]
    else:
        outer = gradient(pairs(iterates[-1]), unused, data(iterates[-1], n_outer, OWN)[1], {})
    u, v = outer[:, OWN], outer[:, OTHER]
    for k in range(problem.steps - 1, -1, -1):
        directions = np.stack([np.zeros_like(v), v], axis=1)
        if hessian_letter == "e":
            tangents = game.batch_tangents(own, iterates[k], directions[:, None])[:, 0, OTHER]
        else:
            arrays = data(iterates[k], n_hessian, OTHER, inner_batches[k] if share else None)[1]
            tangents = products(pairs(iterates[k]), unused, arrays, {}, directions)[0]
        u, v = u + lr * tangents[:, OWN], v + lr * tangents[:, OTHER]
    return np.stack([u[:repetitions], u[repetitions:]], axis=1)


@functools.lru_cache(maxsize=256)
def check_game_surrogate(surrogate: Callable[..., Any], framework: str, options: tuple, name: str) -> None:
    """Run the surrogate once on 2 games of 3 steps: a one-line `ValueError("surrogate: ...")`
    unless it returns a 0-d float array of `framework` with a finite gradient."""
    xp = load_backend(framework)
    game = IteratedPrisonersDilemma(gamma=0.9)
    own, other = np.zeros((1, 5)), np.full((1, 5), 0.5)
    sample = draw_batch(own, other, 2, 3, np.random.default_rng(0))
    arrays = game_data(xp, game, "exact", None, own, other, 3, OTHER, sample)
    objective = game_objective(surrogate, options, framework, 0.9)
    pair = np.stack([own, other], axis=1)
    check_objective(xp, objective, name, framework,
                    (xp.asarray(pair[0]), xp.asarray(np.zeros((2, 5))), {key: array[0] for key, array in arrays.items()},
                     {}),
                    (pair, np.zeros((1, 2, 5)), arrays, {}), "a test batch of games")


def _check_parameters(parameters) -> None:
    """The split of an IPD surrogate estimator, before any cell runs."""
    if parameters["split"] not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {parameters['split']!r}")


# the estimator parameters mgbench adds to every IPD surrogate (those of lola_dice); no σ_in (no bound speaks of the IPD)
DRIVER = SurrogateDriver(
    parameters={"batch": 128, "split": "lll", "n_inner": None, "n_hessian": None, "n_outer": None, "shared": False},
    check=check_game_surrogate, run=surrogate_lola_estimate, check_parameters=_check_parameters)
