"""The registered estimators of the practical target ∇_φ E[V_out(θ_K)] (sampled inner steps).

Each is one setting of the reverse pass of `estimators.tabular.inner_paths` (whose docstring has
the maths): `sf` (naive Jacobian, correction λ_c = 1: unbiased), `sampling_correction`
(λ_c free) and `lsf` (Tang's Jacobian, no correction). The target itself is
`estimators.tabular.enumeration.practical_target`.
"""
from __future__ import annotations

import numpy as np

from estimators.pathwise import pathwise_pass
from estimators.tabular.inner_paths import PracticalPass, practical_estimates
from estimators.tabular.problem import MetaProblem
from estimators.registry import register

BASELINES = ("none", "initial_value")


def _check_practical_pass(parameters, setting) -> None:
    """`validate` of the estimators of this module: a known `baseline`, and critic `none`
    (the reverse pass of `inner_paths` has no critic baseline)."""
    if "baseline" in parameters and parameters["baseline"] not in BASELINES:
        raise ValueError(f"baseline: expected one of {', '.join(BASELINES)}, got {parameters['baseline']!r}")
    if setting.get("critic") not in (None, "none"):
        raise ValueError(f"critic: expected 'none' (the sampled inner loop has no critic baseline), "
                         f"got {setting['critic']!r}")


@pathwise_pass("tabular", "sf")
def score_function_pass(*, baseline: str = "none") -> PracticalPass:
    """The pass of `sf`: naive Jacobian, λ_c = 1."""
    return PracticalPass("naive", 1.0, None, baseline)


@pathwise_pass("tabular", "sampling_correction")
def sampling_correction_pass(*, lambda_c: float = 1.0, baseline: str = "none") -> PracticalPass:
    """The pass of `sampling_correction`: naive Jacobian, λ_c free."""
    return PracticalPass("naive", lambda_c, None, baseline)


@pathwise_pass("tabular", "lsf")
def linearised_score_function_pass() -> PracticalPass:
    """The pass of `lsf`: Tang's Jacobian, no correction."""
    return PracticalPass("lsf", 0.0)


@register("sf", problem="tabular", validate=_check_practical_pass,
          description="unbiased score-function meta-gradient of the practical target (pathwise + full sampling correction)")
def score_function(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                   baseline: str = "none") -> np.ndarray:
    """Naive Jacobian + sampling correction with λ_c = 1: unbiased for ∇_φ E[V_out(θ_K)]."""
    return practical_estimates(problem, repetitions, rng, batch=batch, settings=score_function_pass(baseline=baseline))


@register("sampling_correction", problem="tabular", validate=_check_practical_pass,
          description="naive autodiff Jacobian plus λ_c times the sampling correction (E-MAML / SG-MRL)")
def sampling_correction(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                        lambda_c: float = 1.0, baseline: str = "none") -> np.ndarray:
    """λ_c ∈ [0, 1] interpolates naive backprop (0) and the unbiased estimator (1)."""
    return practical_estimates(problem, repetitions, rng, batch=batch,
                               settings=sampling_correction_pass(lambda_c=lambda_c, baseline=baseline))


@register("lsf", problem="tabular", validate=_check_practical_pass,
          description="linearised score function (Tang 2022): Jacobian I + α (1/N) Σ [∇ĝ_i + ĝ_i ∇log p(τ_i)ᵀ]")
def linearised_score_function(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                              batch: int = 32) -> np.ndarray:
    """Tang's LSF Jacobian in every inner step, exact outer gradient, no correction term."""
    return practical_estimates(problem, repetitions, rng, batch=batch, settings=linearised_score_function_pass())
