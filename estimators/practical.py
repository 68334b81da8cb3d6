"""The practical target ∇_φ E[V_out(θ_K)] with *sampled* inner steps, and its estimators.

Inner step (REINFORCE with rewards-to-go, no baseline, truncated rollouts of length T):
  θ_k = θ_{k-1} + α ĝ(θ_{k-1}; b_k),   ĝ = Σ_m w_m Σ_t γᵗ R_{m,t} z_{m,t},
where batch b_k holds trajectories m with weights w_m (1/N when sampled) and
R_t = Σ_{j≥t} γ^{j-t} r_j. The outer objective V_out(θ_K) is exact.

Every estimator here is one reverse pass over a path of batches (λ is the adjoint of θ):
  λ_K = ∇V_out(θ_K);   λ_{k-1} = λ_k + α Ĵ_kᵀ λ_k + λ_c (V_out(θ_K) − b) s_k,
with s_k = Σ_{m∈b_k} Σ_t z_{m,t} the batch score and Ĵ_k the Jacobian estimate:
  `naive`  ∇_θ ĝ with samples held fixed = Σ w Σ γᵗ R_t ∇²log π_t     (autodiff through ĝ)
  `dice`   naive + Σ w Σ γᵗ r_t G_t G_tᵀ                              (DiCE Hessian, same batch)
  `lsf`    naive + Σ w s_m ĝ_mᵀ                                      (Tang 2022)
`sf` = naive with λ_c = 1: unbiased for the practical target. The exact target is the
same pass averaged over *every* path, weighted by its probability (enumeration), or
a high-repetition `sf` run with its standard error (reference).
"""
from __future__ import annotations

import numpy as np

from estimators.enumeration import practical_target  # noqa: F401  (the target, for benchmark/cells.py)
from estimators.inner_paths import PracticalPass, practical_estimates
from estimators.problem import MetaProblem
from estimators.registry import register


@register("sf", problem="tabular",
          description="unbiased score-function meta-gradient of the practical target (pathwise + full sampling correction)")
def score_function(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                   baseline: str = "none") -> np.ndarray:
    """Naive Jacobian + sampling correction with λ_c = 1: unbiased for ∇_φ E[V_out(θ_K)]."""
    return practical_estimates(problem, repetitions, rng, batch=batch,
                               settings=PracticalPass("naive", 1.0, None, baseline))


@register("sampling_correction", problem="tabular",
          description="naive autodiff Jacobian plus λ_c times the sampling correction (E-MAML / SG-MRL)")
def sampling_correction(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                        lambda_c: float = 1.0, baseline: str = "none") -> np.ndarray:
    """λ_c ∈ [0, 1] interpolates naive backprop (0) and the unbiased estimator (1)."""
    return practical_estimates(problem, repetitions, rng, batch=batch,
                               settings=PracticalPass("naive", lambda_c, None, baseline))


@register("lsf", problem="tabular",
          description="linearised score function (Tang 2022): Jacobian I + α (1/N) Σ [∇ĝ_i + ĝ_i ∇log p(τ_i)ᵀ]")
def linearised_score_function(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                              batch: int = 32) -> np.ndarray:
    """Tang's LSF Jacobian in every inner step, exact outer gradient, no correction term."""
    return practical_estimates(problem, repetitions, rng, batch=batch, settings=PracticalPass("lsf", 0.0))
