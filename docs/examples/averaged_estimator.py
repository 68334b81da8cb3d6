"""An estimator written outside mgbench: one function and one `@register` line.

The average of the LVC and DiCE meta-gradient estimates (each with its own batches):
a cheap way to trade LVC's Hessian bias against DiCE's variance. Use it with

    mgbench list --plugin docs/examples/averaged_estimator.py
    mgbench compare docs/examples/averaged_estimator.py:lvc_dice_average --quick
    mgbench sweep my-sweep.toml --plugin docs/examples/averaged_estimator.py
"""
import numpy as np

from estimators import MetaProblem, get_estimator, register


@register("lvc_dice_average", problem="tabular",
          description="example plug-in: the average of the LVC and DiCE estimates",
          bounds=("compositional",))   # claimed: judged against it by reports and `mgbench compare`
def lvc_dice_average(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                     batch: int = 32, split: str = "lll") -> np.ndarray:
    """½ (ĝ_LVC + ĝ_DiCE), shape `(R, S, A)`; randomness only from `rng`."""
    lvc = get_estimator("lvc")(problem, repetitions, rng, batch=batch, split=split)
    dice = get_estimator("dice")(problem, repetitions, rng, batch=batch, split=split)
    return 0.5 * (lvc + dice)
