"""The Iterated Prisoner's Dilemma with memory-one policies: exact values, gradients,
second derivatives and LOLA meta-gradients (Foerster et al. 2018; Liu et al. 2022).

Each player has 5 logits θ; σ(θ[s]) is the probability of COOPERATING in state s, with
states, seen from the player's own side: 0 = start, then the previous joint action
(own, other) = 1 CC, 2 CD, 3 DC, 4 DD. Player 2 sees the joint state with CD and DC
swapped (`OPPONENT_VIEW`). Rewards per step (own, other): CC (−1, −1), CD (−3, 0),
DC (0, −3), DD (−2, −2).

The joint chain runs over the 4 outcomes o ∈ (CC, CD, DC, DD) of player 1's view. In
"decision state" i ∈ 0..4 (0 = start, 1 + o = after outcome o) the players cooperate
with probabilities a_i = σ(θ₁[i]), b_i = σ(θ₂[OPPONENT_VIEW[i]]), and the next outcome
has the law φ(a_i, b_i) = (ab, a(1−b), (1−a)b, (1−a)(1−b)). With q₀ = φ(a₀, b₀) and
P[o, :] = φ(a_{1+o}, b_{1+o}):

  V_p = Σ_{t<H} γᵗ q_tᵀ r_p,   q_{t+1} = Pᵀ q_t;   V_p = q₀ᵀ (I − γP)⁻¹ r_p for H = ∞.

Because V_p is linear in each law φ(a_i, b_i), every derivative is a contraction of
∂φ with a per-decision-state value vector C_p[i] (4,):
  ∂V_p/∂a_i = ∂_aφ(b_i)·C_p[i],  ∂V_p/∂b_i = ∂_bφ(a_i)·C_p[i],
  H = ∞:  C_p[0] = v_p,  C_p[1+o] = γ d_o v_p,   v_p = (I − γP)⁻¹ r_p, d = (I − γP)⁻ᵀ q₀;
  H < ∞:  C_p[0] = c_H,  C_p[1+o] = Σ_{t≤H−2} γ u_t[o] c_{H−1−t},
          c_0 = 0, c_{m+1} = r_p + γ P c_m (value with m steps to go), u_t = γᵗ q_t.
Second derivatives are forward-mode derivatives of C along directions (pushed through
the same solves or recursions), stacked over R parameter pairs and D directions.

The game is symmetric: V₂(θ₁, θ₂) = V₁(θ₂, θ₁) (tested), which `lola_meta_gradient` uses.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdps.policy import sigmoid

N_STATES = 5
OPPONENT_VIEW = np.array([0, 1, 3, 2, 4])        # the other player's index of each state
REWARDS = np.array([[-1.0, -3.0, 0.0, -2.0],      # player 1 on outcomes CC, CD, DC, DD (player 1's view)
                    [-1.0, 0.0, -3.0, -2.0]])     # player 2 on the same outcomes
_LAW_CROSS = np.array([1.0, -1.0, -1.0, 1.0])     # ∂²φ/∂a∂b


def outcome_law(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """φ(a, b) = (ab, a(1−b), (1−a)b, (1−a)(1−b)): law of (CC, CD, DC, DD), shape `(..., 4)`."""
    return np.stack([a * b, a * (1 - b), (1 - a) * b, (1 - a) * (1 - b)], axis=-1)


def _law_d_own(b: np.ndarray) -> np.ndarray:
    """∂φ/∂a, shape `(..., 4)`."""
    return np.stack([b, 1 - b, -b, b - 1], axis=-1)


def _law_d_other(a: np.ndarray) -> np.ndarray:
    """∂φ/∂b, shape `(..., 4)`."""
    return np.stack([a, -a, 1 - a, a - 1], axis=-1)


@dataclass(frozen=True)
class ChainSolution:
    """Exact quantities of R parameter pairs.

    Attributes:
      own: `(R, 5)` a_i = σ(θ₁[i]) (player 1 cooperates in decision state i).
      other: `(R, 5)` b_i = σ(θ₂[OPPONENT_VIEW[i]]).
      laws: `(R, 5, 4)` φ(a_i, b_i); row 0 is q₀, rows 1..4 are P.
      values: `(R, 2)` V₁, V₂.
      contractions: `(R, 2, 5, 4)` C_p[i].
      chain: solver state for the tangents (infinite: v `(R, 4, 2)`, d `(R, 4)`; finite:
        c `(R, H+1, 4, 2)`, u `(R, H, 4)`).
    """

    own: np.ndarray
    other: np.ndarray
    laws: np.ndarray
    values: np.ndarray
    contractions: np.ndarray
    chain: tuple


class IteratedPrisonersDilemma:
    """The two-player IPD with memory-one sigmoid policies (see the module docstring).

    Args:
      gamma: discount in [0, 1) (0.96 in Foerster et al. and Liu et al.).
      horizon: None (infinite, discounted) or a positive int H (Σ_{t<H}).
    """

    n_states = N_STATES

    def __init__(self, gamma: float = 0.96, horizon: int | None = None):
        if isinstance(gamma, bool) or not isinstance(gamma, (int, float, np.floating)) or not 0.0 <= float(gamma) < 1.0:
            raise ValueError(f"gamma: expected a number in [0, 1), got {gamma!r}")
        if horizon is not None and (isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer))
                                    or horizon < 1):
            raise ValueError(f"horizon: expected None or a positive integer, got {horizon!r}")
        self.gamma = float(gamma)
        self.horizon = None if horizon is None else int(horizon)

    def __repr__(self) -> str:
        return f"IteratedPrisonersDilemma(gamma={self.gamma}, horizon={self.horizon})"

    # ------------------------------------------------------------------ exact solution
    def solve_stack(self, theta1s: np.ndarray, theta2s: np.ndarray) -> ChainSolution:
        """Values and contraction vectors C of R pairs `(R, 5)`, `(R, 5)`."""
        theta1s, theta2s = _check_pairs(theta1s, theta2s)
        own, other = sigmoid(theta1s), sigmoid(theta2s[:, OPPONENT_VIEW])
        laws = outcome_law(own, other)                                            # (R, 5, 4)
        initial, transitions = laws[:, 0], laws[:, 1:]
        if self.horizon is None:
            system = np.eye(4) - self.gamma * transitions
            chain_values = np.linalg.solve(system, np.broadcast_to(REWARDS.T, (len(laws), 4, 2)))   # (R, 4, 2)
            visits = np.linalg.solve(np.swapaxes(system, 1, 2), initial[..., None])[..., 0]           # (R, 4)
            contractions = np.concatenate([
                np.swapaxes(chain_values, 1, 2)[:, :, None],                                         # C[0] = v
                self.gamma * visits[:, None, :, None] * np.swapaxes(chain_values, 1, 2)[:, :, None]], axis=2)
            chain = (chain_values, visits)
        else:
            to_go = self._values_to_go(transitions, self.horizon)                 # (R, H+1, 4, 2)
            discounted = self._discounted_laws(initial, transitions)              # (R, H, 4)
            horizon = self.horizon
            later = to_go[:, horizon - 1:0:-1]                                    # c_{H-1-t}, t = 0..H-2
            rows = self.gamma * np.einsum("rto,rtkp->rpok", discounted[:, :horizon - 1], later)
            contractions = np.concatenate([np.swapaxes(to_go[:, horizon], 1, 2)[:, :, None], rows], axis=2)
            chain = (to_go, discounted)
        values = np.einsum("ro,rpo->rp", initial, contractions[:, :, 0])
        return ChainSolution(own, other, laws, values, contractions, chain)

    def _values_to_go(self, transitions: np.ndarray, steps: int) -> np.ndarray:
        """c_m = Σ_{s<m} (γP)ˢ r for m = 0..steps, shape `(R, steps+1, 4, 2)`."""
        to_go = np.zeros((len(transitions), steps + 1, 4, 2))
        for m in range(steps):
            to_go[:, m + 1] = REWARDS.T + self.gamma * transitions @ to_go[:, m]
        return to_go

    def _discounted_laws(self, initial: np.ndarray, transitions: np.ndarray) -> np.ndarray:
        """u_t = γᵗ q_t for t = 0..H−1, shape `(R, H, 4)`."""
        discounted = np.zeros((len(initial), self.horizon, 4))
        discounted[:, 0] = initial
        for t in range(1, self.horizon):
            discounted[:, t] = self.gamma * np.einsum("ro,rok->rk", discounted[:, t - 1], transitions)
        return discounted

    def values(self, theta1: np.ndarray, theta2: np.ndarray) -> tuple[float, float]:
        """(V₁, V₂) at one pair of logits, each `(5,)`."""
        values = self.solve_stack(np.asarray(theta1)[None], np.asarray(theta2)[None]).values[0]
        return float(values[0]), float(values[1])

    def batch_values_and_gradients(self, theta1s: np.ndarray, theta2s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """V and ∇V of R pairs.

        Returns:
          `(R, 2)` values (V₁, V₂); `(R, 2, 2, 5)` gradients, [r, p, q] = ∇_{θ_q} V_p.
        """
        solution = self.solve_stack(theta1s, theta2s)
        return solution.values, _gradients(solution)

    def gradients(self, theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
        """`(2, 2, 5)`: [p, q] = ∇_{θ_q} V_p at one pair."""
        return self.batch_values_and_gradients(np.asarray(theta1)[None], np.asarray(theta2)[None])[1][0]

    # ------------------------------------------------------------------ second order
    def batch_tangents(self, theta1s: np.ndarray, theta2s: np.ndarray, directions: np.ndarray) -> np.ndarray:
        """Forward-mode derivatives of the gradients along D directions per pair.

        Args:
          theta1s, theta2s: `(R, 5)` each.
          directions: `(R, D, 2, 5)` tangents (δθ₁, δθ₂).
        Returns:
          `(R, D, 2, 2, 5)`: [r, j, p, q] = Σ_{q'} ∇_{θ_q}∇_{θ_q'} V_p · δθ_{q'} — e.g. along
          (0, v): [.., p, 0] = ∂_{θ₁}(∇_{θ₂}V_p · v) and [.., p, 1] = ∇²_{θ₂}V_p v.
        """
        solution = self.solve_stack(theta1s, theta2s)
        directions = np.asarray(directions, dtype=float)
        if directions.ndim != 4 or directions.shape[0] != len(solution.own) or directions.shape[2:] != (2, 5):
            raise ValueError(f"directions: expected shape ({len(solution.own)}, D, 2, 5), got {directions.shape}")
        own, other = solution.own[:, None], solution.other[:, None]                # (R, 1, 5)
        d_own = own * (1 - own) * directions[:, :, 0]                            # δa (R, D, 5)
        d_other = other * (1 - other) * directions[:, :, 1][..., OPPONENT_VIEW]   # δb
        d_laws = _law_d_own(other) * d_own[..., None] + _law_d_other(own) * d_other[..., None]   # (R, D, 5, 4)
        if self.horizon is None:
            d_contractions = self._tangents_infinite(solution, d_laws)
        else:
            d_contractions = self._tangents_finite(solution, d_laws)            # (R, D, 2, 5, 4)
        contractions = solution.contractions[:, None]                            # (R, 1, 2, 5, 4)
        cross = contractions @ _LAW_CROSS                                        # (R, 1, 2, 5)
        law_own, law_other = _law_d_own(other)[:, :, None], _law_d_other(own)[:, :, None]   # (R, 1, 1, 5, 4)
        grad_own = (law_own * contractions).sum(axis=-1)                         # ∂V/∂a (R, 1, 2, 5)
        grad_other = (law_other * contractions).sum(axis=-1)
        d_grad_own = (law_own * d_contractions).sum(axis=-1) + cross * d_other[:, :, None]
        d_grad_other = (law_other * d_contractions).sum(axis=-1) + cross * d_own[:, :, None]
        slope_own, slope_other = own * (1 - own), other * (1 - other)            # σ'
        tangent_1 = (d_grad_own * slope_own[:, :, None]
                     + grad_own * (slope_own * (1 - 2 * own))[:, :, None] * directions[:, :, None, 0])
        tangent_2 = (d_grad_other * slope_other[:, :, None]
                     + grad_other * (slope_other * (1 - 2 * other))[:, :, None]
                     * directions[:, :, None, 1][..., OPPONENT_VIEW])
        return np.stack([tangent_1, tangent_2[..., OPPONENT_VIEW]], axis=3)

    def _tangents_infinite(self, solution: ChainSolution, d_laws: np.ndarray) -> np.ndarray:
        """δv = M⁻¹ γ δP v,  δd = M⁻ᵀ (δq₀ + γ δPᵀ d);  δC[0] = δv, δC[1+o] = γ(δd_o v + d_o δv)."""
        chain_values, visits = solution.chain                                   # (R, 4, 2), (R, 4)
        system = np.eye(4) - self.gamma * solution.laws[:, 1:]                   # (R, 4, 4)
        n_directions = d_laws.shape[1]
        d_initial, d_transitions = d_laws[:, :, 0], d_laws[:, :, 1:]              # (R, D, 4), (R, D, 4, 4)
        rhs = self.gamma * d_transitions @ chain_values[:, None]                 # (R, D, 4, 2)
        d_values = np.linalg.solve(np.repeat(system[:, None], n_directions, 1), rhs)
        rhs_visits = d_initial + self.gamma * np.einsum("rdok,ro->rdk", d_transitions, visits)
        d_visits = np.linalg.solve(np.repeat(np.swapaxes(system, 1, 2)[:, None], n_directions, 1),
                                   rhs_visits[..., None])[..., 0]                # (R, D, 4)
        d_values_p = np.swapaxes(d_values, 2, 3)                                 # (R, D, 2, 4)
        values_p = np.swapaxes(chain_values, 1, 2)[:, None]                      # (R, 1, 2, 4)
        rows = self.gamma * (d_visits[:, :, None, :, None] * values_p[:, :, :, None]
                             + visits[:, None, None, :, None] * d_values_p[:, :, :, None])
        return np.concatenate([d_values_p[:, :, :, None], rows], axis=3)

    def _tangents_finite(self, solution: ChainSolution, d_laws: np.ndarray) -> np.ndarray:
        """Forward recursions δc_{m+1} = γ(δP c_m + P δc_m), δu_{t+1} = γ(δPᵀu_t + Pᵀδu_t)."""
        to_go, discounted = solution.chain                                      # (R, H+1, 4, 2), (R, H, 4)
        horizon, transitions = self.horizon, solution.laws[:, None, 1:]          # (R, 1, 4, 4)
        n_policies, n_directions = d_laws.shape[:2]
        d_initial, d_transitions = d_laws[:, :, 0], d_laws[:, :, 1:]
        d_to_go = np.zeros((n_policies, n_directions, horizon + 1, 4, 2))
        for m in range(horizon):
            d_to_go[:, :, m + 1] = self.gamma * (d_transitions @ to_go[:, None, m] + transitions @ d_to_go[:, :, m])
        d_discounted = np.zeros((n_policies, n_directions, horizon, 4))
        d_discounted[:, :, 0] = d_initial
        for t in range(1, horizon):
            d_discounted[:, :, t] = self.gamma * (
                np.einsum("rdok,ro->rdk", d_transitions, discounted[:, t - 1])
                + np.einsum("rdo,rok->rdk", d_discounted[:, :, t - 1], solution.laws[:, 1:]))
        later, d_later = to_go[:, horizon - 1:0:-1], d_to_go[:, :, horizon - 1:0:-1]
        rows = self.gamma * (np.einsum("rdto,rtkp->rdpok", d_discounted[:, :, :horizon - 1], later)
                             + np.einsum("rto,rdtkp->rdpok", discounted[:, :horizon - 1], d_later))
        first = np.swapaxes(d_to_go[:, :, horizon], 2, 3)[:, :, :, None]        # (R, D, 2, 1, 4)
        return np.concatenate([first, rows], axis=3)

    def hessians(self, theta1: np.ndarray, theta2: np.ndarray) -> np.ndarray:
        """`(2, 10, 10)`: ∇²V_p w.r.t. the stacked (θ₁, θ₂) at one pair."""
        basis = np.eye(10).reshape(10, 2, 5)
        tangents = self.batch_tangents(np.asarray(theta1)[None], np.asarray(theta2)[None], basis[None])[0]
        return np.transpose(tangents.reshape(10, 2, 10), (1, 2, 0))

    # ------------------------------------------------------------------ critics
    def batch_decision_values(self, theta1s: np.ndarray, theta2s: np.ndarray, steps: int | None) -> np.ndarray:
        """Values of every decision state (player 1's index) with m steps to go.

        Args:
          theta1s, theta2s: `(R, 5)` each.
          steps: M (values for m = 0..M) or None (the infinite-horizon values).
        Returns:
          `(R, 2, M + 1, 5)` [r, p, m, i] = φ(a_i, b_i)·c_m for player p (m = 0 gives 0), or
          `(R, 2, 1, 5)` with the infinite-horizon φ(a_i, b_i)·v_p.
        """
        theta1s, theta2s = _check_pairs(theta1s, theta2s)
        laws = outcome_law(sigmoid(theta1s), sigmoid(theta2s[:, OPPONENT_VIEW]))
        if steps is None:
            system = np.eye(4) - self.gamma * laws[:, 1:]
            chain_values = np.linalg.solve(system, np.broadcast_to(REWARDS.T, (len(laws), 4, 2)))
            return np.einsum("rio,rop->rpi", laws, chain_values)[:, :, None]
        to_go = self._values_to_go(laws[:, 1:], int(steps))
        return np.einsum("rio,rmop->rpmi", laws, to_go)


def _gradients(solution: ChainSolution) -> np.ndarray:
    """`(R, 2, 2, 5)` ∇_{θ_q} V_p from the contraction vectors."""
    own, other = solution.own[:, None], solution.other[:, None]                # (R, 1, 5)
    grad_own = (_law_d_own(other) * solution.contractions).sum(axis=-1) * own * (1 - own)
    grad_other = (_law_d_other(own) * solution.contractions).sum(axis=-1) * other * (1 - other)
    return np.stack([grad_own, grad_other[..., OPPONENT_VIEW]], axis=2)


def _check_pairs(theta1s: np.ndarray, theta2s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    theta1s, theta2s = np.asarray(theta1s, dtype=float), np.asarray(theta2s, dtype=float)
    for field, thetas in (("theta1", theta1s), ("theta2", theta2s)):
        if thetas.ndim != 2 or thetas.shape[1] != N_STATES:
            raise ValueError(f"{field}: expected shape (R, {N_STATES}), got {thetas.shape}")
    if theta1s.shape != theta2s.shape:
        raise ValueError(f"theta2: expected the shape of theta1 {theta1s.shape}, got {theta2s.shape}")
    return theta1s, theta2s


# ---------------------------------------------------------------------------- LOLA
def lola_look_ahead(game: IteratedPrisonersDilemma, own: np.ndarray, other: np.ndarray, *,
                    lr: float, steps: int) -> list[np.ndarray]:
    """The opponent's naive learning steps seen by player 1: y_{k+1} = y_k + α ∇_{θ₂}V₂(θ₁, y_k).

    Args:
      own: `(R, 5)` θ₁ (fixed during the look-ahead); other: `(R, 5)` y₀ = θ₂.
    Returns:
      `[y_0, ..., y_K]`, each `(R, 5)`.
    """
    iterates = [np.asarray(other, dtype=float)]
    for _ in range(steps):
        gradient = game.batch_values_and_gradients(own, iterates[-1])[1][:, 1, 1]
        iterates.append(iterates[-1] + lr * gradient)
    return iterates


def batch_lola_player_one(game: IteratedPrisonersDilemma, own: np.ndarray, other: np.ndarray, *,
                          lr: float, steps: int) -> np.ndarray:
    """Player 1's exact LOLA meta-gradient ∇_{θ₁} V₁(θ₁, y_K(θ₁)) for R pairs, `(R, 5)`.

    Reverse accumulation: u = ∇_{θ₁}V₁(θ₁, y_K), v = ∇_{θ₂}V₁(θ₁, y_K); for k = K−1..0,
    with (t₁, t₂) the tangent of ∇V₂ at (θ₁, y_k) along (0, v):
      u ← u + α t₁   (α ∂_{θ₁}(∇_{θ₂}V₂ · v), the LOLA cross term)
      v ← v + α t₂   (v + α ∇²_{θ₂}V₂ v, the Jacobian of the opponent's step).
    """
    _check_steps_and_lr(steps, lr)
    own = np.asarray(own, dtype=float)
    iterates = lola_look_ahead(game, own, other, lr=lr, steps=steps)
    gradients = game.batch_values_and_gradients(own, iterates[-1])[1]
    meta, vector = gradients[:, 0, 0], gradients[:, 0, 1]
    for iterate in reversed(iterates[:-1]):
        directions = np.stack([np.zeros_like(vector), vector], axis=1)[:, None]      # (R, 1, 2, 5)
        tangent = game.batch_tangents(own, iterate, directions)[:, 0, 1]           # ∇V₂ tangent (R, 2, 5)
        meta = meta + lr * tangent[:, 0]
        vector = vector + lr * tangent[:, 1]
    return meta


def lola_meta_gradient(game: IteratedPrisonersDilemma, theta1: np.ndarray, theta2: np.ndarray, *,
                       lr: float, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Both players' exact LOLA meta-gradients (g₁, g₂), each `(5,)`.

    g₁ = ∇_{θ₁} V₁(θ₁, θ₂^K(θ₁)), θ₂^{k+1} = θ₂^k + α ∇_{θ₂}V₂(θ₁, θ₂^k), θ₂⁰ = θ₂;
    g₂ symmetrically (K steps of player 1 at fixed θ₂). By the symmetry of the game,
    g₂(θ₁, θ₂) = g₁(θ₂, θ₁), so both are one stacked call.

    Args:
      game: the IPD.
      theta1, theta2: `(5,)` logits.
      lr: α, the opponent's look-ahead learning rate (0.3 in Liu et al.).
      steps: K >= 0 look-ahead steps (K = 0: the naive gradients ∇_{θ_p} V_p).
    """
    theta1, theta2 = np.asarray(theta1, dtype=float), np.asarray(theta2, dtype=float)
    meta = batch_lola_player_one(game, np.stack([theta1, theta2]), np.stack([theta2, theta1]), lr=lr, steps=steps)
    return meta[0], meta[1]


def _check_steps_and_lr(steps: int, lr: float) -> None:
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps: expected a non-negative integer, got {steps!r}")
    if not np.isfinite(lr):
        raise ValueError(f"lr: expected a finite number, got {lr!r}")


# ---------------------------------------------------------------------------- exact LOLA training
class Adam:
    """Adam (Kingma & Ba; PyTorch's defaults β = (0.9, 0.999), ε = 1e-8) for ascent on a stack of parameters."""

    def __init__(self, lr: float, shape: tuple[int, ...], betas=(0.9, 0.999), eps: float = 1e-8):
        self.lr, self.betas, self.eps, self.count = float(lr), betas, eps, 0
        self.first, self.second = np.zeros(shape), np.zeros(shape)

    def step(self, gradient: np.ndarray) -> np.ndarray:
        """The increment lr · m̂ / (√v̂ + ε) for the ascent direction `gradient`."""
        beta1, beta2 = self.betas
        self.count += 1
        self.first = beta1 * self.first + (1 - beta1) * gradient
        self.second = beta2 * self.second + (1 - beta2) * gradient**2
        first = self.first / (1 - beta1**self.count)
        second = self.second / (1 - beta2**self.count)
        return self.lr * first / (np.sqrt(second) + self.eps)


def exact_lola_training(game: IteratedPrisonersDilemma, updates: int, *, lr: float = 0.3, steps: int = 1,
                        outer_lr: float = 0.1) -> np.ndarray:
    """Both players ascending their exact LOLA meta-gradients with Adam from θ₁ = θ₂ = 0.

    Liu et al.'s training loop with every estimate exact (lr_in = α, K look-ahead steps,
    lr_out = `outer_lr`). Returns the `(updates + 1, 2, 5)` path of (θ₁, θ₂).
    """
    _check_steps_and_lr(steps, lr)
    if isinstance(updates, bool) or not isinstance(updates, (int, np.integer)) or updates < 0:
        raise ValueError(f"updates: expected a non-negative integer, got {updates!r}")
    path = np.zeros((int(updates) + 1, 2, 5))
    optimiser = Adam(outer_lr, (2, 5))
    for update in range(int(updates)):
        theta1, theta2 = path[update]
        path[update + 1] = path[update] + optimiser.step(np.stack(lola_meta_gradient(game, theta1, theta2, lr=lr,
                                                                                      steps=steps)))
    return path
