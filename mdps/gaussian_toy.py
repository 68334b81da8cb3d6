"""The N-sample Monte-Carlo toy of Tang (2022): L_N(θ) = E[f(X̄_N)], X_i ~ N(θ, σ²).

With f(x) = -(x - c)², L_N(θ) = -(θ - c)² - σ²/N and ∇L_N(θ) = -2(θ - c), in closed form.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GaussianToy:
    """f(X̄_N) with X_i ~ N(θ, σ²) iid and f(x) = -(x - c)².

    Attributes:
      sigma: σ > 0, the sampling standard deviation.
      c: the maximiser of f.
    """

    sigma: float = 1.0
    c: float = 1.0

    def __post_init__(self):
        if not np.isfinite(self.sigma) or self.sigma <= 0:
            raise ValueError(f"sigma: expected a positive number, got {self.sigma!r}")
        if not np.isfinite(self.c):
            raise ValueError(f"c: expected a finite number, got {self.c!r}")

    def f(self, x: np.ndarray) -> np.ndarray:
        """f(x) = -(x - c)²."""
        return -(x - self.c) ** 2

    def f_prime(self, x: np.ndarray) -> np.ndarray:
        """f'(x) = -2(x - c)."""
        return -2.0 * (x - self.c)

    def objective(self, theta: float, n_samples: int) -> float:
        """L_N(θ) = E[f(X̄_N)] = -(θ - c)² - σ²/N."""
        return -(theta - self.c) ** 2 - self.sigma**2 / n_samples

    def gradient(self, theta: float, n_samples: int | None = None) -> float:
        """∇L_N(θ) = -2(θ - c) (independent of N)."""
        return -2.0 * (theta - self.c)

    def sample(self, theta: float, n_samples: int, repetitions: int,
               rng: np.random.Generator) -> np.ndarray:
        """`(R, N)` draws X_i ~ N(θ, σ²)."""
        return theta + self.sigma * rng.standard_normal((repetitions, n_samples))

    def score(self, theta: float, samples: np.ndarray) -> np.ndarray:
        """∇_θ log N(x; θ, σ²) = (x - θ)/σ², elementwise."""
        return (samples - theta) / self.sigma**2
