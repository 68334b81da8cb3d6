"""Meta-gradient estimators: closed-form surrogate gradients and Hessian-vector products,
vectorized over repetitions and trajectories, and a registry for plug-ins.

This package knows nothing of sweeps: `benchmark/` composes it with `mdps/`.
"""
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.gaussian_toy.problem import ToyProblem
from estimators.ipd.problem import LolaProblem
from estimators.tabular.problem import MetaProblem
from estimators.registry import (EstimatorSpec, available_estimators, get_estimator,
                                 load_estimator, register)
from estimators.autodiff.register import register_surrogate
# The built-in estimators: importing each family's estimator modules runs their @register lines
# (after the registry exists). A new built-in estimator module is one more line here.
import estimators.bandit.persistent  # noqa: F401  pes, nres over the windows of a bandit lifetime
import estimators.bandit.vuorio  # noqa: F401  truncated, dice, sf, es, fd on the bandit lifetime (Vuorio et al.)
import estimators.gaussian_toy.gradients  # noqa: F401  sf, lsf, pw on the Gaussian toy
import estimators.ipd.lola  # noqa: F401  lola_dice, lola_off_policy, lola_exact (IPD)
import estimators.tabular.liu_probes  # noqa: F401  hessian_bias, off_policy
import estimators.tabular.practical  # noqa: F401  sf, sampling_correction, lsf (practical target)
import estimators.tabular.split  # noqa: F401  dice, loaded, lvc, maml, first_order, exact
import estimators.tabular.vuorio  # noqa: F401  truncated, es, fd on tabular MDPs

__all__ = ["BanditLifetimeProblem", "EstimatorSpec", "LolaProblem", "MetaProblem", "ToyProblem", "available_estimators",
           "get_estimator", "load_estimator", "register", "register_surrogate"]
