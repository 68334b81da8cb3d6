"""An IPD estimator written outside mgbench (problem family `ipd`).

LOLA-DiCE whose Hessian batch is four times its inner and outer batches: Liu et al. find the
Hessian's batch matters most for the correlation with the exact LOLA gradient, so this spends
the extra games there. Use it with

    mgbench compare docs/examples/ipd_estimator.py:lola_large_hessian --quick

Contract (docs/plugins.md): `problem` is an `estimators.LolaProblem` (the game, both players'
logits `theta1`, `theta2`, K look-ahead steps of size α, the critic); return `(R, 2, 5)`
estimates of both players' LOLA meta-gradients; `rng` is the only source of randomness.
"""
import numpy as np

from estimators import LolaProblem, get_estimator, register


@register("lola_large_hessian", problem="ipd",
          description="example plug-in: LOLA-DiCE with a Hessian batch of 4 x batch games")
def lola_large_hessian(problem: LolaProblem, repetitions: int, rng: np.random.Generator, *,
                       batch: int = 128) -> np.ndarray:
    """LOLA-DiCE (split lll) with n_inner = n_outer = batch and n_hessian = 4 batch; shape `(R, 2, 5)`."""
    return get_estimator("lola_dice", "ipd")(problem, repetitions, rng, batch=batch, split="lll",
                                             n_hessian=4 * batch)
