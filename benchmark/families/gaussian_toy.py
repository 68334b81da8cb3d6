"""The Gaussian-toy family: Tang's N-sample Monte-Carlo toy max E[f(X̄_N)], X_i ~ N(θ, σ²),
f(x) = −(x − c)², where both targets are the exact gradient −2(θ − c). Estimates have shape `(1,)`."""
from __future__ import annotations

from typing import Any

from benchmark.families.family import CompareSuite, Family, Target
from benchmark.families.schema import expect_number
from estimators import ToyProblem, get_estimator
from mdps import GaussianToy

FIELDS = ("theta", "sigma", "c")
DEFAULTS: dict[str, Any] = {"theta": 0.0, "sigma": 1.0, "c": 1.0}
COMPARE_REPETITIONS = 100_000


def toy_field(name: str, value: Any) -> float:
    """One `[problem]` field of the toy, checked; a `SweepError` names it."""
    if name == "sigma":
        return expect_number(f"problem.{name}", value, positive=True, what="a positive number")
    return expect_number(f"problem.{name}", value, what="a finite number")


class GaussianToyFamily(Family):
    name = "gaussian_toy"
    description = "Tang's N-sample Gaussian toy (θ, σ, c): SF, LSF and pathwise against the exact gradient"
    fields = FIELDS
    seeded = False
    meta_parameters = ("init",)
    targets = ("ideal", "practical")
    problem_axes = ("N",)
    foreign_axes = {axis: "expected estimator, N or estimator parameters"
                    for axis in ("split", "steps", "lr", "batch", "eta0", "eta1")}
    estimate_shape = "(R, 1): estimates of d/dθ E[f(X̄_N)]"
    compare = CompareSuite(
        baselines=("sf", "lsf", "pw"), primary="N",
        axes={"N": {"N": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]}},
        problem={"kind": "gaussian_toy", "theta": 0.5, "sigma": 1.0, "c": 1.0},
        repetitions=COMPARE_REPETITIONS, setting="the Gaussian toy at θ = 0.5, σ = 1, c = 1 (Tang 2022)")

    def parse_problem(self, table):
        overrides = tuple(name for name in FIELDS if name in table)
        return {**DEFAULTS, **{name: toy_field(name, table[name]) for name in overrides}}, None, overrides

    def bytes_per_repetition(self, values, parameters, cell):
        """Four float64 arrays of N samples."""
        return 2 * 8 * 4 * int(cell.axis("N", 1))

    def build_problem(self, values, cell, meta_parameter, kernel):
        """The toy at θ with N samples."""
        return ToyProblem(GaussianToy(sigma=values["sigma"], c=values["c"]), theta=values["theta"],
                          n_samples=int(cell.axis("N")))

    def target(self, sweep, cell, problem, parameters):
        """The exact gradient (both targets coincide on the toy)."""
        return Target(problem.exact_gradient(), None, "exact")

    def bench_call(self, cell):
        """The estimator on the toy at θ = 0.5 with N = `cell.batch` samples."""
        problem = ToyProblem(GaussianToy(), theta=0.5, n_samples=cell.batch)
        estimator = get_estimator(cell.estimator, self.name)
        return lambda repetitions, rng: estimator(problem, repetitions, rng, **cell.parameters)

    def bench_samplers(self, cell):
        """The draws X_i of `GaussianToy.sample`."""
        import numpy as np

        return [(GaussianToy.sample, np.size, GaussianToy, "sample")]


FAMILY = GaussianToyFamily()
