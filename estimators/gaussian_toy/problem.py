"""What a Gaussian-toy estimator is given: Tang's N-sample toy at a point θ; estimates have shape `(1,)`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from estimators.problem import positive_int
from mdps import GaussianToy


@dataclass(frozen=True)
class ToyProblem:
    """The Gaussian N-sample toy at a point θ: estimate ∇_θ E[f(X̄_N)] = -2(θ - c)."""

    toy: GaussianToy = field(default_factory=GaussianToy)
    theta: float = 0.0
    n_samples: int = 16

    def __post_init__(self):
        positive_int("N", self.n_samples)

    @property
    def shape(self) -> tuple[int]:
        """(1,): the shape of θ and of every estimate."""
        return (1,)

    def exact_gradient(self) -> np.ndarray:
        """`(1,)` the exact gradient (the same for both targets on the toy)."""
        return np.array([self.toy.gradient(self.theta)])
