"""Estimators studied by Vuorio et al. (2022): truncated backprop, OpenES and finite differences.

Two problem kinds:
- `tabular` (mgbench's own setting): the practical objective F(φ) = V_out(θ_K(φ; sampled
  batches)) of the `init`/`intrinsic` meta-parameters; truncation and the correction reuse the
  reverse pass of `inner_paths.py`; ES and FD evaluate F with common random numbers.
- `bandit` (their setting, `estimators.bandit.lifetime`): a learned learning-rate schedule η ∈ R² on
  noisy bandit tasks, the reward collected over the lifetime, the estimators as their released
  code runs them (`algorithms/off_policy_bandits.py`, `off_policy_bandits_es.py`,
  `experiments/bandits_trunc_bias_variance_{mg,dice,es,fd}_longer_lifetimes.py`):
  `truncated` (their "mg", and "dice" with `jacobian = "dice"`), `es`, `fd`, and the
  finite-difference ground truth `fd_ground_truth` beside mgbench's targets.
"""
from __future__ import annotations

import numpy as np

from estimators.pathwise import pathwise_pass
from estimators.tabular.inner_paths import PracticalPass, WeightedBatch, inner_gradient, practical_estimates
from estimators.bandit.lifetime import BanditLifetimeProblem, LifetimePass, sampled_lifetimes
from estimators.problem import MetaProblem, positive_int
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


# ------------------------------------------------------------------ their setting: the bandit lifetime
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


def _check_lifetime_problem(problem: BanditLifetimeProblem) -> None:
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
    _check_lifetime_problem(problem)
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
    _check_lifetime_problem(problem)
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
    _check_lifetime_problem(problem)
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
    _check_lifetime_problem(problem)
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
    _check_lifetime_problem(problem)
    means = problem.draw_tasks(rng, repetitions)
    etas = np.broadcast_to(np.asarray(problem.eta, float), (repetitions, 2))
    return sampled_lifetimes(problem, means, etas, rng, REFERENCE_PASS).estimate


def reference_target(problem: BanditLifetimeProblem, *, runs: int = 32_000, seed: int = 0,
                     chunk: int = 4000) -> tuple[np.ndarray, np.ndarray]:
    """mgbench's practical target when it cannot be enumerated: the mean of `runs`
    `reference_estimates` (unbiased), with the standard error of the mean, `(2,)` each."""
    runs = positive_int("runs", runs)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EF,)))
    estimates = np.concatenate([reference_estimates(problem, min(chunk, runs - start), rng)
                                for start in range(0, runs, chunk)])
    return estimates.mean(axis=0), estimates.std(axis=0, ddof=1) / np.sqrt(runs)
