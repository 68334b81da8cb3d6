"""Learned learning-rate schedules on bandits over a whole lifetime (Vuorio et al. 2022).

The problem (their released code, `algorithms/off_policy_bandits.py`): a task is a K-armed
bandit drawn from a task distribution; the policy is softmax(θ), θ_0 = 0; an inner step pulls
N arms from π_θ (rewards μ_a + σε) and ascends the sampled REINFORCE gradient without baseline

  θ_{i+1} = θ_i + α_i ĝ_i,   ĝ_i = (1/N) Σ_j r_ij z_ij,   z_ij = e_{a_ij} − π_{θ_i},

with α_i = softplus(η_{phase(i)}), phase 0 for i < cutoff (= K/10), 1 after. The objective is the
reward collected over the lifetime, J(η) = E[(1/K) Σ_{i<K} (1/N) Σ_j r_ij] = (1/K) Σ_{i<K} E[V(θ_i)]
(under a task distribution also averaged over tasks); every estimate is of ∇_η J, shape `(2,)`.

`run_lifetimes` is the one pass every estimator uses: it simulates R lifetimes and, inside a
window of L steps starting at w, differentiates their surrogate in forward mode (η has two
coordinates, so tangents T_i = dθ_i/dη `(R, K_arms, 2)` are cheaper than a reverse pass):

  q_ij = dlog π_{θ_i}(a_ij)/dη = T_iᵀ z_ij,
  estimate = (1/L) Σ_{i∈W} [(1/N) Σ_j r_ij q_ij  +  λ_c r̄_i C_i],  C_i = Σ_{i'∈W, i'<i} d^{i−i'} Σ_j q_i'j,
  T_w = 0,  T_{i+1} = T_i + α_i Ĵ_i T_i + ĝ_i (dα_i/dη)ᵀ   (i ∈ W),
  Ĵ_i = `naive`: (1/N) Σ_j r_ij ∇²log π(a_ij) = −r̄_i (diag π − ππᵀ)     (autodiff through ĝ),
        `dice`:  naive + (1/N) Σ_j r_ij z_ij z_ijᵀ                       (their DiCE inner loss).

This is exactly the gradient of their surrogate (`sample_lifetime`, `outer_loss_ignore_buffer`):
θ and η are stop-gradiented outside the window, the cumulative log-probability is reset there.
Their `e_maml_lambda` under `logpi_cum_fn = 'meta_batch_size'` is λ_c · N (the score of a batch
is Σ_j, they divide by N); their `'meta_discount'` variant is λ_c = 1 with discount d. With
L = K, λ_c = 1 and d = 1 the estimate is unbiased (score-function identity). The fitness of a
lifetime (for ES and finite differences) is the mean reward in the window, (1/(L N)) Σ_{i∈W} Σ_j r_ij.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import numpy as np

from estimators.bandit.problem import BanditLifetimeProblem
from estimators.problem import use_compiled
from mdps import schedule_phases, sigmoid, softplus

FUTURE_STRIDE = 16      # inner steps per gradient of the future-value baseline's continuation (`_future_values`)
Placement = Literal["random", "last"]
LifetimeJacobian = Literal["naive", "dice"]
# (step i, logits θ_i (R, A), policy π_i (R, A)) -> actions (R, N) int, rewards (R, N)
Draw = Callable[[int, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class LifetimePass:
    """How one lifetime becomes an estimate (module docstring).

    Attributes:
      jacobian: `naive` or `dice`.
      correction: λ_c ∈ [0, 1], the weight of the sampling correction (1 = the full batch score).
      meta_discount: d ∈ [0, 1], earlier scores weighted d^{i−i'} (their meta-discount variant).
      window: L, the truncation window (None = the whole lifetime).
      placement: `random` (start uniform in 0..K−L, theirs) or `last` (the last L steps).
      outer: `sampled` (theirs: the terms use the pulled rewards r_ij) or `exact` (mgbench's
        reference: their conditional expectation given the past, (1/N) Σ_j r_ij q_ij → T_iᵀ∇V(θ_i)
        and r̄_i → V(θ_i); same mean, less variance).
      baseline: `none` (theirs); `ideal`: r̄_i − b_i in the correction, b_i = V(θ̄_i) of the
        exact inner loop θ̄ of the task (fixed given the task, so E[b_i C_i] = 0: same mean);
        `future`: the score S_i' of batch i' multiplies Σ_{i>i'} d^{i−i'} (value_i) − β_i', with
        β_i' = Σ_{i>i'} d^{i−i'} V(θ̄_i) along exact inner steps from θ_i' (known before batch i'
        is drawn, so E[β_i' S_i'] = 0: same mean; a critic of the future lifetime value).
    """

    jacobian: LifetimeJacobian = "naive"
    correction: float = 0.0
    meta_discount: float = 1.0
    window: int | None = None
    placement: Placement = "random"
    outer: Literal["sampled", "exact"] = "sampled"
    baseline: Literal["none", "ideal", "future"] = "none"

    def __post_init__(self):
        if self.jacobian not in ("naive", "dice"):
            raise ValueError(f"jacobian: expected 'naive' or 'dice', got {self.jacobian!r}")
        if not 0.0 <= float(self.correction) <= 1.0:
            raise ValueError(f"lambda_c: expected a number in [0, 1], got {self.correction!r}")
        if not 0.0 <= float(self.meta_discount) <= 1.0:
            raise ValueError(f"meta_discount: expected a number in [0, 1], got {self.meta_discount!r}")
        if self.window is not None and (isinstance(self.window, bool) or not isinstance(self.window, (int, np.integer))
                                        or self.window < 1):
            raise ValueError(f"window: expected a positive integer, got {self.window!r}")
        if self.placement not in ("random", "last"):
            raise ValueError(f"placement: expected 'random' or 'last', got {self.placement!r}")
        if self.outer not in ("sampled", "exact") or self.baseline not in ("none", "ideal", "future"):
            raise ValueError(f"outer, baseline: expected 'sampled'/'exact' and 'none'/'ideal'/'future', "
                             f"got {self.outer!r}, {self.baseline!r}")

    def length(self, lifetime: int) -> int:
        """L, at most the lifetime."""
        return lifetime if self.window is None else min(int(self.window), lifetime)

    def starts(self, lifetime: int, rng: np.random.Generator, count: int) -> np.ndarray:
        """`(count,)` window starts w: uniform on 0..K−L (`random`) or K−L (`last`)."""
        last = lifetime - self.length(lifetime)
        if self.placement == "last":
            return np.full(count, last)
        return rng.integers(last + 1, size=count)


@dataclass(frozen=True)
class LifetimeOutcome:
    """What `run_lifetimes` returns for R lifetimes.

    Attributes:
      estimate: `(R, 2)` the surrogate's gradient (zeros when not differentiated).
      fitness: `(R,)` the mean reward in the window.
      log_probability: `(R,)` Σ_{i,j} log π_{θ_i}(a_ij) of the drawn actions (for enumeration).
      final_theta: `(R, K_arms)` θ_K (NaN, with the log-probability, for lifetimes whose steps
        after their window the compiled path skipped).
    """

    estimate: np.ndarray
    fitness: np.ndarray
    log_probability: np.ndarray
    final_theta: np.ndarray


def step_schedule(etas: np.ndarray, phases: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`(R, K)` step sizes α_i = softplus(η_{i, phase(i)}) and their slopes sigmoid(η_{i, phase(i)}),
    for etas `(R, 2)` (the same η at every step) or `(R, K, 2)`."""
    etas = np.asarray(etas, dtype=float)
    if etas.ndim == 2:      # elementwise functions of the (R, 2) etas, then spread over the steps: the same values
        return softplus(etas)[:, phases], sigmoid(etas)[:, phases]
    chosen = etas[:, np.arange(len(phases)), phases]
    return softplus(chosen), sigmoid(chosen)


def run_lifetimes(problem: BanditLifetimeProblem, etas: np.ndarray, draw: Draw, starts: np.ndarray,
                  settings: LifetimePass, *, differentiate: bool = True,
                  means: np.ndarray | None = None) -> LifetimeOutcome:
    """Simulate R lifetimes under schedules η_r and differentiate their surrogate in forward mode.

    Args:
      problem: the lifetime, cutoff and batch (tasks enter through `draw`).
      etas: `(R, 2)` one η per lifetime, or `(R, K, 2)` one per lifetime and inner step (PES's
        perturbations change from window to window); the tangents are then derivatives along
        a common shift of every step's η.
      draw: the pulls of each step (module type `Draw`): sampled, or fixed by enumeration.
      starts: `(R,)` window starts w.
      settings: the pass (Jacobian, λ_c, d, L).
      differentiate: False for the fitness only (ES, finite differences).
      means: `(R, K_arms)` the tasks; needed only by `outer = "exact"` and `baseline = "ideal"`.
    Returns:
      `LifetimeOutcome`.
    """
    etas = np.asarray(etas, dtype=float)
    n_rows, n_arms, lifetime = len(etas), problem.n_arms, problem.lifetime
    length = settings.length(lifetime)
    phases = schedule_phases(lifetime, problem.phase_cutoff)
    rates, rate_slopes = step_schedule(etas, phases)                        # (R, K) each: α_i, dα_i/dη_phase(i)
    theta = np.zeros((n_rows, n_arms))
    tangent = np.zeros((n_rows, n_arms, 2))                                # T_i = dθ_i/dη
    cumulative = np.zeros((n_rows, 2))                                     # C_i
    estimate, fitness, log_probability = np.zeros((n_rows, 2)), np.zeros(n_rows), np.zeros(n_rows)
    rows = np.arange(n_rows)[:, None]
    exact_outer, ideal_baseline = settings.outer == "exact", settings.baseline == "ideal"
    future_baseline = settings.baseline == "future"
    if (exact_outer or ideal_baseline or future_baseline) and means is None:
        raise ValueError("means: the exact outer terms and the ideal baseline need the tasks' arm means")
    ideal_theta = np.zeros((n_rows, n_arms))
    for step in range(lifetime):
        inside = (step >= starts) & (step < starts + length)                                   # (R,)
        logits = theta - theta.max(axis=1, keepdims=True)
        unnormalised = np.exp(logits)
        normaliser = unnormalised.sum(axis=1, keepdims=True)
        policy = unnormalised / normaliser
        actions, rewards = draw(step, theta, policy)
        batch = actions.shape[1]
        log_probability += (logits - np.log(normaliser))[rows, actions].sum(axis=1)
        mean_reward = rewards.mean(axis=1)
        fitness += inside * mean_reward
        gradient = _scatter(actions, rewards / batch, n_arms) - mean_reward[:, None] * policy       # ĝ_i
        phase = phases[step]
        if differentiate:
            # rows outside their window carry T = 0 and C = 0: work on the rows inside only
            active = np.flatnonzero(inside)
            new_tangent, new_cumulative = np.zeros_like(tangent), np.zeros_like(cumulative)
            if active.size:
                sub_tangent, sub_policy, sub_actions = tangent[active], policy[active], actions[active]
                sub_rewards, sub_mean = rewards[active], mean_reward[active]
                sub_rows = np.arange(active.size)[:, None]
                policy_tangent = (sub_policy[..., None] * sub_tangent).sum(axis=1)                  # πᵀT (r, 2)
                scores = sub_tangent[sub_rows, sub_actions] - policy_tangent[:, None, :]             # q_ij (r, N, 2)
                if exact_outer:
                    value = (sub_policy * means[active]).sum(axis=1)
                    pathwise = ((sub_policy * (means[active] - value[:, None]))[..., None] * sub_tangent).sum(axis=1)
                else:
                    value, pathwise = sub_mean, (sub_rewards[..., None] * scores).mean(axis=1)
                if ideal_baseline:
                    ideal_policy = np.exp(ideal_theta[active] - ideal_theta[active].max(axis=1, keepdims=True))
                    ideal_policy /= ideal_policy.sum(axis=1, keepdims=True)
                    value = value - (ideal_policy * means[active]).sum(axis=1)
                batch_scores = scores.sum(axis=1)                                                    # S_i (r, 2)
                estimate[active] += pathwise + settings.correction * value[:, None] * cumulative[active]
                if future_baseline:
                    future = _future_values(theta[active], means[active], rates[active][:, step:],
                                            starts[active] + length - step, settings.meta_discount)
                    estimate[active] -= settings.correction * future[:, None] * batch_scores
                new_cumulative[active] = (cumulative[active] + batch_scores) * settings.meta_discount
                product = -sub_mean[:, None, None] * sub_policy[..., None] * (sub_tangent - policy_tangent[:, None, :])
                if settings.jacobian == "dice":       # (1/N) Σ_j r_ij z_ij q_ijᵀ
                    weighted = sub_rewards[..., None] * scores / batch                               # (r, N, 2)
                    product += (np.stack([_scatter(sub_actions, weighted[..., c], n_arms) for c in range(2)], axis=-1)
                                - sub_policy[..., None] * weighted.sum(axis=1)[:, None, :])
                rate_tangent = np.zeros((active.size, 2))
                rate_tangent[:, phase] = rate_slopes[active, step]
                new_tangent[active] = (sub_tangent + rates[active, step, None, None] * product
                                       + gradient[active][..., None] * rate_tangent[:, None, :])
            tangent, cumulative = new_tangent, new_cumulative
        if ideal_baseline:
            ideal_policy = np.exp(ideal_theta - ideal_theta.max(axis=1, keepdims=True))
            ideal_policy /= ideal_policy.sum(axis=1, keepdims=True)
            ideal_value = (ideal_policy * means).sum(axis=1)
            ideal_theta = ideal_theta + rates[:, step, None] * ideal_policy * (means - ideal_value[:, None])
        theta = theta + rates[:, step, None] * gradient
    return LifetimeOutcome(estimate / length, fitness / length, log_probability, theta)


def _future_values(theta: np.ndarray, means: np.ndarray, rates: np.ndarray, remaining: np.ndarray,
                   discount: float, stride: int | None = None) -> np.ndarray:
    """β = Σ_{l=1}^{m−1} d^l V(θ̄_l) along exact inner steps θ̄_{l+1} = θ̄_l + α_l ∇V(θ̄_l) from θ̄_0 = θ,
    m = `remaining` steps left in the window (per row), rates `(R, ≥ m)` from the current step on.
    The continuation takes `stride` steps at once (one gradient, the summed rates; V held over
    the stride; `FUTURE_STRIDE` = 16 by default: measured on vuorio2022-bandit, the variance is
    that of stride 4 within noise at 0.55 of its cost): any function of θ is a valid baseline,
    this one is cheap. `(R,)`."""
    stride = FUTURE_STRIDE if stride is None else stride
    total = np.zeros(len(theta))
    current, horizon = theta, int(remaining.max()) if len(remaining) else 0
    policy = np.exp(current - current.max(axis=1, keepdims=True))
    policy /= policy.sum(axis=1, keepdims=True)
    for start in range(0, max(horizon - 1, 0), stride):
        offsets = np.arange(start, min(start + stride, horizon - 1))            # steps start..: θ̄_{offset+1}
        value = (policy * means).sum(axis=1)
        current = current + rates[:, offsets].sum(axis=1)[:, None] * policy * (means - value[:, None])
        policy = np.exp(current - current.max(axis=1, keepdims=True))
        policy /= policy.sum(axis=1, keepdims=True)
        value = (policy * means).sum(axis=1)
        weights = ((offsets[None] + 1 < remaining[:, None]) * discount ** (offsets + 1.0)).sum(axis=1)
        total += weights * value
    return total


def _scatter(actions: np.ndarray, weights: np.ndarray, n_arms: int) -> np.ndarray:
    """Σ_j w_rj e_{a_rj}, `(R, K_arms)`."""
    n_rows = len(actions)
    index = (np.arange(n_rows)[:, None] * n_arms + actions).ravel()
    return np.bincount(index, np.broadcast_to(weights, actions.shape).ravel(), n_rows * n_arms).reshape(n_rows, n_arms)


def sampled_draw(means: np.ndarray, noise: float, batch: int, rng: np.random.Generator, *, shared: int = 1) -> Draw:
    """Sampled pulls r = μ_a + σε, a ~ π_θ.

    Independent lifetimes (`shared = 1`) draw a by inversion of the CDF (cheapest). Groups of
    `shared > 1` consecutive lifetimes use common random numbers through the Gumbel-max trick,
    a = argmax(θ + G), as `jax.random.categorical` does in their code, so that the coupling of
    perturbed lifetimes (and hence the variance of ES and finite differences) is theirs.

    Args:
      means: `(R, K_arms)` the task of each lifetime.
      shared: consecutive groups of `shared` lifetimes share G and ε (1 = independent).
    """
    n_rows, n_arms = means.shape
    if n_rows % shared:
        raise ValueError(f"shared: {shared} does not divide the {n_rows} lifetimes")
    groups = n_rows // shared

    def common(draws: np.ndarray) -> np.ndarray:
        return np.broadcast_to(draws, (groups, shared, *draws.shape[2:])).reshape(n_rows, *draws.shape[2:])

    def draw(step: int, logits: np.ndarray, policy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if shared == 1:
            cumulative = np.cumsum(policy, axis=1)
            uniforms = rng.random((n_rows, batch, 1))
            actions = np.minimum((cumulative[:, None, :] <= uniforms).sum(axis=-1), n_arms - 1)
        else:
            actions = np.argmax(logits[:, None, :] + common(rng.gumbel(size=(groups, 1, batch, n_arms))), axis=-1)
        rewards = np.take_along_axis(means, actions, axis=1)
        if noise:
            rewards = rewards + noise * common(rng.standard_normal((groups, 1, batch)))
        return actions, rewards

    return draw


def sampled_lifetimes(problem: BanditLifetimeProblem, means: np.ndarray, etas: np.ndarray, rng: np.random.Generator,
                      settings: LifetimePass, *, shared: int = 1, differentiate: bool = True,
                      starts: np.ndarray | None = None) -> LifetimeOutcome:
    """R sampled lifetimes (tasks `means (R, K_arms)`, schedules `etas (R, 2)`); groups of `shared`
    consecutive lifetimes share their random numbers and their window (drawn by `settings`, or
    given: `starts (R,)`, then nothing is drawn for them). With `problem.kernel`
    `compiled` (and numba installed) `compiled_lifetimes` computes the same numbers from the same
    random stream; the `ideal` baseline and the `future` baseline with windows at random
    positions run on the numpy path only."""
    if len(etas) % shared:
        raise ValueError(f"shared: {shared} does not divide the {len(etas)} lifetimes")
    if starts is None:
        starts = np.repeat(settings.starts(problem.lifetime, rng, len(etas) // shared), shared)
    if use_compiled(problem.kernel) and compiled_supports(settings, problem.lifetime):
        return compiled_lifetimes(problem, means, etas, rng, settings, starts, shared=shared,
                                  differentiate=differentiate)
    draw = sampled_draw(means, problem.tasks.noise, problem.batch, rng, shared=shared)
    return run_lifetimes(problem, etas, draw, starts, settings, differentiate=differentiate, means=means)


# ----------------------------------------------------------------------------- the compiled path

DRAWS_PER_CALL = 1 << 17        # random numbers drawn ahead of one kernel call (1 MB of float64, reused: stays in cache)


def compiled_supports(settings: LifetimePass, lifetime: int) -> bool:
    """Whether `compiled_lifetimes` computes this pass: all but the `ideal` baseline, and the
    `future` baseline only with every window ending at the lifetime's end (where the numpy
    path's continuation horizon, the longest remaining window over the rows, is each row's own)."""
    if settings.baseline == "ideal":
        return False
    return settings.baseline != "future" or settings.placement == "last" or settings.length(lifetime) == lifetime


def compiled_lifetimes(problem: BanditLifetimeProblem, means: np.ndarray, etas: np.ndarray, rng: np.random.Generator,
                       settings: LifetimePass, starts: np.ndarray, *, shared: int = 1,
                       differentiate: bool = True) -> LifetimeOutcome:
    """`run_lifetimes` with `sampled_draw`'s pulls, in the kernel `estimators.bandit.kernels.advance`.

    The random numbers are drawn step by step in the numpy path's order (per step the
    uniforms `(R, N)`, or the Gumbel noise `(G, N, K_arms)` when `shared` > 1, then the reward
    noise `(G, N)`), a block of steps at a time into buffers reused from block to block (1 MB:
    they stay in cache), and the kernel rolls the lifetimes through each block. The uniforms and
    normals are drawn by `kernels.draw_block` (numba's Generator: numpy's numbers bit for bit,
    the generator left in numpy's state), the Gumbel noise by numpy. A lifetime's steps after its window are skipped (they change neither the
    estimate nor the fitness): its `final_theta` and `log_probability` are then NaN.
    """
    from estimators.bandit import kernels as bandit_kernels     # imports numba (once per process)

    etas = np.asarray(etas, dtype=float)
    n_rows, n_arms, lifetime, batch = len(etas), problem.n_arms, problem.lifetime, problem.batch
    width = bandit_kernels.padded_arms(n_arms)        # arms padded to whole SIMD vectors (`kernels.advance`)
    means = np.pad(np.asarray(means, dtype=float), ((0, 0), (0, width - n_arms)))
    noise, groups = float(problem.tasks.noise), n_rows // shared
    length = settings.length(lifetime)
    phases = np.asarray(schedule_phases(lifetime, problem.phase_cutoff), dtype=np.int64)
    if etas.ndim == 2:      # one column per phase, `columns` = the phases (`step_schedule`'s values, not spread)
        rates, slopes, columns = np.ascontiguousarray(softplus(etas)), np.ascontiguousarray(sigmoid(etas)), phases
    else:
        rates, slopes = (np.ascontiguousarray(table) for table in step_schedule(etas, phases))
        columns = np.arange(lifetime, dtype=np.int64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    theta, tangent = np.zeros((n_rows, width)), np.zeros((n_rows, 2, width))
    theta[:, n_arms:] = bandit_kernels.PADDING_LOGIT
    cumulative, estimate = np.zeros((n_rows, 2)), np.zeros((n_rows, 2))
    fitness, log_probability = np.zeros(n_rows), np.zeros(n_rows)
    per_step = batch * (n_rows if shared == 1 else groups * n_arms) + (groups * batch if noise else 0)
    block = max(1, DRAWS_PER_CALL // max(per_step, 1))
    stop = bool(starts.size) and bool((starts + length < lifetime).any())
    empty3, empty4 = np.zeros((0, 0, 0)), np.zeros((0, 0, 0, 0))
    block = min(block, lifetime)
    all_uniforms = np.empty((block, n_rows, batch)) if shared == 1 else empty3     # reused by every block:
    all_gumbels = np.empty((block, groups, batch, n_arms)) if shared > 1 else empty4   # in cache, no page faults
    all_normals = np.empty((block, groups, batch)) if noise else empty3
    for first in range(0, lifetime, block):
        count = min(block, lifetime - first)
        uniforms = all_uniforms[:count] if shared == 1 else empty3
        gumbels = all_gumbels[:count] if shared > 1 else empty4
        normals = all_normals[:count] if noise else empty3
        if shared == 1:
            bandit_kernels.draw_block(rng, uniforms, normals)      # numpy's numbers and order, in numba
        else:
            for step in range(count):
                gumbels[step] = rng.gumbel(size=(groups, batch, n_arms))
                if noise:
                    rng.standard_normal(out=normals[step])
        bandit_kernels.advance(first, phases, rates, slopes, columns, means, starts, length, uniforms, gumbels, normals, shared,
                               noise, differentiate, settings.jacobian == "dice", float(settings.correction),
                               float(settings.meta_discount), settings.outer == "exact", settings.baseline == "future",
                               FUTURE_STRIDE, stop, theta, tangent, cumulative, estimate, fitness, log_probability, n_arms)
    theta = np.ascontiguousarray(theta[:, :n_arms])
    if stop:
        ended = starts + length < lifetime
        theta[ended], log_probability[ended] = np.nan, np.nan
    return LifetimeOutcome(estimate / length, fitness / length, log_probability, theta)
