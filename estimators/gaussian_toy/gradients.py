"""Estimators of ∇_θ E[f(X̄_N)] on the Gaussian toy (Tang 2022), vectorized over R.

With X_i ~ N(θ, σ²), score s_i = (X_i - θ)/σ², f(x) = -(x - c)²:
- `sf`  (unbiased):        f(X̄) Σ_i s_i;                      Var = Θ(N).
- `lsf` (Tang 2022):       f'(X̄) (1/N) Σ_i X_i s_i;           bias -2θ/N (σ = 1), Var O(1/N).
- `pw`  (pathwise):        f'(X̄);                             unbiased, Var 4σ²/N.
"""
from __future__ import annotations

import numpy as np

from estimators.gaussian_toy.problem import ToyProblem
from estimators.registry import register


def _draw(problem: ToyProblem, repetitions: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    samples = problem.toy.sample(problem.theta, problem.n_samples, repetitions, rng)
    return samples, problem.toy.score(problem.theta, samples)


@register("sf", problem="gaussian_toy", description="unbiased score function f(X̄) Σ_i ∇log p(X_i)")
def score_function(problem: ToyProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """f(X̄_N) Σ_i (X_i - θ)/σ², shape `(R, 1)`."""
    samples, scores = _draw(problem, repetitions, rng)
    return (problem.toy.f(samples.mean(axis=1)) * scores.sum(axis=1))[:, None]


@register("lsf", problem="gaussian_toy", description="linearised score function f'(X̄) (1/N) Σ_i X_i ∇log p(X_i) (Tang 2022)")
def linearised_score_function(problem: ToyProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """f'(X̄_N) (1/N) Σ_i X_i (X_i - θ)/σ², shape `(R, 1)`."""
    samples, scores = _draw(problem, repetitions, rng)
    return (problem.toy.f_prime(samples.mean(axis=1)) * (samples * scores).mean(axis=1))[:, None]


@register("pw", problem="gaussian_toy", description="pathwise (reparameterised) f'(X̄)")
def pathwise(problem: ToyProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """f'(X̄_N), shape `(R, 1)`."""
    samples, _ = _draw(problem, repetitions, rng)
    return problem.toy.f_prime(samples.mean(axis=1))[:, None]


def lsf_mean(problem: ToyProblem) -> float:
    """E[LSF] = -2(θ - c) - 2θ/N in closed form, for any σ.

    With X = θ + σZ, Y_i = X_i (X_i - θ)/σ² = θZ_i/σ + Z_i², so E[Y_i] = 1 and
    Cov(X_i, Y_i) = θ. Hence E[(X̄ - c) Ȳ] = (θ - c) + Cov(X̄, Ȳ) = (θ - c) + θ/N.
    """
    return -2.0 * (problem.theta - problem.toy.c) - 2.0 * problem.theta / problem.n_samples


def pw_variance(problem: ToyProblem) -> float:
    """Var[f'(X̄)] = 4 σ²/N."""
    return 4.0 * problem.toy.sigma**2 / problem.n_samples


def sf_variance(problem: ToyProblem) -> float:
    """Var[f(X̄) Σ s_i] in closed form (Gaussian moments), grows linearly in N.

    Write X̄ = θ + σ Z/√N, Σ s_i = √N Z/σ with Z ~ N(0,1), δ = θ - c, u = σ/√N:
    f(X̄) Σ s_i = -(δ + u Z)² √N Z / σ. Its mean is -2δ (unbiased). With
    E[(δ + uZ)⁴ Z²] = δ⁴ + 18 δ² u² + 15 u⁴ (odd moments vanish; E Z²=1, Z⁴=3, Z⁶=15):
    E[(·)²] = (N/σ²)(δ⁴ + 18δ²u² + 15u⁴), Var = that - 4δ².
    """
    delta = problem.theta - problem.toy.c
    n, sigma = problem.n_samples, problem.toy.sigma
    u2 = sigma**2 / n
    second_moment = (n / sigma**2) * (delta**4 + 18 * delta**2 * u2 + 15 * u2**2)
    return second_moment - 4 * delta**2
