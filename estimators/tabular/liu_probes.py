"""Liu et al.'s probes of the two sources of meta-gradient bias (arXiv 2112.15400).

- `hessian_bias`: the multi-step Hessian bias study. Everything is exact, but the Jacobian
  of every inner step uses a perturbed Hessian H_k + diag(2(c + 0.3 ε)/(S·A)), ε ~ N(0, 1)
  fresh per coordinate, step and repetition (their released code adds
  mean(θ² ⊙ (c + 0.3 ε)) to the Hessian surrogate). Its expectation is the reverse
  accumulation with the deterministic shift H_k + (2c/(S·A)) I (`hessian_bias_expectation`).
- `off_policy`: mgbench's own variant of off-policy reuse, not Liu et al.'s method (they
  test reuse only on the Iterated Prisoner's Dilemma, with a replay buffer of 1,024
  trajectories kept across outer iterations and importance weights on the inner gradient and
  the Hessian). Here: the split estimator with sampled inner gradients, where the inner
  gradient at step k also reuses the rollouts of the last M inner steps of the same loop,
  reweighted to π_{θ_k} by per-decision importance ratios (inner gradient only).
"""
from __future__ import annotations

import numpy as np

from estimators.tabular.problem import MetaProblem

from estimators.problem import positive_int
from estimators.registry import register
from estimators.tabular.split import split_meta_gradient
from estimators.tabular.surrogates import FAMILIES, Batch, critic_values, importance_weighted_gradient


def injected_hessian_error(c, n_states: int, n_actions: int):
    """Δ_H = ‖E[Ĥ] − H‖ = 2c/(S·A): the Hessian shift `hessian_bias` injects (a float or an array of c)."""
    return 2.0 * c / (n_states * n_actions)


def _perturbed_reverse_accumulation(problem: MetaProblem, repetitions: int, rng: np.random.Generator | None, *,
                                    c: float, noise: float) -> np.ndarray:
    """Exact iterates and outer gradient; v ← v + α (H_k v + diag(2(c + noise·ε)/(S·A)) v)."""
    inner_mdp, lr = problem.inner_mdp, float(problem.lr)
    iterates = problem.exact_iterates
    shape = (repetitions, *problem.shape)
    vector = np.broadcast_to(problem.exact_outer_gradient, shape).copy()
    meta = np.zeros(shape)
    for iterate in reversed(iterates[:-1]):
        hessian_vector, mixed = inner_mdp.tangents(iterate, vector)
        if problem.meta_parameter == "intrinsic":
            meta = meta + lr * mixed
        shift = c if rng is None else c + noise * rng.standard_normal(shape)
        vector = vector + lr * (hessian_vector + injected_hessian_error(shift, *problem.shape) * vector)
    return meta if problem.meta_parameter == "intrinsic" else vector


@register("hessian_bias", problem="tabular",
          description="exact meta-gradient with Hessians H + diag(2(c + noise*eps)/(S*A)) (Liu et al.'s Hessian-bias study)")
def hessian_bias(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, c: float = 1.0,
                 noise: float = 0.3) -> np.ndarray:
    """Exact inner loop and outer gradient; the Jacobian of step k is I + α (H_k + D_k).

    D_k = diag(2 (c + noise·ε_k) / (S·A)), ε_k ~ N(0, I_{S·A}) fresh per step and
    repetition (drawn for k = K-1, ..., 0), so the injected Hessian bias is E[D_k] = 2c/(S·A) I
    and Δ_H = 2|c|/(S·A) in the bound O((K - 1) Δ_H^{K-1}). For `intrinsic`, the mixed
    terms are exact and only the Jacobians are perturbed.

    Args:
      problem: the `MetaProblem`.
      repetitions: R.
      rng: the only source of randomness.
      c: the bias coefficient c.
      noise: the noise factor (0.3 in Liu et al.).
    Returns:
      `(R, S, A)` estimates.
    """
    return _perturbed_reverse_accumulation(problem, positive_int("repetitions", repetitions), rng,
                                           c=float(c), noise=float(noise))


def hessian_bias_expectation(problem: MetaProblem, *, c: float = 1.0) -> np.ndarray:
    """E[`hessian_bias`] `(S, A)` in closed form: reverse accumulation with H_k + (2c/(S·A)) I.

    Exact because the D_k are independent of each other and of everything else, and the
    accumulation is multilinear in them.
    """
    return _perturbed_reverse_accumulation(problem, 1, None, c=float(c), noise=0.0)[0]


class _ReusedInnerGradient:
    """Inner-gradient hook of `split_meta_gradient`: mean over the trajectories of the current
    inner batch (on-policy gradient of the family) and of the last M inner batches (per-decision
    importance-weighted gradient of π_{θ_k}, critic re-evaluated for π_{θ_k} with each batch's
    own noise draw)."""

    def __init__(self, problem: MetaProblem, family: str, reuse: int, rho_bar: float | None):
        self.problem, self.family, self.reuse, self.rho_bar = problem, family, reuse, rho_bar
        self.history: list[Batch] = []

    def __call__(self, step: int, thetas: np.ndarray, batch: Batch, on_policy: np.ndarray) -> np.ndarray:
        reused = self.history[-self.reuse:] if self.reuse > 0 else []
        total, count = on_policy * batch.shape[1], batch.shape[1]
        for old in reused:
            values = None if self.family == "dice" else critic_values(
                self.problem.mdp, thetas, old.critic, rewards=self.problem.inner_mdp.rewards,
                noise_scale=old.noise_scale, noise_draw=old.noise_draw)
            total = total + old.shape[1] * importance_weighted_gradient(old, thetas, values=values,
                                                                        rho_bar=self.rho_bar)
            count += old.shape[1]
        if self.reuse > 0:
            self.history = (self.history + [batch])[-self.reuse:]
        return total / count if reused else on_policy


def _check_off_policy(parameters, setting) -> None:
    """`validate` of `off_policy` (the checks of its body, run when a sweep is loaded)."""
    if parameters["family"] not in FAMILIES:
        raise ValueError(f"family: expected one of {', '.join(FAMILIES)}, got {parameters['family']!r}")
    reuse = parameters["reuse"]
    if isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer)) or reuse < 0:
        raise ValueError(f"reuse: expected a non-negative integer, got {reuse!r}")
    rho_bar = parameters["rho_bar"]
    if rho_bar is not None and (isinstance(rho_bar, (bool, str)) or not rho_bar > 0):
        raise ValueError(f"rho_bar: expected None or a positive number, got {rho_bar!r}")
    split = parameters["split"]
    if not isinstance(split, str) or not split.startswith("l"):
        raise ValueError(f"split: off_policy needs a sampled inner gradient (first letter l), got {split!r}")


@register("off_policy", problem="tabular", validate=_check_off_policy,
          description="mgbench's own variant of off-policy reuse (not Liu et al.'s IPD replay buffer): inner "
                      "gradients also reuse the last `reuse` inner batches of the loop, per-decision importance "
                      "weights (truncated at rho_bar)")
def off_policy(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, family: str = "maml",
               lambda_: float = 1.0, reuse: int = 1, rho_bar: float | None = None, batch: int = 32,
               split: str = "lee", n_inner: int | None = None, n_hessian: int | None = None,
               n_outer: int | None = None, shared: bool = False) -> np.ndarray:
    """The split estimator of `family` with off-policy reuse in the inner loop.

    ĝ_k = mean over the n_inner trajectories of step k (the family's ĝ) and the n_inner
    trajectories of each of the steps k-M..k-1 (their per-decision importance-weighted
    gradient of π_{θ_k}, ρ_{0:t} = Π_{i≤t} π_{θ_k}(a_i|s_i)/π_{θ_j}(a_i|s_i), optionally
    min(ρ_{0:t}, ρ̄); see `estimators.tabular.surrogates.importance_weighted_gradient`). The reused
    part is the return-based (λ = 1) form whatever `lambda_`. Hessians and the outer
    gradient are as in `split_meta_gradient` (not reweighted). With `reuse = 0` this is the
    plain split estimator, draw for draw.

    Args:
      problem, repetitions, rng: as for every estimator.
      family: surrogate family (see `estimators.tabular.surrogates.FAMILIES`).
      lambda_: λ of `loaded`.
      reuse: M >= 0, the number of earlier inner batches reused.
      rho_bar: truncation ρ̄ of the cumulative ratios (None: none).
      batch, split, n_inner, n_hessian, n_outer, shared: as in `split_meta_gradient`; the
        inner letter of `split` must be `l`.
    Returns:
      `(R, S, A)` estimates.
    """
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
    if isinstance(reuse, bool) or not isinstance(reuse, (int, np.integer)) or reuse < 0:
        raise ValueError(f"reuse: expected a non-negative integer, got {reuse!r}")
    if rho_bar is not None and not rho_bar > 0:
        raise ValueError(f"rho_bar: expected None or a positive number, got {rho_bar!r}")
    if not isinstance(split, str) or not split.startswith("l"):
        raise ValueError(f"split: off_policy needs a sampled inner gradient (first letter l), got {split!r}")
    hook = _ReusedInnerGradient(problem, family, int(reuse), rho_bar)
    return split_meta_gradient(problem, repetitions, rng, family, lambda_=lambda_, batch=batch, split=split,
                               n_inner=n_inner, n_hessian=n_hessian, n_outer=n_outer, shared=shared,
                               inner_gradient=hook)
