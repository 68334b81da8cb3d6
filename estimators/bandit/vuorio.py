"""Vuorio et al.'s (2022) estimators in their setting: a learned learning-rate schedule η ∈ R² on
noisy bandit tasks, the reward collected over the lifetime (`estimators.bandit.lifetime`), the
estimators as their released code runs them (`algorithms/off_policy_bandits.py`,
`off_policy_bandits_es.py`, `experiments/bandits_trunc_bias_variance_{mg,dice,es,fd}_longer_lifetimes.py`):
`truncated` (their "mg", and "dice" with `jacobian = "dice"`), `es`, `fd`, and the
finite-difference ground truth `fd_ground_truth` beside mgbench's reference target.
"""
from __future__ import annotations

import numpy as np

from estimators.bandit.lifetime import LifetimePass, sampled_lifetimes
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.pathwise import pathwise_pass
from estimators.problem import positive_int
from estimators.registry import register


@pathwise_pass("bandit", "truncated")
def truncated_lifetime_pass(*, window: int = 0, placement: str = "random", lambda_c: float = 0.0,
                            meta_discount: float = 1.0, jacobian: str = "naive") -> LifetimePass:
    """The pass of bandit `truncated` (window 0 = the whole lifetime)."""
    return _lifetime_pass(window, placement, lambda_c, meta_discount, jacobian)


@pathwise_pass("bandit", "sf")
def score_function_lifetime_pass() -> LifetimePass:
    """The pass of bandit `sf`: whole lifetime, λ_c = 1, d = 1."""
    return LifetimePass("naive", 1.0, 1.0, None, "last")


def _lifetime_pass(window: int, placement: str, lambda_c: float = 0.0, meta_discount: float = 1.0,
                   jacobian: str = "naive") -> LifetimePass:
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f"window: expected a non-negative integer (0 = the whole lifetime), got {window!r}")
    return LifetimePass(jacobian, float(lambda_c), float(meta_discount), int(window) or None, placement)


def check_lifetime_problem(problem: BanditLifetimeProblem) -> None:
    """A `BanditLifetimeProblem` with the `lifetime` objective (what the sampled estimators estimate), else an error."""
    if not isinstance(problem, BanditLifetimeProblem):
        raise TypeError(f"problem: expected a BanditLifetimeProblem, got {type(problem).__name__}")
    if problem.objective != "lifetime":
        raise ValueError(f"objective: the sampled bandit estimators estimate the 'lifetime' objective, "
                         f"got {problem.objective!r}")


@register("truncated", problem="bandit",
          description="their meta-gradient: backprop through a window of L sampled inner steps at a random position, "
                      "correction λ_c (meta-discount d), naive or DiCE Jacobian (Vuorio et al.)")
def truncated_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                       window: int = 0, placement: str = "random", lambda_c: float = 0.0,
                       meta_discount: float = 1.0, jacobian: str = "naive", lifetimes: int = 2) -> np.ndarray:
    """Mean over `lifetimes` lifetimes on one task of the surrogate gradient of `estimators.bandit.lifetime`.

    `window = 0` is the whole lifetime. Their "mg" is `jacobian = "naive"` (λ_c = e_maml_lambda / N),
    their "dice" `jacobian = "dice"`, λ_c = 0; both average 2 lifetimes (their `popsize = 2`).
    """
    check_lifetime_problem(problem)
    settings = _lifetime_pass(window, placement, lambda_c, meta_discount, jacobian)
    lifetimes = positive_int("lifetimes", lifetimes)
    means = np.repeat(problem.draw_tasks(rng, repetitions), lifetimes, axis=0)
    etas = np.broadcast_to(np.asarray(problem.eta, float), (len(means), 2))
    outcome = sampled_lifetimes(problem, means, etas, rng, settings)
    return outcome.estimate.reshape(repetitions, lifetimes, 2).mean(axis=1)


@pathwise_pass("bandit", "dice")
def dice_lifetime_pass() -> LifetimePass:
    """The pass of bandit `dice`: DiCE Jacobian through the whole lifetime, no correction."""
    return LifetimePass("dice", 0.0, 1.0, None, "last")


@register("dice", problem="bandit",
          description="their DiCE run: the DiCE inner loss differentiated through the whole lifetime, no correction (Vuorio et al.)")
def dice_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                  lifetimes: int = 2) -> np.ndarray:
    """`truncated` with the DiCE Jacobian, L = K, λ_c = 0 (their `inner_loss = 'dice'` experiment)."""
    return truncated_lifetime(problem, repetitions, rng, window=0, jacobian="dice", lifetimes=lifetimes)


@register("sf", problem="bandit",
          description="unbiased score-function meta-gradient of the lifetime objective (whole lifetime, full correction)")
def score_function_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                            lifetimes: int = 1) -> np.ndarray:
    """`truncated` with L = K, λ_c = 1, d = 1: unbiased for ∇_η J."""
    check_lifetime_problem(problem)
    lifetimes = positive_int("lifetimes", lifetimes)
    means = np.repeat(problem.draw_tasks(rng, repetitions), lifetimes, axis=0)
    etas = np.broadcast_to(np.asarray(problem.eta, float), (len(means), 2))
    outcome = sampled_lifetimes(problem, means, etas, rng, score_function_lifetime_pass())
    return outcome.estimate.reshape(repetitions, lifetimes, 2).mean(axis=1)


@register("es", problem="bandit",
          description="OpenES on the window fitness, antithetic pairs, σ = 0.1, common random numbers optional (off: theirs)")
def evolution_strategies_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                                  sigma: float = 0.1, population: int = 1, common_random_numbers: bool = False,
                                  window: int = 0, placement: str = "random") -> np.ndarray:
    """(1/(2σP)) Σ_p ε_p [F(η + σε_p) − F(η − σε_p)], ε_p ~ N(0, I_2), F the mean reward in the window.

    Their OpenES (evosax, `popsize = 2`, antithetic) is P = 1 pair; each member runs its own
    lifetime with its own random numbers and window (`common_random_numbers = False`); with
    `common_random_numbers = True` the two members of a pair share both.
    """
    check_lifetime_problem(problem)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    population = positive_int("population", population)
    settings = _lifetime_pass(window, placement)
    noise = rng.standard_normal((repetitions, population, 1, 2))
    centre = np.asarray(problem.eta, float)
    etas = (centre + sigma * noise * np.array([1.0, -1.0])[:, None]).reshape(-1, 2)     # (R·P·2, 2): +, − per pair
    means = np.repeat(problem.draw_tasks(rng, repetitions), population * 2, axis=0)
    fitness = sampled_lifetimes(problem, means, etas, rng, settings, shared=2 if common_random_numbers else 1,
                                differentiate=False).fitness.reshape(repetitions, population, 2)
    return ((fitness[..., 0] - fitness[..., 1])[..., None] * noise[:, :, 0]).sum(axis=1) / (2 * sigma * population)


@register("fd", problem="bandit",
          description="their ground truth: central finite differences ±ε/2 of the window fitness with common random numbers")
def finite_differences_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                                epsilon: float = 0.01, common_random_numbers: bool = True, window: int = 0,
                                placement: str = "random") -> np.ndarray:
    """[F(η + ε/2 e_d) − F(η − ε/2 e_d)] / ε for d = 0, 1; the four lifetimes of one estimate share
    their task, random numbers and window (their `compute_meta_gradient_fd`, ε = 1e-2)."""
    check_lifetime_problem(problem)
    if not epsilon > 0:
        raise ValueError(f"epsilon: expected a positive number, got {epsilon!r}")
    settings = _lifetime_pass(window, placement)
    offsets = 0.5 * epsilon * np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    etas = np.tile(offsets, (repetitions, 1)) + np.asarray(problem.eta, float)
    means = np.repeat(problem.draw_tasks(rng, repetitions), 4, axis=0)
    fitness = sampled_lifetimes(problem, means, etas, rng, settings, shared=4 if common_random_numbers else 1,
                                differentiate=False).fitness.reshape(repetitions, 2, 2)
    return (fitness[..., 0] - fitness[..., 1]) / epsilon


def fd_ground_truth(problem: BanditLifetimeProblem, *, runs: int = 32_000, epsilon: float = 0.01, seed: int = 0,
                    chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """Vuorio et al.'s ground truth: the mean of `runs` finite-difference estimates with common
    random numbers (a fresh task per run), and the standard error of that mean, `(2,)` each."""
    runs = positive_int("runs", runs)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0xFD,)))
    estimates = np.concatenate([finite_differences_lifetime(problem, min(chunk, runs - start), rng, epsilon=epsilon)
                                for start in range(0, runs, chunk)])
    return estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(runs)


REFERENCE_PASS = LifetimePass("naive", 1.0, 1.0, None, "last", outer="exact", baseline="future")


def reference_estimates(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """Unbiased estimates of ∇_η J with less variance than `sf`: whole lifetime, full correction,
    the outer terms replaced by their conditional expectations and the future-value baseline
    (`LifetimePass` `outer = "exact"`, `baseline = "future"`), one lifetime on a fresh task each.
    On their setting at η = (1.5, 1.5): variance 0.45 per coordinate against 7 for `sf`."""
    check_lifetime_problem(problem)
    means = problem.draw_tasks(rng, repetitions)
    etas = np.broadcast_to(np.asarray(problem.eta, float), (repetitions, 2))
    return sampled_lifetimes(problem, means, etas, rng, REFERENCE_PASS).estimate


def reference_target(problem: BanditLifetimeProblem, *, runs: int = 32_000, seed: int = 0, chunk: int = 4000,
                     standard_error: float = 0.0, pilot: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """mgbench's practical target when it cannot be enumerated: the mean of `runs`
    `reference_estimates` (unbiased), with the standard error of the mean, `(2,)` each.

    With `standard_error` s > 0 the number of lifetimes is chosen per problem: a pilot of
    `pilot` lifetimes (at most `runs`) measures the summed coordinate variance v, then
    n = ⌈v / s²⌉ fresh lifetimes (at most `runs`, at least `chunk`) give the mean, so that the
    root of the summed squared standard errors is about s. The pilot is left out of the mean
    (n depends on it; the lifetimes averaged do not), so the mean stays unbiased.
    """
    runs = positive_int("runs", runs)
    if not standard_error >= 0:
        raise ValueError(f"standard_error: expected a non-negative number, got {standard_error!r}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EF,)))

    def estimates(count: int) -> np.ndarray:
        return np.concatenate([reference_estimates(problem, min(chunk, count - start), rng)
                               for start in range(0, count, chunk)])

    if standard_error > 0:
        variance = float(estimates(min(positive_int("pilot", pilot), runs)).var(axis=0, ddof=1).sum())
        runs = int(min(runs, max(min(chunk, runs), np.ceil(variance / standard_error ** 2))))
    values = estimates(runs)
    return values.mean(axis=0), values.std(axis=0, ddof=1) / np.sqrt(runs)
