"""Vuorio et al.'s (2022) estimators on tabular MDPs (mgbench's own setting): truncated backprop,
OpenES and finite differences.

The practical objective F(φ) = V_out(θ_K(φ; sampled batches)) of the `init`/`intrinsic`
meta-parameters; truncation and the correction reuse the reverse pass of `inner_paths.py`;
ES and FD evaluate F with common random numbers. Their own setting, the bandit lifetime, is
`estimators.bandit.vuorio`.
"""
from __future__ import annotations

import numpy as np

from estimators.pathwise import pathwise_pass
from estimators.tabular.inner_paths import PracticalPass, WeightedBatch, inner_gradient, practical_estimates
from estimators.tabular.problem import MetaProblem
from estimators.problem import positive_int
from estimators.registry import register
from mdps import sample_trajectories, softmax_policy

JACOBIANS = ("naive", "dice", "lsf")

def _check_truncated(parameters, setting) -> None:
    """`validate` of `truncated` (checked when a sweep is loaded, before any cell runs)."""
    window = parameters["window"]
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 1:
        raise ValueError(f"window: expected a positive integer, got {window!r}")
    if parameters["jacobian"] not in JACOBIANS:
        raise ValueError(f"jacobian: expected one of {', '.join(JACOBIANS)}, got {parameters['jacobian']!r}")
    _check_no_critic(setting)


def _check_no_critic(setting) -> None:
    if setting.get("critic") not in (None, "none"):
        raise ValueError(f"critic: expected 'none' (the sampled inner loop has no critic baseline), "
                         f"got {setting['critic']!r}")


def _check_es(parameters, setting) -> None:
    """`validate` of `es`."""
    if not _positive_number(parameters["sigma"]):
        raise ValueError(f"sigma: expected a positive number, got {parameters['sigma']!r}")
    population = parameters["population"]
    if isinstance(population, bool) or not isinstance(population, (int, np.integer)) or population < 1:
        raise ValueError(f"population: expected a positive integer, got {population!r}")


def _check_fd(parameters, setting) -> None:
    """`validate` of `fd`."""
    if not _positive_number(parameters["step"]):
        raise ValueError(f"step: expected a positive number, got {parameters['step']!r}")


def _positive_number(value) -> bool:
    return (isinstance(value, (int, float, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and value > 0)



@pathwise_pass("tabular", "truncated")
def truncated_pass(*, window: int = 1, lambda_c: float = 0.0, jacobian: str = "naive") -> PracticalPass:
    """The pass of tabular `truncated`: the last `window` steps, correction λ_c, Jacobian `jacobian`."""
    return PracticalPass(jacobian, lambda_c, positive_int("window", window))


@register("truncated", problem="tabular", validate=_check_truncated,
          description="backprop through the last `window` inner steps only, with sampling correction λ_c (Vuorio et al.)")
def truncated(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
              window: int = 1, lambda_c: float = 0.0, jacobian: str = "naive") -> np.ndarray:
    """Reverse accumulation λ_{k-1} = Ĵ_kᵀ λ_k + λ_c V s_k for k = K, ..., K - window + 1.

    `jacobian="dice"` with `window >= K` and `lambda_c = 0` is DiCE autodiff through the
    sampled inner loop (Hessian estimate of the DiCE surrogate in every step).
    """
    return practical_estimates(problem, repetitions, rng, batch=batch,
                               settings=truncated_pass(window=window, lambda_c=lambda_c, jacobian=jacobian))


def sampled_objective(problem: MetaProblem, meta_points: np.ndarray, batch: int, seed: int) -> np.ndarray:
    """F(φ_p) = V_out(θ_K) for a stack of meta-parameter values, with sampled inner steps.

    Args:
      meta_points: `(P, S, A)` values of φ (θ_0 for `init`, η for `intrinsic`).
      seed: all paths draw their uniforms from `default_rng(seed)`, row by row, so two
        calls with the same seed and P use common random numbers row for row.
    Returns:
      `(P,)` outer values.
    """
    rng = np.random.default_rng(seed)
    if problem.meta_parameter == "init":
        thetas, inner_rewards = meta_points.copy(), np.broadcast_to(problem.mdp.rewards, meta_points.shape)
    else:
        thetas = np.broadcast_to(np.asarray(problem.theta0, float), meta_points.shape).copy()
        inner_rewards = problem.mdp.rewards + meta_points
    gamma_powers = problem.mdp.gamma ** np.arange(problem.rollout_length)
    path = np.arange(len(meta_points))[:, None, None]
    for _ in range(problem.steps):
        policy = softmax_policy(thetas)
        rollouts = sample_trajectories(problem.mdp, policy, batch, problem.rollout_length, rng)
        rewards = gamma_powers * inner_rewards[path, rollouts.states, rollouts.actions]
        ones = np.ones(rollouts.states.shape[:2])
        step_batch = WeightedBatch(rollouts.states, rollouts.actions, rewards, ones / batch, ones, gamma_powers)
        thetas = thetas + problem.lr * inner_gradient(policy, step_batch)
    return problem.mdp.batch_values_and_gradients(thetas)[0]


def _meta_point(problem: MetaProblem) -> np.ndarray:
    return np.asarray(problem.theta0 if problem.meta_parameter == "init" else problem.eta, float)


@register("es", problem="tabular", validate=_check_es,
          description="antithetic OpenES on the sampled objective, common random numbers within each pair")
def evolution_strategies(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                         sigma: float = 0.1, population: int = 8) -> np.ndarray:
    """(1/(2σP)) Σ_p ε_p [F(φ + σε_p) − F(φ − σε_p)], ε_p ~ N(0, I), P = `population` pairs."""
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    centre = _meta_point(problem)
    estimate = np.zeros((repetitions, *centre.shape))
    for _ in range(population):
        noise = rng.standard_normal((repetitions, *centre.shape))
        seed = int(rng.integers(2**63))
        difference = (sampled_objective(problem, centre + sigma * noise, batch, seed)
                      - sampled_objective(problem, centre - sigma * noise, batch, seed))
        estimate += difference[:, None, None] * noise
    return estimate / (2 * sigma * population)


@register("fd", problem="tabular", validate=_check_fd,
          description="central finite differences of the sampled objective with common random numbers (Vuorio et al.'s ground truth)")
def finite_differences(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                       step: float = 0.01) -> np.ndarray:
    """[F(φ + h e_i) − F(φ − h e_i)] / 2h for every coordinate i, one set of random numbers per estimate."""
    if not step > 0:
        raise ValueError(f"step: expected a positive number, got {step!r}")
    centre = _meta_point(problem)
    seed = int(rng.integers(2**63))
    estimate = np.zeros((repetitions, centre.size))
    for index in range(centre.size):
        offset = np.zeros(centre.size)
        offset[index] = step
        offset = np.broadcast_to(offset.reshape(centre.shape), (repetitions, *centre.shape))
        estimate[:, index] = (sampled_objective(problem, centre + offset, batch, seed)
                              - sampled_objective(problem, centre - offset, batch, seed)) / (2 * step)
    return estimate.reshape(repetitions, *centre.shape)
