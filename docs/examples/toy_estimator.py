"""A Gaussian-toy estimator written outside mgbench (problem family `gaussian_toy`).

The score-function estimate with the leave-one-out baseline: f(X̄) is replaced by f(X̄) − b
with b the mean of f over the other repetitions' sample means, which keeps it unbiased
(b does not depend on this repetition's samples) and removes most of SF's variance near the
optimum. Use it with

    mgbench compare docs/examples/toy_estimator.py:sf_with_baseline --quick

Contract (docs/plugins.md): `problem` is an `estimators.ToyProblem` (the toy `problem.toy`
at `problem.theta` with `problem.n_samples` samples); return `(R, 1)` estimates of
d/dθ E[f(X̄_N)]; `rng` is the only source of randomness.
"""
import numpy as np

from estimators import ToyProblem, register


@register("sf_with_baseline", problem="gaussian_toy",
          description="example plug-in: score function with a leave-one-out baseline",
          bounds=("sf_variance",))   # claimed: judged against Tang's Θ(N) variance bound by `mgbench compare`
def sf_with_baseline(problem: ToyProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """(f(X̄_r) − b_r) Σ_i (X_ri − θ)/σ², b_r = mean over r' ≠ r of f(X̄_r'); shape `(R, 1)`."""
    samples = problem.toy.sample(problem.theta, problem.n_samples, repetitions, rng)     # (R, N)
    values = problem.toy.f(samples.mean(axis=1))                                         # (R,)
    baseline = (values.sum() - values) / max(repetitions - 1, 1)
    scores = problem.toy.score(problem.theta, samples).sum(axis=1)
    return ((values - baseline) * scores)[:, None]
