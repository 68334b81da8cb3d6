"""Problems with exact answers: tabular MDPs (value, gradient, Hessian, meta-gradients),
bandits with task distributions, their seeded generators and vectorized samplers, the Gaussian
N-sample toy, and the Iterated Prisoner's Dilemma (exact values, derivatives and LOLA meta-gradients).

This package knows nothing of estimators or sweeps.
"""
from mdps.bandits import (VUORIO2022_BANDITS, BanditDistribution, bandit_learning_rate_meta_gradient, bandit_mdp,
                          pull_arms, task_mean)
from mdps.gaussian_toy import GaussianToy
from mdps.generators import LIU2022_ROLLOUT_LENGTH, liu2022_mdp, random_mdp
from mdps.ipd import IteratedPrisonersDilemma, lola_meta_gradient
from mdps.ipd_sampling import GameTrajectories, sample_games
from mdps.meta import (OBJECTIVES, inner_loop, intrinsic_meta_gradient, learning_rate_meta_gradient,
                       learning_rate_objective, learning_rate_schedule, meta_gradient, objective_weights,
                       reverse_adjoints, schedule_phases, softplus)
from mdps.policy import policy_tangent, sigmoid, softmax_policy
from mdps.sampling import Trajectories, sample_categorical, sample_trajectories
from mdps.tabular import TabularMDP

__all__ = [
    "bandit_learning_rate_meta_gradient", "bandit_mdp", "BanditDistribution", "GameTrajectories", "GaussianToy",
    "inner_loop", "intrinsic_meta_gradient", "IteratedPrisonersDilemma", "learning_rate_meta_gradient",
    "learning_rate_objective", "learning_rate_schedule", "liu2022_mdp", "LIU2022_ROLLOUT_LENGTH",
    "lola_meta_gradient", "meta_gradient", "objective_weights", "OBJECTIVES", "policy_tangent", "pull_arms",
    "random_mdp", "reverse_adjoints", "sample_categorical", "sample_games", "sample_trajectories",
    "schedule_phases", "sigmoid", "softmax_policy", "softplus", "TabularMDP", "task_mean", "Trajectories",
    "VUORIO2022_BANDITS",
]
