"""Estimators studied by Vuorio et al. (2022): truncated backprop, OpenES and finite
differences, all of the practical objective F(φ) = V_out(θ_K(φ; sampled batches)).

Truncation and the correction coefficient reuse the reverse pass of `inner_paths.py`;
ES and FD only evaluate F, with common random numbers (the same uniforms drive the
sampler for every perturbation that is compared).
"""
from __future__ import annotations

import numpy as np

from estimators.inner_paths import PracticalPass, WeightedBatch, inner_gradient, practical_estimates
from estimators.problem import MetaProblem, positive_int
from estimators.registry import register
from mdps import sample_trajectories, softmax_policy


@register("truncated", problem="tabular",
          description="backprop through the last `window` inner steps only, with sampling correction λ_c (Vuorio et al.)")
def truncated(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
              window: int = 1, lambda_c: float = 0.0, jacobian: str = "naive") -> np.ndarray:
    """Reverse accumulation λ_{k-1} = Ĵ_kᵀ λ_k + λ_c V s_k for k = K, ..., K - window + 1.

    `jacobian="dice"` with `window >= K` and `lambda_c = 0` is DiCE autodiff through the
    sampled inner loop (Hessian estimate of the DiCE surrogate in every step).
    """
    positive_int("window", window)
    return practical_estimates(problem, repetitions, rng, batch=batch,
                               settings=PracticalPass(jacobian, lambda_c, window))


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


@register("es", problem="tabular",
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


@register("fd", problem="tabular",
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
