"""Meta-gradient estimators: closed-form surrogate gradients and Hessian-vector products,
vectorized over repetitions and trajectories, and a registry for plug-ins.

This package knows nothing of sweeps: `benchmark/` composes it with `mdps/`.
"""
from estimators.problem import LolaProblem, MetaProblem, ToyProblem
from estimators.registry import (EstimatorSpec, available_estimators, get_estimator,
                                 load_estimator, register)
import estimators.builtin  # noqa: E402,F401  (registers the built-in estimators, after the registry exists)

__all__ = ["EstimatorSpec", "LolaProblem", "MetaProblem", "ToyProblem", "available_estimators",
           "get_estimator", "load_estimator", "register"]
