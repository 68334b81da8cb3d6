"""Per-trajectory closed forms of the tabular surrogate losses, vectorized over R x N x T.

A batch holds, for each of R repetitions (each with its own policy logits θ_r), N
rollouts of T steps. Each estimator family is a surrogate `L(θ; batch)` whose gradient
at the sampling point is the policy-gradient estimate ĝ and whose Hessian is Ĥ; the Box
operator `[]x = exp(x - stop(x))` equals 1 there. With, on row s_t only,

  z_t   = ∇ log π(a_t|s_t)      = e_{a_t} - π(·|s_t),
  h_t v = ∇² log π(a_t|s_t) v   = -π_s ⊙ (v_s - π_s·v_s),

every family's gradient is a score sum `ĝ = Σ_k ω_k z_k` and every Hessian-vector
product is `Ĥv = Σ_k ω_k h_k v + Σ_k u_k(v) z_k` with per-step weights (R, N, T):

| family        | ω_k                              | u_k(v)                                   |
|---------------|----------------------------------|------------------------------------------|
| `dice`        | Σ_{t≥k} γᵗ r_t                   | Σ_{t≥k} γᵗ r_t (G_t·v)                   |
| `loaded` (λ)  | Σ_{t≥k} λ^{t-k} d_t              | Σ_{t≥k} λ^{t-k} d_t (W_t·v)              |
| `lvc`         | γᵏ A_k                           | γᵏ A_k (z_k·v)                           |
| `maml`        | γᵏ A_k                           | 0                                        |
| `first_order` | γᵏ A_k                           | Ĥ = 0                                    |

where G_t = Σ_{k≤t} z_k, W_t = Σ_{k≤t} λ^{t-k} z_k, d_t = γᵗA_t - γ^{t+1}A_{t+1}
(A_T = 0). A product therefore costs O(T·A) per trajectory: one gather of v at
(s_t, a_t), (discounted) cumulative sums over t, one `np.bincount` scatter over the
flattened (r, s, a) indices; never an `S·A x S·A` matrix.

References: Foerster et al. (2018) DiCE; Farquhar et al. (2019) Loaded DiCE;
Rothfuss et al. (2019) ProMP (LVC); Liu et al. (2022), arXiv 2112.15400.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from estimators.tabular.advantages import (critic_reward_vector_product, critic_state_weights, gae_advantages,
                                   td_coefficients)
from estimators.tabular.problem import CRITICS, Critic, MetaProblem
from estimators.scores import (forward_trace, indicator_sums, log_policy_curvature, returns_to_go, reverse_trace,
                               score_dots, score_sums, state_sums)
from mdps import TabularMDP, sample_trajectories, softmax_policy

Family = Literal["dice", "loaded", "lvc", "maml", "first_order"]
FAMILIES: tuple[str, ...] = ("dice", "loaded", "lvc", "maml", "first_order")


# ---------------------------------------------------------------------------- family table
REWARDS, DIFFERENCES, ADVANTAGES = 0, 1, 2           # β_t: γᵗ r_t, d_t = c_t - c_{t+1}, c_t = γᵗ A_t
FULL_HESSIAN, CURVATURE_ONLY, NO_HESSIAN = 0, 1, 2   # Ĥv = Σ ω h v + Σ u z;  Σ ω h v;  0


@dataclass(frozen=True)
class FamilyRule:
    """One row of the family table: how a family turns a trajectory into ω_k and u_k(v).

    ω_k = Σ_{t≥k} μ^{t-k} β_t and u_k(v) = Σ_{t≥k} μ^{t-k} β_t (W_t·v), W_t·v = Σ_{j≤t} μ^{t-j} z_j·v;
    the LIRPG mixed term traces z_j·v with `mixed_decay`. Both the numpy path (`Surrogate`)
    and the compiled kernel (`estimators.tabular.fused`) read only this.

    Attributes:
      outer: β_t, one of REWARDS (γᵗ r_t), DIFFERENCES (d_t), ADVANTAGES (γᵗ A_t).
      decay: μ (1 for dice, λ for loaded, 0 otherwise).
      hessian: FULL_HESSIAN, CURVATURE_ONLY (maml) or NO_HESSIAN (first_order).
      mixed_decay: λ for loaded, 1 otherwise.
      uses_critic: False when the family never reads A_t (dice).
    """

    outer: int
    decay: float
    hessian: int
    mixed_decay: float
    uses_critic: bool


def family_rule(family: Family, lambda_: float = 1.0) -> FamilyRule:
    """The row of `family` in the table of the module docstring (λ only for loaded)."""
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
    if family == "loaded" and not 0.0 <= float(lambda_) <= 1.0:
        raise ValueError(f"lambda_: expected a number in [0, 1], got {lambda_!r}")
    return {
        "dice": FamilyRule(REWARDS, 1.0, FULL_HESSIAN, 1.0, False),
        "loaded": FamilyRule(DIFFERENCES, float(lambda_), FULL_HESSIAN, float(lambda_), True),
        "lvc": FamilyRule(ADVANTAGES, 0.0, FULL_HESSIAN, 1.0, True),
        "maml": FamilyRule(ADVANTAGES, 0.0, CURVATURE_ONLY, 1.0, True),
        "first_order": FamilyRule(ADVANTAGES, 0.0, NO_HESSIAN, 1.0, True),
    }[family]


def uses_gae(rule: FamilyRule, gae_lambda: float) -> bool:
    """True when the family's advantages are GAE(λ) (λ < 1; λ = 1 is R_t − b_t, and dice reads no A_t)."""
    return rule.outer != REWARDS and float(gae_lambda) != 1.0


def mixed_through_td(rule: FamilyRule, gae_lambda: float, differentiate_critic: bool) -> bool:
    """True when the LIRPG mixed term is Σ_j c_j ∂δ_j/∂η with the TD coefficients c_j
    (`advantages.td_coefficients`): the family reads A_t and either λ_GAE < 1 or the critic of
    r + η is differentiated; else it is the plain Σ_j γʲ (W'_j·v) e_{(s_j, a_j)}."""
    return rule.outer != REWARDS and (float(gae_lambda) != 1.0 or bool(differentiate_critic))


def outer_weights(rule: FamilyRule, discounts: np.ndarray, rewards: np.ndarray,
                  advantages: np.ndarray | None) -> np.ndarray:
    """β_t `(..., T)` of a family from γᵗ `(T,)`, r_t and A_t `(..., T)` (A unused for REWARDS)."""
    if rule.outer == REWARDS:
        return discounts * rewards
    weighted = discounts * advantages                                   # c_t
    if rule.outer == ADVANTAGES:
        return weighted
    differences = weighted.copy()
    differences[..., :-1] -= weighted[..., 1:]                          # d_t = c_t - c_{t+1}
    return differences


# ---------------------------------------------------------------------------- critic
def critic_values(mdp: TabularMDP, thetas: np.ndarray, critic: Critic, *, rewards: np.ndarray | None = None,
                  noise_scale: float = 1.0, noise_draw: np.ndarray | None = None) -> np.ndarray | None:
    """The critic V̂ of a stack of policies: none, exact V, or V + noise·ε·‖V‖₂/S (Liu et al.).

    Args:
      mdp: the dynamics P, γ and horizon H.
      thetas: `(R, S, A)` logits of the policies.
      rewards: `(S, A)` reward table defining V (defaults to `mdp.rewards`).
      critic: `none` (returns None), `exact` or `noisy`.
      noise_scale: the `noise` factor of the noisy critic.
      noise_draw: `(R, S)` ε ~ N(0, I_S), one per repetition (required for `noisy`); for a
        finite horizon the same ε serves every time index, scaled by ‖V_t‖₂.
    Returns:
      `(R, L, S)` with L = 1 (infinite H) or H + 1 (finite H), or None for `none`.
    """
    if critic == "none":
        return None
    own_rewards = rewards is None or rewards is mdp.rewards
    values = (mdp if own_rewards else mdp.with_rewards(rewards)).batch_time_values(thetas)
    if critic == "exact":
        return values
    if critic != "noisy":
        raise ValueError(f"critic: expected one of {CRITICS}, got {critic!r}")
    if noise_draw is None:
        raise ValueError("noise_draw: required for the noisy critic")
    norms = np.linalg.norm(values, axis=-1, keepdims=True)                        # (R, L, 1)
    return values + noise_scale * noise_draw[:, None, :] * norms / mdp.n_states


# ---------------------------------------------------------------------------- batch
@dataclass(frozen=True, eq=False)
class Batch:
    """N rollouts of T steps for each of R policies, with returns and baselines.

    Attributes:
      states: `(R, N, T)` int s_t.
      actions: `(R, N, T)` int a_t.
      rewards: `(R, N, T)` r_t (from the reward table the batch was drawn with).
      final_states: `(R, N)` int s_T.
      policy: `(R, S, A)` the sampling policy π_r (the point where Box = 1).
      discounts: `(T,)` γᵗ.
      returns: `(R, N, T)` R_t = Σ_{j≥t} γ^{j-t} r_j + γ^{T-t} V̂(s_T).
      baselines: `(R, N, T)` b_t = V̂_t(s_t) (0 for critic `none`).
      bootstrap: `(R, N)` V̂_T(s_T) used in the returns (0 unless truncated with a critic).
      gamma: γ.
      critic: `none`, `exact` or `noisy`.
      noise_scale: the noisy critic's `noise` factor.
      noise_draw: `(R, S)` the critic's ε (zeros unless `noisy`).
      truncated: whether the rollouts stop before the end of the episode (infinite
        horizon, or T < H) and are bootstrapped.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_states: np.ndarray
    policy: np.ndarray
    discounts: np.ndarray
    returns: np.ndarray
    baselines: np.ndarray
    bootstrap: np.ndarray
    gamma: float
    critic: str
    noise_scale: float
    noise_draw: np.ndarray
    truncated: bool

    @property
    def shape(self) -> tuple[int, int, int]:
        """(R, N, T)."""
        return self.states.shape

    @property
    def n_states(self) -> int:
        return self.policy.shape[1]

    @property
    def n_actions(self) -> int:
        return self.policy.shape[2]

    @cached_property
    def advantages(self) -> np.ndarray:
        """`(R, N, T)` A_t = R_t - b_t."""
        return self.returns - self.baselines

    @cached_property
    def flat_states(self) -> np.ndarray:
        """`(R, N, T)` index r·S + s_t into a flattened `(R, S)` array."""
        n_policies = self.shape[0]
        return np.arange(n_policies)[:, None, None] * self.n_states + self.states

    @cached_property
    def flat_state_actions(self) -> np.ndarray:
        """`(R, N, T)` index (r·S + s_t)·A + a_t into a flattened `(R, S, A)` array."""
        return self.flat_states * self.n_actions + self.actions


def draw_batch(source: MetaProblem | TabularMDP, thetas: np.ndarray, n_trajectories: int,
                 rng: np.random.Generator, *, rewards: np.ndarray | None = None, length: int | None = None,
                 critic: Critic | None = None, critic_noise: float | None = None,
                 needs_critic: bool = True) -> Batch:
    """Draw N rollouts per policy π_r = softmax(θ_r) and attach returns and baselines.

    R_t = Σ_{j≥t} γ^{j-t} r_j + γ^{T-t} V̂_T(s_T) (bootstrap only when truncated, zero for
    critic `none`); b_t = V̂_t(s_t); V̂ = V or V + noise·ε·‖V‖₂/S with ε ~ N(0, I_S) drawn
    once per batch and repetition (after the rollouts). For a finite horizon V̂_t is the
    time-dependent value (H - t steps to go) and T is capped at H.

    Args:
      source: a `MetaProblem` (its MDP, `rollout_length`, `critic`, `critic_noise` are the
        defaults) or a `TabularMDP` (defaults: T = H, critic `none`, noise 1).
      thetas: `(R, S, A)` logits, one policy per repetition.
      n_trajectories: N.
      rng: the only source of randomness.
      rewards: `(S, A)` reward table of the returns and critic (default: the MDP's r; pass
        r + η for the inner loop of LIRPG).
      length, critic, critic_noise: override the defaults of `source`.
      needs_critic: False skips the critic's Bellman solves (DiCE never reads them); the
        critic noise is still drawn, so the random stream and every estimate are unchanged.
    Returns:
      The `Batch`.
    """
    if isinstance(source, MetaProblem):
        mdp = source.mdp
        length = source.rollout_length if length is None else length
        critic = source.critic if critic is None else critic
        critic_noise = source.critic_noise if critic_noise is None else critic_noise
    elif isinstance(source, TabularMDP):
        mdp = source
        if length is None:
            if mdp.horizon is None:
                raise ValueError("length: required for an infinite-horizon MDP")
            length = mdp.horizon
        critic = "none" if critic is None else critic
        critic_noise = 1.0 if critic_noise is None else critic_noise
    else:
        raise TypeError(f"source: expected a MetaProblem or a TabularMDP, got {type(source).__name__}")
    if critic not in CRITICS:
        raise ValueError(f"critic: expected one of {CRITICS}, got {critic!r}")
    thetas = np.asarray(thetas, dtype=float)
    if thetas.ndim != 3 or thetas.shape[1:] != (mdp.n_states, mdp.n_actions):
        raise ValueError(f"thetas: expected shape (R, {mdp.n_states}, {mdp.n_actions}), got {thetas.shape}")
    if isinstance(n_trajectories, bool) or not isinstance(n_trajectories, (int, np.integer)) or n_trajectories < 1:
        raise ValueError(f"n_trajectories: expected a positive integer, got {n_trajectories!r}")
    length = int(length) if mdp.horizon is None else min(int(length), mdp.horizon)
    truncated = mdp.horizon is None or length < mdp.horizon
    reward_table = mdp.rewards if rewards is None else np.asarray(rewards, dtype=float)
    policy = softmax_policy(thetas)
    rollouts = sample_trajectories(mdp, policy, n_trajectories, length, rng, rewards=reward_table)
    n_policies = thetas.shape[0]
    noise_draw = (rng.standard_normal((n_policies, mdp.n_states)) if critic == "noisy"
                  else np.zeros((n_policies, mdp.n_states)))
    values = critic_values(mdp, thetas, critic if needs_critic else "none", rewards=reward_table,
                           noise_scale=critic_noise, noise_draw=noise_draw)
    baselines, bootstrap = _baselines_and_bootstrap(values, rollouts.states, rollouts.final_states, truncated)
    discounts = mdp.gamma ** np.arange(length)
    return Batch(rollouts.states, rollouts.actions, rollouts.rewards, rollouts.final_states, policy, discounts,
                 returns_to_go(rollouts.rewards, bootstrap, mdp.gamma), baselines, bootstrap, mdp.gamma,
                 critic, float(critic_noise), noise_draw, truncated)


def _baselines_and_bootstrap(values: np.ndarray | None, states: np.ndarray, final_states: np.ndarray,
                             truncated: bool) -> tuple[np.ndarray, np.ndarray]:
    """b_t = V̂_t(s_t) `(R, N, T)` and V̂_T(s_T) `(R, N)` (zero when not truncated) from `(R, L, S)`."""
    n_policies, _, length = states.shape
    if values is None:
        return np.zeros(states.shape), np.zeros(final_states.shape)
    repetition = np.arange(n_policies)[:, None, None]
    time = np.arange(length) if values.shape[1] > 1 else np.zeros(length, dtype=np.intp)
    baselines = values[repetition, time, states]
    if not truncated:
        return baselines, np.zeros(final_states.shape)
    final_time = length if values.shape[1] > 1 else 0
    return baselines, values[np.arange(n_policies)[:, None], final_time, final_states]


# ---------------------------------------------------------------------------- surrogates
class Surrogate:
    """One family's surrogate on one batch: ĝ, Ĥv and the LIRPG mixed term, at the sampling point.

    The per-step weights ω_k (and the state totals Ω of ω used by the ∇²log π terms) are
    computed once, so several products with the same batch cost one gather, one
    cumulative sum and one scatter each.

    Surrogates (batch mean over N; c_t = γᵗ A_t, A_t = R_t - b_t):
      dice:        L = Σ_t γᵗ r_t [](Σ_{k≤t} log π_k)        (no baseline, no bootstrap)
      loaded(λ):   L = Σ_t c_t ([](w_t) - [](w_{t-1})),  w_t = Σ_{k≤t} λ^{t-k} log π_k, [](w_{-1}) = 1
      lvc:         L = Σ_t c_t π_t / stop(π_t)
      maml:        L = Σ_t c_t log π_t
      first_order: ĝ of maml, Ĥ = 0.

    Args:
      batch: the `Batch`.
      family: one of `FAMILIES`.
      lambda_: λ of `loaded` (ignored otherwise).
      gae_lambda: GAE(λ) advantages for the families that use A_t (`estimators.tabular.advantages`;
        1 = R_t − b_t, the default; dice uses raw rewards and ignores it).
      critic_mdp: differentiate the critic of r + η with respect to η in the LIRPG mixed term
        (the dynamics of its occupancy); None holds the critic fixed (`detach_critic`).
    """

    def __init__(self, batch: Batch, family: Family, *, lambda_: float = 1.0, gae_lambda: float = 1.0,
                 critic_mdp: TabularMDP | None = None):
        self.batch, self.family, self.lambda_ = batch, family, float(lambda_)
        self.rule = family_rule(family, lambda_)
        self.gae_lambda, self.critic_mdp = float(gae_lambda), critic_mdp
        advantages = None
        if self.rule.outer != REWARDS:
            advantages = gae_advantages(batch.rewards, batch.baselines, batch.bootstrap, batch.gamma,
                                        self.gae_lambda) if uses_gae(self.rule, self.gae_lambda) else batch.advantages
        self._generalised = mixed_through_td(self.rule, self.gae_lambda, critic_mdp is not None)
        self._outer_weights = outer_weights(self.rule, batch.discounts, batch.rewards, advantages)
        self.step_weights = reverse_trace(self._outer_weights, self.rule.decay)     # ω (R, N, T)

    @cached_property
    def state_weights(self) -> np.ndarray:
        """`(R, S)` Ω_s = (1/N) Σ_{n,t: s_t = s} ω_t (multiplies ∇² log π)."""
        n_policies, n_trajectories, _ = self.batch.shape
        return state_sums(self.batch.flat_states, self.step_weights, n_policies, self.batch.n_states) / n_trajectories

    def gradient(self) -> np.ndarray:
        """ĝ = (1/N) Σ_{n,k} ω_k z_k, shape `(R, S, A)`."""
        return score_sums(self.batch.policy, self.batch.flat_state_actions, self.step_weights) / self.batch.shape[1]

    def hessian_vector_product(self, vectors: np.ndarray) -> np.ndarray:
        """Ĥv = (1/N) Σ_{n,k} [ω_k h_k v + u_k(v) z_k], shape `(R, S, A)`.

        u_k(v) = Σ_{t≥k} μ^{t-k} β_t (W_t·v) with W_t·v = Σ_{j≤t} μ^{t-j} z_j·v, (β, μ) from
        the family's `FamilyRule`; u = 0 for maml; Ĥ = 0 for first_order.

        Args:
          vectors: `(R, S, A)` v_r, one per repetition.
        """
        vectors = self._check_vectors(vectors)
        batch, rule = self.batch, self.rule
        if rule.hessian == NO_HESSIAN:
            return np.zeros_like(vectors)
        curvature = log_policy_curvature(batch.policy, self.state_weights, vectors)
        if rule.hessian == CURVATURE_ONLY:
            return curvature
        dots = score_dots(batch.policy, batch.flat_states, batch.flat_state_actions, vectors)
        outer = reverse_trace(self._outer_weights * forward_trace(dots, rule.decay), rule.decay)   # u_k
        return curvature + score_sums(batch.policy, batch.flat_state_actions, outer) / batch.shape[1]

    def mixed_vector_product(self, vectors: np.ndarray) -> np.ndarray:
        """∂_η (ĝ·v) for rewards r + η inside the returns, shape `(R, S, A)`: critic fixed and
        λ_GAE = 1 below; otherwise `estimators.tabular.advantages` (GAE, critic of r + η differentiated).

        Since ∂A_t/∂η = Σ_{j≥t} γ^{j-t} e_{(s_j,a_j)} (and ∂r_t/∂η = e_{(s_t,a_t)} for dice):
          ∂_η (ĝ·v) = (1/N) Σ_{n,j} γʲ (W_j·v) e_{(s_j, a_j)},
        with W_j = Σ_{k≤j} λ^{j-k} z_k for loaded(λ) and W_j = G_j otherwise (first_order
        included: it drops Ĥ, not this first-order-in-θ term).

        Args:
          vectors: `(R, S, A)` v_r.
        """
        vectors = self._check_vectors(vectors)
        batch = self.batch
        dots = score_dots(batch.policy, batch.flat_states, batch.flat_state_actions, vectors)
        traced = forward_trace(dots, self.rule.mixed_decay)
        if not self._generalised:
            coefficients = batch.discounts * traced
            return indicator_sums(batch.flat_state_actions, coefficients, batch.policy.shape) / batch.shape[1]
        # GAE and/or a differentiated critic: ĝ·v = Σ_t γᵗ x_t A_t with x_t = W_t·v − W_{t−1}·v
        # (z_t·v for maml, lvc, first_order), differentiated by `estimators.tabular.advantages`
        steps = traced.copy()
        steps[..., 1:] -= traced[..., :-1]
        coefficients = td_coefficients(steps, batch.gamma, self.gae_lambda)
        product = indicator_sums(batch.flat_state_actions, coefficients, batch.policy.shape) / batch.shape[1]
        if self.critic_mdp is not None and batch.critic != "none":
            weights = critic_state_weights(coefficients, batch.states, batch.final_states, batch.gamma, batch.n_states,
                                           horizon=self.critic_mdp.horizon, truncated=batch.truncated)
            product = product + critic_reward_vector_product(self.critic_mdp, batch.policy, weights)
        return product

    def _check_vectors(self, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors, dtype=float)
        if vectors.shape != self.batch.policy.shape:
            raise ValueError(f"vectors: expected shape {self.batch.policy.shape}, got {vectors.shape}")
        return vectors


def surrogate_gradient(batch: Batch, family: Family, *, lambda_: float = 1.0) -> np.ndarray:
    """ĝ `(R, S, A)` of `family` on `batch` (see `Surrogate`)."""
    return Surrogate(batch, family, lambda_=lambda_).gradient()


def surrogate_hessian_vector_product(batch: Batch, family: Family, vectors: np.ndarray, *,
                                     lambda_: float = 1.0) -> np.ndarray:
    """Ĥv `(R, S, A)` of `family` on `batch` for v `(R, S, A)` (see `Surrogate`)."""
    return Surrogate(batch, family, lambda_=lambda_).hessian_vector_product(vectors)


def surrogate_mixed_vector_product(batch: Batch, family: Family, vectors: np.ndarray, *,
                                   lambda_: float = 1.0) -> np.ndarray:
    """∂_η (ĝ·v) `(R, S, A)` of `family` on `batch` (LIRPG mixed term, see `Surrogate`)."""
    return Surrogate(batch, family, lambda_=lambda_).mixed_vector_product(vectors)


# ---------------------------------------------------------------------------- off-policy
def importance_weighted_gradient(batch: Batch, thetas: np.ndarray, *, values: np.ndarray | None,
                                 rho_bar: float | None = None) -> np.ndarray:
    """Per-decision importance-sampled policy gradient of π_θ from a batch drawn under μ.

    With ρ_{0:t} = Π_{i≤t} π_θ(a_i|s_i)/μ(a_i|s_i) (optionally min(ρ_{0:t}, ρ̄)) and the
    scores z_k of π_θ:
      ĝ = (1/N) Σ_{n,k} z_k [Σ_{j≥k} γʲ ρ_{0:j} r_j + γᵀ ρ_{0:T-1} V̂_T(s_T) - γᵏ ρ_{0:k} V̂_k(s_k)],
    the bootstrap only when the batch is truncated. For ρ ≡ 1 this is Σ_k γᵏ A_k z_k, the
    on-policy gradient of maml / lvc / loaded(1) (of dice when `values` is None). Unbiased
    for the truncated-return gradient of π_θ without truncation of ρ (Precup et al. 2000).

    Args:
      batch: rollouts of the behaviour policies μ_r = `batch.policy`.
      thetas: `(R, S, A)` logits of the target policies π_r.
      values: `(R, L, S)` critic of the target policies (see `critic_values`), or None for
        no baseline and no bootstrap.
      rho_bar: truncation level ρ̄ of the cumulative ratios (None: no truncation).
    Returns:
      `(R, S, A)`.
    """
    target = softmax_policy(np.asarray(thetas, dtype=float))
    flat = batch.flat_state_actions
    log_ratios = np.log(target.reshape(-1)[flat]) - np.log(batch.policy.reshape(-1)[flat])
    ratios = np.exp(np.cumsum(log_ratios, axis=-1))                                  # ρ_{0:t}
    if rho_bar is not None:
        ratios = np.minimum(ratios, rho_bar)
    weights = reverse_trace(batch.discounts * ratios * batch.rewards, 1.0)
    baselines, bootstrap = _baselines_and_bootstrap(values, batch.states, batch.final_states, batch.truncated)
    final_discount = batch.gamma ** batch.shape[2]
    weights = weights + (final_discount * ratios[..., -1] * bootstrap)[..., None] - batch.discounts * ratios * baselines
    return score_sums(target, flat, weights) / batch.shape[1]
