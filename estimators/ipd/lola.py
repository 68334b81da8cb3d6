"""DiCE-LOLA meta-gradient estimators on the Iterated Prisoner's Dilemma, in closed form.

Player 1's LOLA meta-gradient g₁ = ∇_{θ₁} V₁(θ₁, y_K(θ₁)), y_{k+1} = y_k + α ∇_y V₂(θ₁, y_k),
is accumulated in reverse like the tabular split (`estimators.tabular.split`), with Liu et al.'s
three parts, each exact (`e`) or sampled with DiCE (`l`):

  inner   ĝ_k ≈ ∇_y V₂(θ₁, y_k)            (batch `n_inner` at (θ₁, y_k); their `comp`)
  Hessian (t₁, t₂) ≈ ∂_{(θ₁, y)} (∇_y V₂ · v) at (θ₁, y_k)  (batch `n_hessian`; their `hessian`)
  outer   (u, v) ≈ (∇_{θ₁} V₁, ∇_y V₁) at (θ₁, y_K)      (batch `n_outer`)
  backward, k = K−1..0:  u ← u + α t₁;  v ← v + α t₂;  g₁ = u.

Player 2's estimate is player 1's with the roles exchanged (the game is symmetric:
V₂(θ₁, θ₂) = V₁(θ₂, θ₁)), so both players are one stack of 2R rows, each with its own
batches (as in Liu et al.'s code, where each agent rolls out its own games).

DiCE surrogate of player p on N games with both players' log-probabilities l_k = l¹_k + l²_k
(scores Z_k = (z¹_k, z²_k), z^i_k = (1[a^i_k = C] − σ(θ_i[s^i_k])) e_{s^i_k}), with the
off-policy form of their `off_policy_dice_objective` (ρ ≡ 1 on-policy):

  L = (1/N) Σ_n Σ_t [γᵗ r_t exp(Σ_{k≤t} (l_k − l^μ_k)) + (1 − exp(l_t − l^μ_t)) γᵗ b_t],

whose derivatives at the sampling point are, with β_t = γᵗ r_t ρ_{0:t}, β'_t = γᵗ b_t ρ_t,
ρ_{0:t} = Π_{k≤t} π/μ (both players' actions), ρ_t the step ratio, G_t = Σ_{k≤t} Z_k:

  ∇L      = (1/N) Σ_k ω_k Z_k,                          ω_k = Σ_{t≥k} β_t − β'_k
  ∇²L w   = (1/N) Σ_k [ω_k h_k w + u_k(w) Z_k],          u_k(w) = Σ_{t≥k} β_t (G_t·w) − β'_k (Z_k·w)

with h_k w = −σ(1−σ) w on the visited state of each player (∇² log π). Everything is a
bincount over (row, state): O(N·T) per row, vectorized over rows. Reference: Foerster
et al. (2018) DiCE and LOLA-DiCE; Liu et al. (2022), arXiv 2112.15400, released code
`lola/lola_dice_ablation.py`, `lola/lola_dice_off_policy*.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np

from estimators.problem import check_kernel, use_compiled
from estimators.ipd.problem import LolaProblem
from estimators.problem import positive_int
from estimators.registry import register
from estimators.scores import reverse_trace
from mdps import GameTrajectories, IteratedPrisonersDilemma, sample_games
from mdps.ipd import OPPONENT_VIEW, REWARDS, lola_look_ahead
from mdps.policy import sigmoid

SPLITS: tuple[str, ...] = tuple("".join(letters) for letters in product("el", repeat=3))
OWN, OTHER = 0, 1


# ---------------------------------------------------------------------------- batches
@dataclass(frozen=True, eq=False)
class GameBatch:
    """N games for each of M rows (own θ, other θ), with the behaviour log-probabilities.

    Attributes:
      games: `GameTrajectories` (R = M rows), the row's own player as player 1.
      behaviour_log_probs: `(M, N, T)` l^μ_t = log μ¹(a¹_t) + log μ²(a²_t) of the policies
        the games were drawn with (equal to the current ones for a fresh batch).
    """

    games: GameTrajectories
    behaviour_log_probs: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(M, N, T)."""
        return self.games.shape


@dataclass(frozen=True, eq=False)
class FreshGames:
    """N games per row at the pair (own, other) `(M, 5)`, kept as the uniforms that draw them
    (`(T, 2, M, N)`, the stream `draw_batch` consumes): the compiled surrogate at that same
    pair rolls them out in the pass that takes its sums (`game_kernels.fresh_surrogate_sums`),
    so a batch used where it was drawn is never stored. Used again (a shared inner/Hessian
    batch) it is rolled out again from the same uniforms: the same games."""

    uniforms: np.ndarray
    own: np.ndarray
    other: np.ndarray

    @property
    def shape(self) -> tuple[int, int, int]:
        """(M, N, T)."""
        length, _, n_rows, n_games = self.uniforms.shape
        return n_rows, n_games, length


def draw_fresh(own: np.ndarray, other: np.ndarray, n_games: int, length: int, rng: np.random.Generator) -> FreshGames:
    """The uniforms of N fresh games per row at (own, other) `(M, 5)` (the draws of `draw_batch`)."""
    own, other = np.atleast_2d(np.asarray(own, float)), np.atleast_2d(np.asarray(other, float))
    n_games, length = positive_int("n_games", n_games), positive_int("length", length)
    return FreshGames(rng.random((length, 2, len(own), n_games)), own, other)


def log_policy_table(thetas: np.ndarray) -> np.ndarray:
    """`(M, 5, 2)` log π(C | s), log π(D | s) = log σ(θ[s]), log σ(−θ[s]) for logits `(M, 5)`."""
    logits = np.asarray(thetas, float)
    return -np.logaddexp(0.0, -np.stack([logits, -logits], axis=-1))


def log_probabilities(games: GameTrajectories, own: np.ndarray, other: np.ndarray) -> np.ndarray:
    """`(M, N, T)` log π¹(a¹_t|s_t) + log π²(a²_t|s²_t) for logits own, other `(M, 5)` (σ = P(C))."""
    flat = np.arange(len(own))[:, None, None] * 10
    total = np.zeros(games.shape)
    for player, thetas in ((0, own), (1, other)):
        table = log_policy_table(thetas)
        states = games.states if player == 0 else OPPONENT_VIEW[games.states]
        total += table.reshape(-1)[flat + 2 * states + games.actions[player]]
    return total


def draw_batch(own: np.ndarray, other: np.ndarray, n_games: int, length: int, rng: np.random.Generator,
               kernel: str = "numpy") -> GameBatch:
    """N fresh games per row at (own, other) `(M, 5)`; `kernel` `compiled` rolls them out in
    `game_kernels.game_rollouts` from the same uniforms (same games, same log-probabilities)."""
    if not use_compiled(kernel):
        games = sample_games(own, other, n_games, length, rng)
        return GameBatch(games, log_probabilities(games, own, other))
    from estimators.ipd import kernels as game_kernels   # imports numba (once per process)

    fresh = draw_fresh(own, other, n_games, length, rng)      # the stream of sample_games' T draws of (2, M, N)
    own, other = fresh.own, fresh.other
    states, actions, rewards, log_probs = game_kernels.game_rollouts(
        fresh.uniforms, sigmoid(own), sigmoid(other), log_policy_table(own), log_policy_table(other), REWARDS,
        OPPONENT_VIEW)
    return GameBatch(GameTrajectories(states, actions, rewards), log_probs)


def value_residual_sums(own: np.ndarray, other: np.ndarray, values: np.ndarray, n_games: int, length: int,
                        rng: np.random.Generator, kernel: str = "numpy") -> np.ndarray:
    """Σ_{n,t} (r¹_t − v[s_t]) e_{s_t} `(M, 5)` of each row's own player on N fresh games at
    (own, other) `(M, 5)`, values v `(M, 5)`: the value regression mean_{n,t} (r_t − v[s_t])²
    has gradient −2/(N·T) times it. The draws of `draw_batch`; `kernel` `compiled` rolls the
    games out in the pass that sums (`game_kernels.fresh_value_residual_sums`, the same numbers)."""
    values = np.ascontiguousarray(values, float)
    if not use_compiled(kernel):
        games = draw_batch(own, other, n_games, length, rng).games
        rows = np.arange(len(games.states))[:, None, None]
        residuals = games.rewards[0] - values[rows, games.states]
        flat = (rows * 5 + games.states).ravel()
        return np.bincount(flat, weights=residuals.ravel(), minlength=len(values) * 5).reshape(len(values), 5)
    from estimators.ipd import kernels as game_kernels   # imports numba (once per process)

    fresh = draw_fresh(own, other, n_games, length, rng)
    return game_kernels.fresh_value_residual_sums(fresh.uniforms, sigmoid(fresh.own), sigmoid(fresh.other), REWARDS,
                                                  values, OPPONENT_VIEW)


def draw_buffer(own: np.ndarray, other: np.ndarray, n_games: int, size: int, length: int, noise: float,
                rng: np.random.Generator, kernel: str = "numpy") -> GameBatch:
    """A buffer of the last `size` games: the fresh `n_games` at (own, other), then size/n_games − 1
    older chunks of n_games, each drawn at a behaviour pair (own + σε, other + σε'), ε ~ N(0, I)
    fresh per chunk and row (mgbench's model of the policies of earlier iterations)."""
    if size % n_games:
        raise ValueError(f"buffer: expected a multiple of the inner batch size {n_games}, got {size}")
    chunks = size // n_games - 1
    fresh = draw_batch(own, other, n_games, length, rng, kernel)
    if chunks == 0:
        return fresh
    n_rows = len(own)
    shifts = noise * rng.standard_normal((2, n_rows, chunks, 5))
    old_own = (own[:, None] + shifts[0]).reshape(-1, 5)
    old_other = (other[:, None] + shifts[1]).reshape(-1, 5)
    old = draw_batch(old_own, old_other, n_games, length, rng, kernel)

    def combine(new: np.ndarray, older: np.ndarray) -> np.ndarray:     # (…, M, N, T) + (…, M·C, N, T)
        lead = new.shape[:-3]
        older = older.reshape(*lead, n_rows, chunks * n_games, length)
        return np.concatenate([new, older], axis=-2)

    games = GameTrajectories(combine(fresh.games.states, old.games.states),
                             combine(fresh.games.actions, old.games.actions),
                             combine(fresh.games.rewards, old.games.rewards))
    return GameBatch(games, combine(fresh.behaviour_log_probs, old.behaviour_log_probs))


def baseline_table(game: IteratedPrisonersDilemma, critic: str, own: np.ndarray, other: np.ndarray, length: int,
                   player: int, values: np.ndarray | None = None) -> np.ndarray:
    """b by (row, step, state) of `player` (OWN or OTHER of each row) at the pair (own, other)
    `(M, 5)`: `(M, L, 5)`, L = T when b depends on the step, else 1; states in player 1's view.

    `none`: 0. `exact`: the value of the T-step game with T − t steps to go at (own, other).
    `learned`: `values[:, player]` `(M, 2, 5)` at the player's own state when given (e.g.
    values trained along LOLA training), else its fixed point E[r_t | s_t] at (own, other).
    """
    if critic == "none":
        return np.zeros((len(own), 1, 5))
    if critic == "learned" and values is not None:
        view = np.arange(5) if player == OWN else OPPONENT_VIEW
        return np.asarray(values, float)[:, player][:, None, view]
    if critic == "learned":
        return game.batch_decision_values(own, other, 1)[:, player, 1][:, None]          # (M, 1, 5) E[r | s]
    if critic != "exact":
        raise ValueError(f"critic: expected 'none', 'exact' or 'learned', got {critic!r}")
    to_go = game.batch_decision_values(own, other, length)[:, player]                   # (M, T+1, 5)
    return to_go[:, length - np.arange(length)]


def critic_baselines(table: np.ndarray, games: GameTrajectories) -> np.ndarray:
    """b_t `(M, N, T)` of the games from a `baseline_table` `(M, L, 5)`."""
    rows = np.arange(games.shape[0])[:, None, None]
    times = np.arange(games.shape[2]) if table.shape[1] > 1 else 0
    return table[rows, times, games.states]


class GameBuffer:
    """A persistent buffer of the last `size` games of each of S seeds (Liu et al.'s
    `off_policy_Buffer`, shared by both players' objectives). Rows 0..S−1 of an estimate are
    player 1's view, rows S..2S−1 player 2's: each game is stored in both views as it is
    pushed, so a read is a view of the buffer, not a copy."""

    def __init__(self, n_seeds: int, size: int, length: int):
        self.size, self.n_seeds, self.filled, self.pointer = int(size), int(n_seeds), 0, 0
        rows = 2 * self.n_seeds
        self.states = np.zeros((rows, size, length), dtype=np.intp)
        self.actions = np.zeros((2, rows, size, length), dtype=np.intp)
        self.rewards = np.zeros((2, rows, size, length))
        self.log_probs = np.zeros((rows, size, length))

    def push(self, batch: GameBatch) -> None:
        """Add the games of 2S rows (player 1's rows as they are, player 2's swapped back), or of S rows."""
        n_seeds = self.n_seeds
        games = batch.games
        halves = [(GameTrajectories(games.states[:n_seeds], games.actions[:, :n_seeds], games.rewards[:, :n_seeds]),
                   batch.behaviour_log_probs[:n_seeds])]
        if games.shape[0] == 2 * n_seeds:
            back = GameTrajectories(games.states[n_seeds:], games.actions[:, n_seeds:],
                                    games.rewards[:, n_seeds:]).swapped()
            halves.append((back, batch.behaviour_log_probs[n_seeds:]))
        for first, log_probs in halves:
            count = first.shape[1]
            if count > self.size:
                first = GameTrajectories(first.states[:, -self.size:], first.actions[:, :, -self.size:],
                                         first.rewards[:, :, -self.size:])
                log_probs, count = log_probs[:, -self.size:], self.size
            slots = (self.pointer + np.arange(count)) % self.size
            for rows, view in ((slice(0, n_seeds), first), (slice(n_seeds, 2 * n_seeds), first.swapped())):
                self.states[rows, slots], self.actions[:, rows, slots] = view.states, view.actions
                self.rewards[:, rows, slots], self.log_probs[rows, slots] = view.rewards, log_probs
            self.pointer = int((self.pointer + count) % self.size)
            self.filled = min(self.filled + count, self.size)

    def read(self) -> GameBatch:
        """The stored games for 2S rows: player 1's view, then player 2's."""
        keep = slice(0, self.filled)
        games = GameTrajectories(self.states[:, keep], self.actions[:, :, keep], self.rewards[:, :, keep])
        return GameBatch(games, self.log_probs[:, keep])


# ---------------------------------------------------------------------------- the surrogate
class GameSurrogate:
    """Player `player`'s DiCE surrogate on a batch, at the pair (own, other): ∇L and ∇²L w.

    Args:
      batch: the `GameBatch` (rows M).
      own, other: `(M, 5)` logits where the derivatives are taken (the target policies).
      player: OWN (0) or OTHER (1): whose rewards.
      gamma: γ.
      baselines: `(M, L, 5)` b by (row, step, state) (`baseline_table`; zeros for no baseline).
    """

    def __init__(self, batch: GameBatch, own: np.ndarray, other: np.ndarray, player: int, gamma: float,
                 baselines: np.ndarray):
        games = batch.games
        baselines = critic_baselines(baselines, games)
        self.shape = games.shape
        n_rows, n_games, length = games.shape
        self.states = (games.states, OPPONENT_VIEW[games.states])
        rows = np.arange(n_rows)[:, None, None]
        self.cooperate = (sigmoid(own), sigmoid(other))                           # (M, 5) each
        self.scores = tuple((games.actions[i] == 0) - self.cooperate[i][rows, self.states[i]] for i in (0, 1))
        step_log_ratios = log_probabilities(games, own, other) - batch.behaviour_log_probs
        discounts = gamma ** np.arange(length)
        step_ratios = np.exp(step_log_ratios)                                       # ρ_t
        self.reward_weights = discounts * games.rewards[player] * np.cumprod(step_ratios, axis=-1)   # ρ_{0:t}
        self.baseline_weights = discounts * baselines * step_ratios
        self.step_weights = reverse_trace(self.reward_weights, 1.0) - self.baseline_weights      # ω (M, N, T)
        self.flat = tuple(rows * 5 + states for states in self.states)

    def _scatter(self, player: int, weights: np.ndarray) -> np.ndarray:
        """(1/N) Σ_{n,t} w_t e_{s^i_t}, shape `(M, 5)`."""
        n_rows, n_games, _ = self.shape
        return np.bincount(self.flat[player].ravel(), weights=weights.ravel(),
                           minlength=n_rows * 5).reshape(n_rows, 5) / n_games

    def gradient(self) -> np.ndarray:
        """∇L `(M, 2, 5)`: (own, other) parts."""
        return np.stack([self._scatter(i, self.step_weights * self.scores[i]) for i in (0, 1)], axis=1)

    def hessian_vector_products(self, directions: np.ndarray) -> np.ndarray:
        """∇²L w `(D, M, 2, 5)` for D directions `(D, M, 2, 5)`."""
        return np.stack([self.hessian_vector_product(w) for w in directions])

    def hessian_vector_product(self, directions: np.ndarray) -> np.ndarray:
        """∇²L w `(M, 2, 5)` for w = (w_own, w_other) `(M, 2, 5)`."""
        rows = np.arange(self.shape[0])[:, None, None]
        dots = sum(self.scores[i] * directions[:, i][rows, self.states[i]] for i in (0, 1))     # Z_t·w
        outer = reverse_trace(self.reward_weights * np.cumsum(dots, axis=-1), 1.0) - self.baseline_weights * dots
        parts = []
        for i in (0, 1):
            curvature = -self._scatter(i, self.step_weights) * self.cooperate[i] * (1 - self.cooperate[i])
            parts.append(self._scatter(i, outer * self.scores[i]) + curvature * directions[:, i])
        return np.stack(parts, axis=1)


class CompiledGameSurrogate:
    """`GameSurrogate` computed by `game_kernels.surrogate_sums` in one pass per call, without
    `(M, N, T)` arrays; the same arguments, methods and numbers (module `game_kernels`). A
    `FreshGames` batch is rolled out in the same pass (`game_kernels.fresh_surrogate_sums`)."""

    def __init__(self, batch: GameBatch | FreshGames, own: np.ndarray, other: np.ndarray, player: int, gamma: float,
                 baselines: np.ndarray):
        self.shape = batch.shape
        self.cooperate = (sigmoid(own), sigmoid(other))
        discounts = gamma ** np.arange(self.shape[2])
        baselines = np.ascontiguousarray(baselines, float)
        if isinstance(batch, FreshGames):
            if not (np.array_equal(batch.own, own) and np.array_equal(batch.other, other)):
                raise ValueError("batch: fresh games are used at the pair they were drawn at (on-policy)")
            self.fresh = True
            self.arguments = (batch.uniforms, *self.cooperate, REWARDS, int(player), baselines, discounts)
        else:
            games = batch.games
            self.fresh = False
            self.arguments = (games.states, games.actions, games.rewards[player], batch.behaviour_log_probs,
                              baselines, log_policy_table(own), log_policy_table(other), *self.cooperate, discounts)

    def _sums(self, directions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from estimators.ipd import kernels as game_kernels   # imports numba (once per process)

        kernel = game_kernels.fresh_surrogate_sums if self.fresh else game_kernels.surrogate_sums
        return kernel(*self.arguments, np.ascontiguousarray(directions, float), OPPONENT_VIEW)

    def gradient(self) -> np.ndarray:
        """∇L `(M, 2, 5)`: (own, other) parts."""
        return self._sums(np.zeros((0, self.shape[0], 2, 5)))[0] / self.shape[1]

    def hessian_vector_products(self, directions: np.ndarray) -> np.ndarray:
        """∇²L w `(D, M, 2, 5)` for D directions `(D, M, 2, 5)`."""
        n_games = self.shape[1]
        _, weight_sums, products = self._sums(directions)
        parts = []
        for i in (0, 1):
            curvature = -(weight_sums[:, i] / n_games) * self.cooperate[i] * (1 - self.cooperate[i])
            parts.append(products[:, :, i] / n_games + curvature * directions[:, :, i])
        return np.stack(parts, axis=2)


# ---------------------------------------------------------------------------- the split
@dataclass(frozen=True)
class OffPolicy:
    """Liu et al.'s off-policy DiCE: a buffer of the last `size` games, for the inner gradient
    and/or the Hessian (their `comp_on_policy` / `hessian_on_policy` ablations turn one off).

    Without `history` (a sweep at one point) the buffer is the fresh n_inner games and
    size/n_inner − 1 older chunks drawn at behaviour pairs (θ + σε, y_k + σε'), σ =
    `behaviour_noise`, ε ~ N(0, I) per chunk and row; with a `GameBuffer` (LOLA training)
    the fresh games are pushed into it and the whole buffer is read.
    """

    size: int = 1024
    inner: bool = True
    hessian: bool = True
    behaviour_noise: float = 0.2
    history: GameBuffer | None = None


def stacked_lola_estimates(game: IteratedPrisonersDilemma, own: np.ndarray, other: np.ndarray,
                           rng: np.random.Generator, *, steps: int, lr: float, length: int, critic: str = "learned",
                           critic_values: np.ndarray | None = None, batch: int = 128, split: str = "lll",
                           n_inner: int | None = None, n_hessian: int | None = None, n_outer: int | None = None,
                           shared: bool = False, off_policy: OffPolicy | None = None,
                           with_exact_outer: bool = False,
                           kernel: str = "compiled") -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """One estimate of "own"'s LOLA meta-gradient per row, `(M, 5)`, for M pairs (own, other) `(M, 5)`.

    Forward, k = 0..K−1: y_{k+1} = y_k + α ĝ_k (exact, or DiCE on the inner batch at (own, y_k)
    with the other's rewards). Outer at (own, y_K): exact, or DiCE with own's rewards.
    Backward, k = K−1..0: (t₁, t₂) = the exact tangent of ∇V_other along (0, v), or the DiCE
    Hessian-vector product on the Hessian batch at (own, y_k) (the inner batch of step k when
    `shared`); u += α t₁, v += α t₂. Random draws, in order: inner batches 0..K−1, the outer
    batch, the Hessian batches K−1..0.

    Args:
      game: the IPD (its γ; its horizon only for the exact parts).
      own, other: `(M, 5)` logits of the row's player and of its opponent.
      rng: the only source of randomness.
      steps, lr: K and α of the look-ahead.
      length: T of every rollout.
      critic: `none`, `exact` or `learned` (see `baseline_table`).
      critic_values: `(M, 2, 5)` learned values (row's own player, opponent), or None.
      batch, n_inner, n_hessian, n_outer: batch sizes (Liu et al.'s comp / hessian / outer).
      split: inner / Hessian / outer letters, e exact or l sampled.
      shared: the Hessian batch of step k is its inner batch (when both are sampled and both
        on- or both off-policy).
      off_policy: an `OffPolicy` buffer for the sampled inner gradient and/or Hessian.
      with_exact_outer: also return the estimate with the same inner and Hessian samples but
        the exact outer gradient (Liu et al.'s `grad_outer_exact`, "outer step made exact").
      kernel: `compiled` (the rollouts and surrogate sums in `game_kernels`, numba) or `numpy`
        (the reference): the same draws and the same numbers (module `game_kernels`).
    Returns:
      `(M, 5)`, or two `(M, 5)` arrays with `with_exact_outer`.
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected three letters of e (exact) and l (sampled), one of {SPLITS}, got {split!r}")
    n_inner, n_hessian, n_outer = (positive_int(name, batch if size is None else size) for name, size in
                                   (("n_inner", n_inner), ("n_hessian", n_hessian), ("n_outer", n_outer)))
    inner_letter, hessian_letter, outer_letter = split
    own, other = np.asarray(own, float), np.asarray(other, float)
    inner_off = off_policy is not None and off_policy.inner and inner_letter == "l"
    hessian_off = off_policy is not None and off_policy.hessian and hessian_letter == "l"
    share = bool(shared) and inner_letter == "l" and hessian_letter == "l" and inner_off == hessian_off

    compiled = use_compiled(check_kernel(kernel))
    kernel = "compiled" if compiled else "numpy"
    surrogate_type = CompiledGameSurrogate if compiled else GameSurrogate

    def draw(point_other: np.ndarray, size: int, off: bool) -> GameBatch | FreshGames:
        if not off:       # used at the pair it is drawn at: the compiled path never stores its games
            return draw_fresh(own, point_other, size, length, rng) if compiled else draw_batch(own, point_other,
                                                                                              size, length, rng)
        if off_policy.history is None:
            return draw_buffer(own, point_other, n_inner, off_policy.size, length, off_policy.behaviour_noise, rng,
                               kernel)
        off_policy.history.push(draw_batch(own, point_other, n_inner, length, rng, kernel))
        return off_policy.history.read()

    def surrogate(sample: GameBatch | FreshGames, point_other: np.ndarray,
                  player: int) -> GameSurrogate | CompiledGameSurrogate:
        baselines = baseline_table(game, critic, own, point_other, length, player, critic_values)
        return surrogate_type(sample, own, point_other, player, game.gamma, baselines)

    inner_batches: list[GameBatch | FreshGames | None] = []
    if inner_letter == "e":
        iterates = lola_look_ahead(game, own, other, lr=lr, steps=steps)
    else:
        iterates = [other]
        for k in range(steps):
            inner = draw(iterates[k], n_inner, inner_off)
            gradient = surrogate(inner, iterates[k], OTHER).gradient()[:, OTHER]
            inner_batches.append(inner if share else None)
            iterates.append(iterates[k] + lr * gradient)

    exact_outer = game.batch_values_and_gradients(own, iterates[-1])[1][:, OWN]
    if outer_letter == "e":
        gradients = exact_outer
    else:
        gradients = surrogate(draw(iterates[-1], n_outer, False), iterates[-1], OWN).gradient()
    accumulators = [(gradients[:, OWN], gradients[:, OTHER])]                   # (u, v)
    if with_exact_outer:
        accumulators.append((exact_outer[:, OWN], exact_outer[:, OTHER]))

    for k in range(steps - 1, -1, -1):
        if hessian_letter == "e":
            tangents = [game.batch_tangents(own, iterates[k], np.stack([np.zeros_like(v), v], axis=1)[:, None])[:, 0, OTHER]
                        for _, v in accumulators]
        else:
            sample = inner_batches[k] if share else draw(iterates[k], n_hessian, hessian_off)
            directions = np.stack([np.stack([np.zeros_like(v), v], axis=1) for _, v in accumulators])
            tangents = list(surrogate(sample, iterates[k], OTHER).hessian_vector_products(directions))
        accumulators = [(u + lr * t[:, OWN], v + lr * t[:, OTHER]) for (u, v), t in zip(accumulators, tangents)]
    if with_exact_outer:
        return accumulators[0][0], accumulators[1][0]
    return accumulators[0][0]


def player_rows(problem: LolaProblem, repetitions: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The 2R rows of a LOLA estimate: own `(2R, 5)` = (θ₁, θ₂) R times each, other `(2R, 5)` = (θ₂, θ₁)
    (player 2 as "own": the game is symmetric), and the stored critic values `(2R, 2, 5)` swapped
    alike (None without `critic_values`)."""
    theta1, theta2 = np.asarray(problem.theta1, float), np.asarray(problem.theta2, float)
    own = np.repeat(np.stack([theta1, theta2]), repetitions, axis=0)
    other = np.repeat(np.stack([theta2, theta1]), repetitions, axis=0)
    values = None
    if problem.critic_values is not None:
        stored = np.asarray(problem.critic_values, float)
        values = np.repeat(np.stack([stored, stored[::-1]]), repetitions, axis=0)
    return own, other, values


def lola_split_estimate(problem: LolaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 128,
                        split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
                        n_outer: int | None = None, shared: bool = False,
                        off_policy: OffPolicy | None = None) -> np.ndarray:
    """R independent estimates of both players' LOLA meta-gradients, `(R, 2, 5)`.

    `stacked_lola_estimates` on 2R rows: (θ₁, θ₂) R times (player 1), then (θ₂, θ₁) R times
    (player 2 as "own"; the game is symmetric), each row with its own batches.
    """
    if not isinstance(problem, LolaProblem):
        raise TypeError(f"problem: expected a LolaProblem, got {type(problem).__name__}")
    repetitions = positive_int("repetitions", repetitions)
    own, other, values = player_rows(problem, repetitions)
    meta = stacked_lola_estimates(problem.game, own, other, rng, steps=problem.steps, lr=float(problem.lr),
                                  length=problem.length, critic=problem.critic, critic_values=values, batch=batch,
                                  split=split, n_inner=n_inner, n_hessian=n_hessian, n_outer=n_outer,
                                  shared=shared, off_policy=off_policy, kernel=problem.kernel)
    return np.stack([meta[:repetitions], meta[repetitions:]], axis=1)


# ---------------------------------------------------------------------------- registered
_SPLIT_HELP = "split = inner/Hessian/outer letters, e exact or l sampled (Liu et al.)"


@register("lola_dice", problem="ipd", description=f"LOLA-DiCE with the problem's critic as baseline; {_SPLIT_HELP}")
def lola_dice(problem: LolaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 128,
              split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
              n_outer: int | None = None, shared: bool = False) -> np.ndarray:
    """On-policy DiCE-LOLA (Liu et al.'s `lola_dice_ablation.py`; `shared` is `lola_dice_original.py`). `(R, 2, 5)`."""
    return lola_split_estimate(problem, repetitions, rng, batch=batch, split=split, n_inner=n_inner,
                               n_hessian=n_hessian, n_outer=n_outer, shared=shared)


@register("lola_off_policy", problem="ipd",
          description="off-policy DiCE-LOLA: inner gradient and/or Hessian from a buffer of the last `buffer` "
                      "games, per-decision weights over both players' actions; " + _SPLIT_HELP)
def lola_off_policy(problem: LolaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 128,
                    split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
                    n_outer: int | None = None, shared: bool = True, buffer: int = 1024, off_inner: bool = True,
                    off_hessian: bool = True, behaviour_noise: float = 0.2) -> np.ndarray:
    """Liu et al.'s off-policy DiCE (`lola_dice_off_policy*.py`). `(R, 2, 5)`.

    Each sampled inner gradient (`off_inner`) and/or Hessian (`off_hessian`) of step k is the
    off-policy DiCE of a buffer of `buffer` games: the fresh n_inner games at (θ, y_k) and
    buffer/n_inner − 1 older chunks of n_inner games drawn at behaviour pairs shifted by
    N(0, behaviour_noise²) per logit (mgbench's stand-in for the policies of earlier outer
    iterations; `behaviour_noise = 0` makes every weight 1). Weights
    exp(Σ_{k≤t} (log π − log μ)) over both players' actions. `off_inner = False` is their
    `comp_on_policy`, `off_hessian = False` their `hessian_on_policy`. With `shared` (their
    single-objective version) one buffer serves both parts.
    """
    if not isinstance(buffer, (int, np.integer)) or isinstance(buffer, bool) or buffer < 1:
        raise ValueError(f"buffer: expected a positive integer, got {buffer!r}")
    if not np.isfinite(behaviour_noise) or behaviour_noise < 0:
        raise ValueError(f"behaviour_noise: expected a non-negative number, got {behaviour_noise!r}")
    settings = OffPolicy(int(buffer), bool(off_inner), bool(off_hessian), float(behaviour_noise))
    return lola_split_estimate(problem, repetitions, rng, batch=batch, split=split, n_inner=n_inner,
                               n_hessian=n_hessian, n_outer=n_outer, shared=shared, off_policy=settings)


@register("lola_exact", problem="ipd", description="the exact LOLA meta-gradients, R copies (split eee)")
def lola_exact(problem: LolaProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """`problem.exact_meta_gradient()` repeated R times, `(R, 2, 5)`; draws nothing from `rng`."""
    repetitions = positive_int("repetitions", repetitions)
    return np.broadcast_to(problem.exact_meta_gradient(), (repetitions, 2, 5)).copy()
