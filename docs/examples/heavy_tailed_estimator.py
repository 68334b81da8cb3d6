"""A synthetic heavy-tailed estimator with a known mean and variance, for checking intervals.

On the Gaussian toy: the exact gradient plus `scale` times Student-t noise with ν degrees of
freedom, normalised to variance 1, so the estimates have bias 0, variance `scale²` and
kurtosis 3 + 6/(ν − 4) (ν = 4.004: about 1,500, as Vuorio et al.'s bandit estimates;
docs/methods.md, Heavy tails). `copy` changes nothing but the cell, so a grid over it gives
independent cells with the same truth. Use it with

    mgbench sweep docs/examples/heavy-tailed.toml --plugin docs/examples/heavy_tailed_estimator.py
"""
import numpy as np

from estimators import ToyProblem, register


@register("heavy_tailed_toy", problem="gaussian_toy",
          description="example plug-in: exact gradient + scale·t_ν/sd(t_ν) (bias 0, variance scale², heavy tails)")
def heavy_tailed_toy(problem: ToyProblem, repetitions: int, rng: np.random.Generator, *,
                     nu: float = 4.004, scale: float = 1.0, copy: int = 0) -> np.ndarray:
    """`(R, 1)` estimates; randomness only from `rng`."""
    noise = rng.standard_t(nu, (repetitions, 1)) / np.sqrt(nu / (nu - 2.0))
    return problem.exact_gradient() + scale * noise
