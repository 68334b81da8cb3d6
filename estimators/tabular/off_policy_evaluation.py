"""Gradient and Hessian estimates from off-policy evaluation (Tang, Kozuno, Rowland, Munos,
Valko, NeurIPS 2021, arXiv 2106.13125), in closed form.

Any estimate V̂(θ) of V^{π_θ}(s_0) built from trajectories of a behaviour policy μ ≠ π_θ is
a function of θ through the importance ratios ρ_t = π_θ(a_t|s_t) / μ(a_t|s_t) only;
differentiating it once and twice with the samples held fixed gives a gradient estimate ĝ
and a Hessian estimate Ĥ. Here θ are the softmax logits `(S, A)` (flattened row-major,
D = S·A), so with e_t = ∇ log π(a_t|s_t) (onehot(a_t) − π(·|s_t) in row s_t, zero elsewhere)
and F_s = diag π(·|s) − π(·|s) π(·|s)ᵀ (block s):

    ∇ρ_t = ρ_t e_t,        ∇²ρ_t = ρ_t (e_t e_tᵀ − F_{s_t}).

Two families cover the five estimators of the paper (and the code as released):

* trace estimates (step-wise IS, doubly robust, V-trace): with a state-value critic V
  (V = 0 for IS), δ_t = r_t + γ V(s_{t+1}) − V(s_t), clipped ratios f_t = min(ρ_t, c̄)
  (c̄ = ∞: no clipping; ρ̄ = c̄) and w_t = Π_{k≤t} f_k,

      V̂ = V(s_0) + Σ_t γ^t w_t δ_t                                  (`trace_terms`)

  (the unrolled recursion v_t = V(s_t) + f_t (r_t + γ v_{t+1} − V(s_t)), v_T = V(s_T));
* Taylor-expansion estimates (TayPO-1, TayPO-2), with constants a_t, b_k (θ-independent):

      V̂ = const + Σ_t γ^t (ρ_t − 1) a_t + Σ_{t<k} γ^k (ρ_t − 1)(ρ_k − 1) b_k   (`taylor_terms`)

  TayPO-1 has b = 0. Paper form: a_t = b_t = G_t − V(s_t), G_t = Σ_{j=t}^{T-1} γ^{j-t} r_j +
  γ^{T-t} V(s_T) (the first- and second-order terms of the expansion of Tang et al. 2020 with
  Q^μ replaced by the bootstrapped return and the state value as baseline).

The code as released (`evaluation_utils.py` of robintyh1/neurips2021-meta-gradient-offpolicy-
evaluation) differs for TayPO-2 (`Secondorder_evaluation`): its recursion reads the critic by
time step, V[t − T − 1] with JAX's index rules (negative indices wrap once, then clamp), not by
state, so (S = T = 20) a_t = r_t + γ V[t] − V[max(t−1, 0)] and b_k = G'_k − V[max(k−1, 0)] with
G'_k bootstrapped from V[S − 1] instead of V(s_T) (`released_taypo2_constants`). Its ratios are
π/(μ + 1e-8) (`RELEASED_RATIO_OFFSET`). The recursion with the critic read by state
(`taypo2_recursive`) has a_t = δ_t (one-step TD error) and b as in the paper.

Every function is vectorised over N trajectories; Hessians are full `(N, D, D)` arrays, so
callers pass chunks of trajectories (`ope_moments` does).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mdps import softmax_policy

RELEASED_RATIO_OFFSET = 1e-8
TRACE_ESTIMATORS = ("is", "dr", "vtrace")
TAYLOR_ESTIMATORS = ("taypo1", "taypo2", "taypo2_recursive", "taypo2_released")
OPE_ESTIMATORS = TRACE_ESTIMATORS + TAYLOR_ESTIMATORS
OPE_LABELS = {"is": "step-wise IS (DiCE)", "dr": "doubly robust (Loaded DiCE)", "vtrace": "V-trace ρ̄=c̄=1",
              "taypo1": "TayPO-1", "taypo2": "TayPO-2 (paper)", "taypo2_recursive": "TayPO-2 (recursion, critic by state)",
              "taypo2_released": "TayPO-2 (code as released)"}
VTRACE_CLIP = 1.0


@dataclass(frozen=True)
class OffPolicyBatch:
    """N trajectories of length T from μ.

    Attributes:
      states, actions: `(N, T)` int; rewards: `(N, T)` float; final_states: `(N,)` int, s_T.
    """

    states: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_states: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(N, T)."""
        return self.states.shape

    def take(self, rows: slice) -> "OffPolicyBatch":
        """The trajectories `rows`."""
        return OffPolicyBatch(self.states[rows], self.actions[rows], self.rewards[rows], self.final_states[rows])


@dataclass(frozen=True)
class OffPolicySetting:
    """What every estimate needs besides θ and the samples.

    Attributes:
      behaviour: `(S, A)` μ; critic: `(S,)` state values V (baseline and bootstrap);
      gamma: discount; ratio_offset: ρ = π/(μ + offset) (0 in the paper, 1e-8 as released).
    """

    behaviour: np.ndarray
    critic: np.ndarray
    gamma: float
    ratio_offset: float = 0.0


# ----------------------------------------------------------------------------- shared pieces

def ratios(theta: np.ndarray, setting: OffPolicySetting, batch: OffPolicyBatch) -> np.ndarray:
    """ρ_t = π_θ(a_t|s_t) / (μ(a_t|s_t) + offset), `(N, T)`."""
    policy = softmax_policy(theta)
    return policy[batch.states, batch.actions] / (setting.behaviour[batch.states, batch.actions] + setting.ratio_offset)


def scores(theta: np.ndarray, batch: OffPolicyBatch) -> np.ndarray:
    """e_t = ∇_θ log π(a_t|s_t), `(N, T, D)`: onehot(a_t) − π(·|s_t) in the block of s_t."""
    n_states, n_actions = theta.shape
    policy = softmax_policy(theta)
    block = np.eye(n_actions)[batch.actions] - policy[batch.states]                       # (N, T, A)
    dense = np.zeros((*batch.shape, n_states * n_actions))
    columns = batch.states[..., None] * n_actions + np.arange(n_actions)
    np.put_along_axis(dense, columns, block, axis=-1)
    return dense


def fisher_blocks(theta: np.ndarray, states: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Σ_t m_t F_{s_t}, `(N, D, D)` block-diagonal, F_s = diag π_s − π_s π_sᵀ = −∇² log π(a|s).

    Args:
      theta: `(S, A)`; states: `(N, T)`; weights: `(N, T)` m_t.
    """
    n_states, n_actions = theta.shape
    policy = softmax_policy(theta)
    fisher = np.einsum("sa,ab->sab", policy, np.eye(n_actions)) - np.einsum("sa,sb->sab", policy, policy)
    per_state = np.zeros((states.shape[0], n_states))
    np.add.at(per_state, (np.arange(states.shape[0])[:, None], states), weights)
    out = np.zeros((states.shape[0], n_states, n_actions, n_states, n_actions))
    diagonal = np.arange(n_states)
    out[:, diagonal, :, diagonal, :] = per_state.T[:, :, None, None] * fisher[:, None]     # (S, N, A, A)
    return out.reshape(states.shape[0], n_states * n_actions, n_states * n_actions)


def weighted_outer(weights: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Σ_t m_t L_t R_tᵀ, `(N, D, D)` from weights `(N, T)` and vectors `(N, T, D)`."""
    return np.matmul(np.swapaxes(left * weights[..., None], 1, 2), right)


def bootstrapped_returns(rewards: np.ndarray, bootstrap: np.ndarray, gamma: float) -> np.ndarray:
    """G_t = Σ_{j=t}^{T-1} γ^{j-t} r_j + γ^{T-t} b, `(N, T)`, from rewards `(N, T)` and b `(N,)`."""
    returns = np.empty_like(rewards, dtype=float)
    running = np.asarray(bootstrap, dtype=float)
    for t in range(rewards.shape[1] - 1, -1, -1):
        running = rewards[:, t] + gamma * running
        returns[:, t] = running
    return returns


def discounts(length: int, gamma: float) -> np.ndarray:
    """γ^t, `(T,)`."""
    return gamma ** np.arange(length)


# ----------------------------------------------------------------------------- trace estimates (IS, DR, V-trace)

def trace_terms(theta: np.ndarray, setting: OffPolicySetting, batch: OffPolicyBatch, clip: float = np.inf,
                critic: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V̂, ĝ, Ĥ of V̂ = V(s_0) + Σ_t γ^t w_t δ_t, w_t = Π_{k≤t} min(ρ_k, c̄).

    With β_k = d log f_k / d log ρ_k (1 if ρ_k < c̄, 0 if ρ_k > c̄, ½ at a tie as JAX's `min`),
    Ē_t = Σ_{k≤t} β_k e_k, c_t = γ^t δ_t w_t and C_k = Σ_{t≥k} c_t:

        ĝ = Σ_t c_t Ē_t,
        Ĥ = Σ_t c_t Ē_t Ē_tᵀ + Σ_k C_k [(β_k − β_k²) e_k e_kᵀ − β_k F_{s_k}].

    Args:
      clip: c̄ = ρ̄ (∞ for IS and DR); critic: `(S,)`, default `setting.critic` (IS passes zeros).
    Returns:
      values `(N,)`, gradients `(N, D)`, Hessians `(N, D, D)`.
    """
    critic = setting.critic if critic is None else critic
    rho = ratios(theta, setting, batch)
    clipped = np.minimum(rho, clip)
    beta = np.where(rho < clip, 1.0, np.where(rho > clip, 0.0, 0.5))
    next_states = np.concatenate([batch.states[:, 1:], batch.final_states[:, None]], axis=1)
    delta = batch.rewards + setting.gamma * critic[next_states] - critic[batch.states]
    weights = np.cumprod(clipped, axis=1)
    c = discounts(batch.shape[1], setting.gamma) * delta * weights                      # (N, T)
    tail = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]                                        # C_k
    e = scores(theta, batch)
    cumulative = np.cumsum(beta[..., None] * e, axis=1)                                  # Ē_t
    values = critic[batch.states[:, 0]] + c.sum(axis=1)
    gradients = np.einsum("nt,ntd->nd", c, cumulative)
    hessians = (weighted_outer(c, cumulative, cumulative) + weighted_outer(tail * (beta - beta**2), e, e)
                - fisher_blocks(theta, batch.states, tail * beta))
    return values, gradients, hessians


# ----------------------------------------------------------------------------- Taylor estimates (TayPO)

def taylor_terms(theta: np.ndarray, setting: OffPolicySetting, batch: OffPolicyBatch, first: np.ndarray,
                 second: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V̂, ĝ, Ĥ of V̂ = Σ_t γ^t u_t a_t + Σ_{t<k} γ^k u_t u_k b_k, u_t = ρ_t − 1 (constant dropped).

    With x_t = ∇ρ_t = ρ_t e_t, q_k = γ^k b_k, S_{k−1} = Σ_{t<k} u_t, P_{k−1} = Σ_{t<k} x_t,
    R_t = Σ_{k>t} q_k u_k and α_t = γ^t a_t + q_t S_{t−1} + R_t:

        ĝ = Σ_t α_t x_t,
        Ĥ = Σ_t α_t ρ_t (e_t e_tᵀ − F_{s_t}) + Σ_k q_k (x_k P_{k−1}ᵀ + P_{k−1} x_kᵀ).

    Args:
      first: `(N, T)` a_t; second: `(N, T)` b_k, or None (first order only).
    Returns:
      values `(N,)`, gradients `(N, D)`, Hessians `(N, D, D)`.
    """
    rho = ratios(theta, setting, batch)
    u = rho - 1.0
    gammas = discounts(batch.shape[1], setting.gamma)
    e = scores(theta, batch)
    x = rho[..., None] * e
    alpha = gammas * first
    values = (gammas * u * first).sum(axis=1)
    hessians = np.zeros((batch.shape[0], e.shape[-1], e.shape[-1]))
    if second is not None:
        q = gammas * second
        before = np.cumsum(u, axis=1) - u                                   # S_{k−1}
        after = np.cumsum((q * u)[:, ::-1], axis=1)[:, ::-1] - q * u        # R_t
        alpha = alpha + q * before + after
        values = values + (q * u * before).sum(axis=1)
        prefix = np.cumsum(x, axis=1) - x                                   # P_{k−1}
        cross = weighted_outer(q, x, prefix)
        hessians += cross + np.swapaxes(cross, 1, 2)
    gradients = np.einsum("nt,ntd->nd", alpha, x)
    hessians += weighted_outer(alpha * rho, e, e) - fisher_blocks(theta, batch.states, alpha * rho)
    return values, gradients, hessians


def paper_taylor_constants(setting: OffPolicySetting, batch: OffPolicyBatch) -> np.ndarray:
    """G_t − V(s_t), `(N, T)`: the advantage estimate of TayPO-1 and TayPO-2 (paper form)."""
    returns = bootstrapped_returns(batch.rewards, setting.critic[batch.final_states], setting.gamma)
    return returns - setting.critic[batch.states]


def td_errors(setting: OffPolicySetting, batch: OffPolicyBatch) -> np.ndarray:
    """δ_t = r_t + γ V(s_{t+1}) − V(s_t), `(N, T)`."""
    next_states = np.concatenate([batch.states[:, 1:], batch.final_states[:, None]], axis=1)
    return batch.rewards + setting.gamma * setting.critic[next_states] - setting.critic[batch.states]


def jax_index(index: int, size: int) -> int:
    """The entry JAX reads for `array[index]` on a length-`size` array: a negative index wraps
    once (index + size), then out-of-range indices clamp to [0, size − 1] (no error)."""
    if index < 0:
        index += size
    return min(max(index, 0), size - 1)


def released_taypo2_constants(setting: OffPolicySetting, batch: OffPolicyBatch) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) of `Secondorder_evaluation` as released: the critic `V` (length S) read at time
    indices t − T − 1 (`jax_index`), the first-order pass bootstrapped from V[−1] = V[S − 1].

        b_k = G'_k − V[i_k],  G'_k = Σ_{j≥k} γ^{j−k} r_j + γ^{T−k} V[S − 1],
        a_t = r_t + γ V[i_{t+1}] − V[i_t]  (V[i_T] read as V[S − 1]),  i_t = jax_index(t − T − 1, S).

    Returns:
      `(N, T)` a and `(N, T)` b.
    """
    n, length = batch.shape
    size = setting.critic.shape[0]
    by_time = np.array([setting.critic[jax_index(t - length - 1, size)] for t in range(length)])
    next_by_time = np.append(by_time[1:], setting.critic[size - 1])
    returns = bootstrapped_returns(batch.rewards, np.full(n, setting.critic[size - 1]), setting.gamma)
    return batch.rewards + setting.gamma * next_by_time - by_time, returns - by_time


# ----------------------------------------------------------------------------- one entry point

def ope_derivatives(name: str, theta: np.ndarray, setting: OffPolicySetting,
                    batch: OffPolicyBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """V̂, ĝ `(N, D)` and Ĥ `(N, D, D)` of estimator `name` (one of `OPE_ESTIMATORS`), one per trajectory.

    `is`: trace with V = 0, c̄ = ∞; `dr`: trace with the critic, c̄ = ∞; `vtrace`: c̄ = ρ̄ = 1;
    `taypo1`: a = G − V(s), b = 0; `taypo2`: a = b = G − V(s); `taypo2_recursive`: a = δ,
    b = G − V(s); `taypo2_released`: `released_taypo2_constants`.
    """
    theta = np.asarray(theta, dtype=float)
    if name == "is":
        return trace_terms(theta, setting, batch, critic=np.zeros_like(setting.critic))
    if name == "dr":
        return trace_terms(theta, setting, batch)
    if name == "vtrace":
        return trace_terms(theta, setting, batch, clip=VTRACE_CLIP)
    if name == "taypo1":
        return taylor_terms(theta, setting, batch, paper_taylor_constants(setting, batch), None)
    if name == "taypo2":
        advantages = paper_taylor_constants(setting, batch)
        return taylor_terms(theta, setting, batch, advantages, advantages)
    if name == "taypo2_recursive":
        return taylor_terms(theta, setting, batch, td_errors(setting, batch), paper_taylor_constants(setting, batch))
    if name == "taypo2_released":
        return taylor_terms(theta, setting, batch, *released_taypo2_constants(setting, batch))
    raise ValueError(f"name: expected one of {', '.join(OPE_ESTIMATORS)}, got {name!r}")


@dataclass(frozen=True)
class Moments:
    """Sums over N single-trajectory estimates: Σ ĝ, Σ ĝ², Σ Ĥ, Σ Ĥ² (entrywise) and N."""

    gradient_sum: np.ndarray
    gradient_squares: np.ndarray
    hessian_sum: np.ndarray
    hessian_squares: np.ndarray
    count: int

    @property
    def gradient_mean(self) -> np.ndarray:
        return self.gradient_sum / self.count

    @property
    def hessian_mean(self) -> np.ndarray:
        return self.hessian_sum / self.count

    def hessian_variance(self) -> np.ndarray:
        """Entrywise unbiased sample variance of one Ĥ, `(D, D)`."""
        return (self.hessian_squares - self.hessian_sum**2 / self.count) / (self.count - 1)

    def gradient_variance(self) -> np.ndarray:
        """Entrywise unbiased sample variance of one ĝ, `(D,)`."""
        return (self.gradient_squares - self.gradient_sum**2 / self.count) / (self.count - 1)


def ope_moments(name: str, theta: np.ndarray, setting: OffPolicySetting, batch: OffPolicyBatch,
                stops: tuple[int, ...] = (), chunk: int = 100) -> tuple[Moments, dict[int, tuple[np.ndarray, np.ndarray]]]:
    """Moments of the N single-trajectory estimates, computed `chunk` trajectories at a time,
    and the running means (ĝ, Ĥ) of the first n trajectories for each n in `stops`."""
    n_total = batch.shape[0]
    dim = np.asarray(theta).size
    sums = [np.zeros(dim), np.zeros(dim), np.zeros((dim, dim)), np.zeros((dim, dim))]
    prefixes: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    boundaries = sorted(set([n for n in stops if 0 < n <= n_total] + list(range(0, n_total, chunk)) + [n_total]))
    for start, stop in zip(boundaries[:-1], boundaries[1:]):
        _, gradients, hessians = ope_derivatives(name, theta, setting, batch.take(slice(start, stop)))
        sums[0] += gradients.sum(axis=0)
        sums[1] += (gradients**2).sum(axis=0)
        sums[2] += hessians.sum(axis=0)
        sums[3] += (hessians**2).sum(axis=0)
        if stop in stops:
            prefixes[stop] = (sums[0] / stop, sums[2] / stop)
    return Moments(*sums, n_total), prefixes


# ----------------------------------------------------------------------------- Hessian-vector products

def fisher_product(theta: np.ndarray, states: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """F_{s_t} v per step, `(N, T, D)`: π_s ⊙ v_s − π_s (π_s · v_s) in the block of s_t, zero elsewhere."""
    n_states, n_actions = theta.shape
    policy = softmax_policy(theta)
    blocks = vector.reshape(n_states, n_actions)
    per_state = policy * blocks - policy * (policy * blocks).sum(axis=1, keepdims=True)      # (S, A)
    dense = np.zeros((*states.shape, n_states * n_actions))
    columns = states[..., None] * n_actions + np.arange(n_actions)
    np.put_along_axis(dense, columns, per_state[states], axis=-1)
    return dense


def ope_hessian_vector_products(name: str, theta: np.ndarray, setting: OffPolicySetting, batch: OffPolicyBatch,
                                vector: np.ndarray) -> np.ndarray:
    """Ĥ v per trajectory, `(N, D)`, without forming Ĥ: the formulas of `trace_terms` and
    `taylor_terms` contracted with v (O(N T D) instead of O(N T D²))."""
    theta = np.asarray(theta, dtype=float)
    vector = np.ravel(vector)
    e = scores(theta, batch)
    ev = e @ vector                                                                     # (N, T)
    fv = fisher_product(theta, batch.states, vector)
    rho = ratios(theta, setting, batch)
    gammas = discounts(batch.shape[1], setting.gamma)
    if name in TRACE_ESTIMATORS:
        critic = np.zeros_like(setting.critic) if name == "is" else setting.critic
        clip = VTRACE_CLIP if name == "vtrace" else np.inf
        beta = np.where(rho < clip, 1.0, np.where(rho > clip, 0.0, 0.5))
        next_states = np.concatenate([batch.states[:, 1:], batch.final_states[:, None]], axis=1)
        delta = batch.rewards + setting.gamma * critic[next_states] - critic[batch.states]
        c = gammas * delta * np.cumprod(np.minimum(rho, clip), axis=1)
        tail = np.cumsum(c[:, ::-1], axis=1)[:, ::-1]
        cumulative = np.cumsum(beta[..., None] * e, axis=1)
        return (np.einsum("nt,ntd->nd", c * (cumulative @ vector), cumulative)
                + np.einsum("nt,ntd->nd", tail * (beta - beta**2) * ev, e)
                - np.einsum("nt,ntd->nd", tail * beta, fv))
    first, second = _taylor_constants(name, setting, batch)
    u = rho - 1.0
    x = rho[..., None] * e
    alpha = gammas * first
    out = np.zeros((batch.shape[0], vector.size))
    if second is not None:
        q = gammas * second
        alpha = alpha + q * (np.cumsum(u, axis=1) - u) + np.cumsum((q * u)[:, ::-1], axis=1)[:, ::-1] - q * u
        prefix = np.cumsum(x, axis=1) - x
        out += np.einsum("nt,ntd->nd", q * (prefix @ vector), x) + np.einsum("nt,ntd->nd", q * (x @ vector), prefix)
    return out + np.einsum("nt,ntd->nd", alpha * rho * ev, e) - np.einsum("nt,ntd->nd", alpha * rho, fv)


def _taylor_constants(name: str, setting: OffPolicySetting, batch: OffPolicyBatch):
    """(a, b) of the Taylor estimates (b None for TayPO-1), as in `ope_derivatives`."""
    if name == "taypo1":
        return paper_taylor_constants(setting, batch), None
    if name == "taypo2":
        advantages = paper_taylor_constants(setting, batch)
        return advantages, advantages
    if name == "taypo2_recursive":
        return td_errors(setting, batch), paper_taylor_constants(setting, batch)
    if name == "taypo2_released":
        return released_taypo2_constants(setting, batch)
    raise ValueError(f"name: expected one of {', '.join(OPE_ESTIMATORS)}, got {name!r}")
