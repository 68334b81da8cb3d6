"""The registered estimators of the practical target ∇_φ E[V_out(θ_K)] (sampled inner steps).

Each is one setting of the reverse pass of `estimators.inner_paths` (whose docstring has
the maths): `sf` (naive Jacobian, correction λ_c = 1: unbiased), `sampling_correction`
(λ_c free) and `lsf` (Tang's Jacobian, no correction). The target itself is
`estimators.enumeration.practical_target`.
"""
from __future__ import annotations

import numpy as np

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
