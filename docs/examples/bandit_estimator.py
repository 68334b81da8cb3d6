"""A bandit estimator written outside mgbench (problem family `bandit`, Vuorio et al.'s setting).

Truncated backprop through a window of 20 steps at a random position, averaged with DiCE
through the whole lifetime: a blend of a biased low-variance and an unbiased-ish high-variance
meta-gradient of the learned learning-rate schedule. Use it with

    mgbench compare docs/examples/bandit_estimator.py:truncated_dice_blend --quick

Contract (docs/plugins.md): `problem` is an `estimators.BanditLifetimeProblem` (the task
distribution, η `(2,)`, the lifetime, pulls per step); return `(R, 2)` estimates of ∇_η of
the lifetime objective; `rng` is the only source of randomness.
"""
import numpy as np

from estimators import BanditLifetimeProblem, get_estimator, register


@register("truncated_dice_blend", problem="bandit",
          description="example plug-in: ½ (truncated backprop, window 20) + ½ DiCE through the lifetime")
def truncated_dice_blend(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                         window: int = 20) -> np.ndarray:
    """½ (ĝ_truncated(L = window) + ĝ_DiCE), each on its own tasks and lifetimes; shape `(R, 2)`."""
    truncated = get_estimator("truncated", "bandit")(problem, repetitions, rng, window=window)
    dice = get_estimator("dice", "bandit")(problem, repetitions, rng)
    return 0.5 * (truncated + dice)
