"""Exact expectations by enumerating every path of batches: the practical target
∇_φ E[V_out(θ_K)], and the exact mean and covariance of any registered estimator with a
path-wise pass (so its bias is exact, with no Monte Carlo noise).

Feasible for tiny problems (few states and actions, short rollouts, small |τ| and K);
otherwise `practical_target` falls back to a reference estimate with its standard error.
Tabular problems (`MetaProblem`): the passes of `estimators.tabular.inner_paths`; bandit lifetimes
(`BanditLifetimeProblem`, noise-free, fixed tasks): the passes of `estimators.bandit.lifetime`.
Estimators declare their pass with `@pathwise_pass(kind, name)` (`estimators.pathwise`).
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement
from math import lgamma, log

import numpy as np

from estimators.tabular.inner_paths import (PracticalPass, WeightedBatch, check_practical_problem, discount_powers,
                                    backward_step, inner_gradient, practical_estimates)
from estimators.bandit.lifetime import BanditLifetimeProblem, LifetimePass, run_lifetimes
from estimators.pathwise import pass_of
from estimators.problem import MetaProblem
from estimators.registry import get_estimator
from mdps import TabularMDP, softmax_policy

MAX_ENUMERATED_ELEMENTS = 20_000_000  # paths x trajectory types x T, for the exact target


def enumerate_trajectories(mdp: TabularMDP, length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every length-T state-action sequence with positive probability under the dynamics.

    Returns:
      states `(J, T)`, actions `(J, T)`, and log ρ(s_0) + Σ_{t<T-1} log P(s_{t+1}|s_t, a_t) `(J,)`.
    """
    states = np.flatnonzero(mdp.initial > 0)[:, None]
    actions = np.zeros((len(states), 0), dtype=int)
    log_dynamics = np.log(mdp.initial[states[:, 0]])
    for t in range(length):
        n_actions = mdp.n_actions
        states = np.repeat(states, n_actions, axis=0)
        actions = np.column_stack([np.repeat(actions, n_actions, axis=0), np.tile(np.arange(n_actions), len(log_dynamics))])
        log_dynamics = np.repeat(log_dynamics, n_actions)
        if t == length - 1:
            break
        successors = mdp.transitions[states[:, -1], actions[:, -1]]           # (J, S)
        rows, next_states = np.nonzero(successors > 0)
        states = np.column_stack([states[rows], next_states])
        actions = actions[rows]
        log_dynamics = log_dynamics[rows] + np.log(successors[rows, next_states])
    return states, actions, log_dynamics


def enumerate_batches(n_types: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of `batch` trajectories drawn from `n_types` kinds.

    Returns:
      counts `(B, n_types)` and the log multinomial coefficients log(n! / Π c_j!) `(B,)`.
    """
    combos = np.array(list(combinations_with_replacement(range(n_types), batch)))
    counts = np.zeros((len(combos), n_types), dtype=int)
    np.add.at(counts, (np.arange(len(combos))[:, None], combos), 1)
    log_coefficient = lgamma(batch + 1) - np.array([sum(lgamma(c + 1) for c in row) for row in counts])
    return counts, log_coefficient


def trajectory_count(mdp: TabularMDP, length: int) -> int:
    """Number of length-T state-action sequences with positive probability, without listing them.

    c_0(s) = 1[ρ(s) > 0], c_{t+1}(s') = Σ_{s,a} c_t(s) 1[P(s'|s,a) > 0]; the count is A Σ_s c_{T-1}(s).
    Exact (Python integers), in O(T S² A).
    """
    reachable = (mdp.transitions > 0).sum(axis=1).astype(object)          # (S, S'): actions leading s -> s'
    counts = (mdp.initial > 0).astype(object)
    for _ in range(length - 1):
        counts = counts @ reachable
    return int(sum(counts)) * mdp.n_actions


def log_multiset_count(n_types: int, batch: int) -> float:
    """log C(n + |τ| − 1, |τ|) = Σ_{i<|τ|} log(n + i) − log |τ|!, exact for any Python int n
    (`math.log` takes integers beyond 2^64 and beyond the float range)."""
    return sum(log(n_types + i) for i in range(batch)) - lgamma(batch + 1)


def enumerated_path_count(problem: MetaProblem, batch: int) -> float:
    """Work of an exact enumeration, B^K · J · T (J trajectories, B multisets of |τ| of them),
    computed without enumerating anything (a float, capped at e^700: it can be astronomically large)."""
    n_types = trajectory_count(problem.mdp, problem.rollout_length)
    log_work = (problem.steps * log_multiset_count(n_types, batch) + log(n_types)
                + log(problem.rollout_length))
    return float(np.exp(min(log_work, 700.0)))


@dataclass(frozen=True)
class _EnumeratedTree:
    """Every path of K batches: node parameters and log p(batch | parent) per level."""

    thetas_by_level: list[np.ndarray]              # level k: (B^k, S, A)
    log_probabilities_by_level: list[np.ndarray]   # level k: (B^k, B), batch given node
    counts: np.ndarray
    make_batches: object                           # n_nodes -> WeightedBatch over all B children


def _enumerate_tree(problem: MetaProblem, batch: int) -> _EnumeratedTree:
    states, actions, log_dynamics = enumerate_trajectories(problem.mdp, problem.rollout_length)
    counts, log_coefficient = enumerate_batches(len(states), batch)
    gamma_powers = discount_powers(problem)
    rewards = gamma_powers * problem.inner_mdp.rewards[states, actions]

    def make_batches(n_nodes: int) -> WeightedBatch:
        tiled = np.tile(counts, (n_nodes, 1)).astype(float)
        return WeightedBatch(states[None], actions[None], rewards[None], tiled / batch, tiled, gamma_powers)

    thetas_by_level, log_probabilities_by_level = [np.asarray(problem.theta0, float)[None]], []
    for _ in range(problem.steps):
        thetas = thetas_by_level[-1]
        log_policy = np.log(softmax_policy(thetas))[:, states, actions].sum(axis=-1)       # (P, J)
        log_probabilities_by_level.append(log_coefficient + (log_dynamics + log_policy) @ counts.T)
        children = np.repeat(thetas, len(counts), axis=0)
        step = inner_gradient(softmax_policy(children), make_batches(len(thetas)))
        thetas_by_level.append(children + problem.lr * step)
    return _EnumeratedTree(thetas_by_level, log_probabilities_by_level, counts, make_batches)


def practical_objective_by_enumeration(problem: MetaProblem, batch: int) -> float:
    """E[V_out(θ_K)] = Σ_paths p(path) V_out(θ_K(path)), exactly."""
    check_practical_problem(problem)
    tree = _enumerate_tree(problem, batch)
    values, _, _ = problem.mdp.batch_values_and_gradients(tree.thetas_by_level[-1])
    probabilities = np.ones(1)
    for log_probabilities in tree.log_probabilities_by_level:
        probabilities = (probabilities[:, None] * np.exp(log_probabilities)).reshape(-1)
    return float(probabilities @ values)


def practical_target_by_enumeration(problem: MetaProblem, batch: int) -> np.ndarray:
    """Exact ∇_φ E[V_out(θ_K)] by summing the `sf` pass over every path of batches.

    The expectation of the reverse pass is taken level by level: with Λ(c) the expected
    adjoint and U(c) the expected V_out(θ_K) below child c (reached from node n by batch
    b with probability p(b|n)), Λ(n) = Σ_b p(b|n) [Λ(c) + α Ĵ_bᵀ Λ(c) + U(c) s_b].
    """
    check_practical_problem(problem)
    tree = _enumerate_tree(problem, batch)
    values, _, adjoint = problem.mdp.batch_values_and_gradients(tree.thetas_by_level[-1])
    meta_intrinsic = np.zeros_like(adjoint)
    n_batches = len(tree.counts)
    for level in range(problem.steps - 1, -1, -1):
        n_nodes = len(tree.thetas_by_level[level])
        policy = softmax_policy(np.repeat(tree.thetas_by_level[level], n_batches, axis=0))
        previous, intrinsic_part = backward_step(policy, tree.make_batches(n_nodes), adjoint, values,
                                                 PracticalPass(), problem.lr)
        probabilities = np.exp(tree.log_probabilities_by_level[level]).reshape(-1)        # (P*B,)
        adjoint = _sum_children(probabilities, previous, n_nodes)
        meta_intrinsic = _sum_children(probabilities, meta_intrinsic + intrinsic_part, n_nodes)
        values = _sum_children(probabilities, values, n_nodes)
    return (adjoint if problem.meta_parameter == "init" else meta_intrinsic)[0]


def estimator_moments_by_enumeration(problem: MetaProblem, batch: int,
                                     settings: PracticalPass) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean `(S, A)` and covariance `(S·A, S·A)` of the estimate of one reverse pass.

    Every leaf path of K batches (B^K of them) runs the pass of `estimators.tabular.inner_paths`
    (`backward_step`, any Jacobian, correction λ_c, window L and baseline) with its batches,
    and is weighted by its probability Π_k p(b_k | θ_k).
    """
    check_practical_problem(problem)
    tree = _enumerate_tree(problem, batch)
    n_batches, steps = len(tree.counts), problem.steps
    n_leaves = n_batches ** steps
    leaves = np.arange(n_leaves)
    values, _, adjoint = problem.mdp.batch_values_and_gradients(tree.thetas_by_level[-1])
    outer_value = values - (problem.mdp.value(np.asarray(problem.theta0, float))
                            if settings.baseline == "initial_value" else 0.0)
    log_probability = np.zeros(n_leaves)
    for level in range(steps):
        parents, digits = leaves // n_batches ** (steps - level), (leaves // n_batches ** (steps - 1 - level)) % n_batches
        log_probability += tree.log_probabilities_by_level[level][parents, digits]
    window = steps if settings.window is None else min(settings.window, steps)
    meta_intrinsic = np.zeros_like(adjoint)
    full_batches = tree.make_batches(1)
    for level in range(steps - 1, steps - 1 - window, -1):
        parents, digits = leaves // n_batches ** (steps - level), (leaves // n_batches ** (steps - 1 - level)) % n_batches
        policy = softmax_policy(tree.thetas_by_level[level][parents])
        leaf_batch = WeightedBatch(full_batches.states, full_batches.actions, full_batches.discounted_rewards,
                                   full_batches.weights[digits], full_batches.counts[digits], full_batches.gamma_powers)
        adjoint, intrinsic_part = backward_step(policy, leaf_batch, adjoint, outer_value, settings, problem.lr)
        meta_intrinsic = meta_intrinsic + intrinsic_part
    estimates = (adjoint if problem.meta_parameter == "init" else meta_intrinsic).reshape(n_leaves, -1)
    probabilities = np.exp(log_probability)
    mean = probabilities @ estimates
    centred = estimates - mean
    covariance = (probabilities[:, None] * centred).T @ centred
    return mean.reshape(problem.shape), covariance


def exact_moments(problem, estimator: str, **parameters) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and covariance of registered estimator `estimator` on an enumerable problem.

    Args:
      problem: a `MetaProblem` (critic `none`) or a noise-free `BanditLifetimeProblem` with fixed tasks.
      estimator: its registered name (see `estimators.pathwise.pathwise_estimators`).
      parameters: its parameters (registered defaults otherwise).
    Returns:
      mean (the estimate's shape) and covariance `(D, D)` of one estimate.
    """
    kind = "bandit" if isinstance(problem, BanditLifetimeProblem) else "tabular"
    builder = pass_of(kind, estimator)
    spec = get_estimator(estimator, kind)
    unknown = set(parameters) - set(spec.parameters)
    if unknown:
        raise ValueError(f"{sorted(unknown)[0]}: not a parameter of estimator {estimator!r}")
    merged = {**spec.parameters, **parameters}
    if kind == "bandit":
        lifetimes = int(merged.pop("lifetimes", 1))
        mean, covariance = lifetime_moments_by_enumeration(problem, builder(**merged))
        return mean, covariance / lifetimes
    batch = merged.pop("batch")
    return estimator_moments_by_enumeration(problem, batch, builder(**merged))


def _sum_children(probabilities: np.ndarray, child_values: np.ndarray, n_nodes: int) -> np.ndarray:
    weighted = probabilities.reshape(-1, *([1] * (child_values.ndim - 1))) * child_values
    return weighted.reshape(n_nodes, -1, *child_values.shape[1:]).sum(axis=1)


def practical_target(problem: MetaProblem, *, batch: int, reference_repetitions: int = 20_000,
                     seed: int = 0, **_ignored) -> tuple[np.ndarray, float | None, str]:
    """The practical target `(S, A)`, its standard error (None when exact) and the method.

    Exact by enumeration when the path space is small (`enumerated_path_count`), else a
    reference estimate: the mean of `reference_repetitions` unbiased `sf` estimates with
    the constant baseline b = V_out(θ_0) (still unbiased, since E[score] = 0; it cut the
    standard error 11-fold on the `vuorio-frontier` problem), with the standard error of
    that mean (root of the summed coordinate variances / R).
    """
    check_practical_problem(problem)
    if enumerated_path_count(problem, batch) <= MAX_ENUMERATED_ELEMENTS:
        return practical_target_by_enumeration(problem, batch), None, "enumeration"
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EF,)))
    estimates = np.concatenate([
        practical_estimates(problem, size, rng, batch=batch, settings=PracticalPass(baseline="initial_value"))
        for size in _chunks(reference_repetitions, 2000)])
    standard_error = float(np.sqrt(estimates.reshape(len(estimates), -1).var(axis=0, ddof=1).sum() / len(estimates)))
    return estimates.mean(axis=0), standard_error, f"reference sf estimate (R={reference_repetitions})"


def _chunks(total: int, size: int) -> list[int]:
    return [size] * (total // size) + ([total % size] if total % size else [])


# ------------------------------------------------------------------ bandit lifetimes (Vuorio et al.'s problem)
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

    outcome = run_lifetimes(problem, np.broadcast_to(eta, (n_paths, 2)), draw, np.full(n_paths, start), settings,
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
