"""Problems with exact answers: tabular MDPs (value, gradient, Hessian, meta-gradients),
their seeded generators and vectorized samplers, and the Gaussian N-sample toy.

This package knows nothing of estimators or sweeps.
"""
from mdps.gaussian_toy import GaussianToy
from mdps.generators import LIU2022_ROLLOUT_LENGTH, liu2022_mdp, random_mdp
from mdps.meta import inner_loop, intrinsic_meta_gradient, meta_gradient
from mdps.policy import policy_tangent, softmax_policy
from mdps.sampling import Trajectories, sample_categorical, sample_trajectories
from mdps.tabular import TabularMDP

__all__ = [
    "GaussianToy", "LIU2022_ROLLOUT_LENGTH", "TabularMDP", "Trajectories", "inner_loop",
    "intrinsic_meta_gradient", "liu2022_mdp",
    "meta_gradient", "policy_tangent", "random_mdp", "sample_categorical",
    "sample_trajectories", "softmax_policy",
]
