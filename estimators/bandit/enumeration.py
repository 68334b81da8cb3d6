"""Exact answers on a noise-free bandit with fixed tasks by enumerating every path of batches:
the practical target of the lifetime objective and the exact mean and covariance of any
bandit estimator with a path-wise pass (`estimators.pathwise`)."""
from __future__ import annotations

from itertools import combinations_with_replacement

import numpy as np

from estimators.bandit.lifetime import LifetimePass, run_lifetimes
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.multisets import enumerate_batches
from estimators.pathwise import merged_parameters, pass_of
from estimators.registry import get_estimator


def exact_moments(problem: BanditLifetimeProblem, estimator: str, **parameters) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean `(2,)` and covariance `(2, 2)` of registered bandit estimator `estimator` on a
    noise-free `BanditLifetimeProblem` with fixed tasks (parameters: its registered defaults otherwise;
    the covariance of a mean over `lifetimes` independent lifetimes is divided by their number)."""
    builder = pass_of("bandit", estimator)
    merged = merged_parameters(get_estimator(estimator, "bandit"), parameters)
    lifetimes = int(merged.pop("lifetimes", 1))
    mean, covariance = lifetime_moments_by_enumeration(problem, builder(**merged))
    return mean, covariance / lifetimes


def enumerate_lifetime_paths(n_arms: int, batch: int, lifetime: int) -> tuple[np.ndarray, np.ndarray]:
    """Every path of K batches of N pulls of a K_arms-armed bandit (a batch as a multiset).

    Returns:
      actions `(P, K, N)` int with P = B^K, B = C(K_arms + N − 1, N), and the summed log
      multinomial coefficients `(P,)` (p(path) = exp(coefficient + Σ log π(a))).
    """
    combos = np.array(list(combinations_with_replacement(range(n_arms), batch)))          # (B, N)
    counts, log_coefficient = enumerate_batches(n_arms, batch)
    digits = np.stack(np.unravel_index(np.arange(len(combos) ** lifetime), (len(combos),) * lifetime), axis=1)
    return combos[digits], log_coefficient[digits].sum(axis=1)


def _lifetime_path_outcomes(problem: BanditLifetimeProblem, means: np.ndarray, eta: np.ndarray,
                            settings: LifetimePass, start: int, differentiate: bool = True):
    """(probabilities (P,), LifetimeOutcome) of every path of one noise-free task with window start w."""
    actions, log_coefficient = enumerate_lifetime_paths(problem.n_arms, problem.batch, problem.lifetime)
    n_paths = len(actions)
    path_means = np.broadcast_to(means, (n_paths, len(means)))

    def draw(step: int, logits: np.ndarray, policy: np.ndarray):
        chosen = actions[:, step]
        return chosen, np.take_along_axis(path_means, chosen, axis=1)

    outcome = run_lifetimes(problem, np.broadcast_to(eta, (n_paths, *np.shape(eta))), draw, np.full(n_paths, start), settings,
                            differentiate=differentiate, means=path_means)
    return np.exp(log_coefficient + outcome.log_probability), outcome


def _check_enumerable(problem: BanditLifetimeProblem) -> np.ndarray:
    if problem.tasks.noise:
        raise ValueError(f"noise: exact enumeration needs noise-free rewards, got σ = {problem.tasks.noise}")
    if problem.task_set is not None:
        return np.asarray(problem.task_set, float)
    if problem.tasks.arm_law == "fixed":
        return np.asarray(problem.tasks.means, float)[None]
    raise ValueError("task_set: exact enumeration needs a fixed set of tasks (or the `fixed` arm law)")


def _window_starts(problem: BanditLifetimeProblem, settings: LifetimePass) -> list[int]:
    last = problem.lifetime - settings.length(problem.lifetime)
    return [last] if settings.placement == "last" else list(range(last + 1))


def lifetime_moments_by_enumeration(problem: BanditLifetimeProblem, settings: LifetimePass,
                                    eta: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean `(2,)` and covariance `(2, 2)` of one lifetime's estimate under `settings`.

    Every path of batches, every window start (uniform for `random`), and every task of the
    fixed set (uniform) are summed with their probabilities. An estimator averaging m
    independent lifetimes has the same mean and covariance / m.
    """
    tasks = _check_enumerable(problem)
    eta = np.asarray(problem.eta if eta is None else eta, float)
    starts = _window_starts(problem, settings)
    first, second = np.zeros(2), np.zeros((2, 2))
    for means in tasks:
        for start in starts:
            probabilities, outcome = _lifetime_path_outcomes(problem, means, eta, settings, start)
            first += probabilities @ outcome.estimate
            second += np.einsum("p,pi,pj->ij", probabilities, outcome.estimate, outcome.estimate)
    weight = 1.0 / (len(tasks) * len(starts))
    mean = weight * first
    return mean, weight * second - np.outer(mean, mean)


def lifetime_fitness_by_enumeration(problem: BanditLifetimeProblem, eta: np.ndarray,
                                    settings: LifetimePass = LifetimePass()) -> float:
    """E[F(η)], the expected mean reward in the window (the whole lifetime by default: J(η))."""
    tasks = _check_enumerable(problem)
    starts = _window_starts(problem, settings)
    total = 0.0
    for means in tasks:
        for start in starts:
            probabilities, outcome = _lifetime_path_outcomes(problem, means, np.asarray(eta, float), settings, start,
                                                             differentiate=False)
            total += probabilities @ outcome.fitness
    return total / (len(tasks) * len(starts))


def lifetime_target_by_enumeration(problem: BanditLifetimeProblem) -> np.ndarray:
    """The exact practical target ∇_η J `(2,)`: the enumerated mean of the unbiased pass
    (whole lifetime, λ_c = 1, d = 1)."""
    return lifetime_moments_by_enumeration(problem, LifetimePass("naive", 1.0, 1.0, None, "last"))[0]


def window_fitness_by_enumeration(problem: BanditLifetimeProblem, step_etas: np.ndarray, start: int,
                                  length: int) -> np.ndarray:
    """E[F] of the window [start, start + length) (its mean reward) under per-step schedules
    `step_etas (M, K, 2)`, one expectation per schedule `(M,)` (PES and NRES: `estimators.bandit.persistent`)."""
    tasks = _check_enumerable(problem)
    step_etas = np.asarray(step_etas, float)
    settings = LifetimePass(window=int(length))
    total = np.zeros(len(step_etas))
    actions, log_coefficient = enumerate_lifetime_paths(problem.n_arms, problem.batch, problem.lifetime)
    n_paths, n_schedules = len(actions), len(step_etas)
    for means in tasks:
        rows_means = np.broadcast_to(means, (n_schedules * n_paths, len(means)))
        chosen_all = np.tile(actions, (n_schedules, 1, 1))

        def draw(step: int, logits: np.ndarray, policy: np.ndarray):
            chosen = chosen_all[:, step]
            return chosen, np.take_along_axis(rows_means, chosen, axis=1)

        etas = np.repeat(step_etas, n_paths, axis=0)
        outcome = run_lifetimes(problem, etas, draw, np.full(len(etas), int(start)), settings, differentiate=False)
        probabilities = np.exp(np.tile(log_coefficient, n_schedules) + outcome.log_probability)
        total += (probabilities * outcome.fitness).reshape(n_schedules, n_paths).sum(axis=1)
    return total / len(tasks)
