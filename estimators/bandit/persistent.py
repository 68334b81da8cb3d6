"""Evolution strategies over the truncation windows of one lifetime, beyond Vuorio et al.: PES
(Vicol et al. 2021, persistent evolution strategies) and NRES (Li et al. 2023, noise-reuse
evolution strategies), as bandit estimators beside their windowed ES.

A lifetime of K inner steps is cut into W = ⌈K/L⌉ consecutive windows of L steps (the last one
shorter); like their meta-gradient, an estimate looks at one window t, uniform over the W. An
antithetic pair of lifetimes runs with schedules η ± σ ε_s in window s ≤ t, ε_s ~ N(0, I_2), and
F_t^± is the mean reward of window t:

  PES:  ε_s independent per window; ĝ = ξ_t (F_t⁺ − F_t⁻) / (2σ),  ξ_t = Σ_{s≤t} ε_s
        (the accumulated perturbation: the windows before t moved the state θ that window t
        starts from, and PES credits them);
  NRES: ε_s = ε for every window (the noise reused); ĝ = ε (F_t⁺ − F_t⁻) / (2σ).

Both are unbiased for the gradient of a Gaussian-smoothed objective, E_t E_ε[F_t(η + σε)]
(PES: independent ε per window, NRES: one ε), which tends to ∇_η E_t[F_t] as σ → 0. With L = K
(one window) both are their ES through the whole lifetime; NRES is their windowed ES with
the window aligned to a multiple of L instead of uniform in 0..K−L. `population` P pairs are
averaged. Each member runs its own lifetime with its own random numbers (their ES's convention),
stopped at the end of window t (the compiled kernel skips the rest).
"""
from __future__ import annotations

import numpy as np

from estimators.bandit.lifetime import LifetimePass, sampled_lifetimes
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.bandit.vuorio import check_lifetime_problem
from estimators.problem import positive_int
from estimators.registry import register


def window_layout(lifetime: int, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The W consecutive windows of L steps (`window` 0 = the whole lifetime): starts and lengths `(W,)`."""
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 0:
        raise ValueError(f"window: expected a non-negative integer (0 = the whole lifetime), got {window!r}")
    length = min(int(window) or lifetime, lifetime)
    starts = np.arange(0, lifetime, length)
    return starts, np.minimum(length, lifetime - starts)


def windowed_es(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *, sigma: float,
                window: int, population: int, persistent: bool) -> np.ndarray:
    """PES (`persistent`) or NRES estimates `(R, 2)` (module docstring)."""
    check_lifetime_problem(problem)
    if not sigma > 0:
        raise ValueError(f"sigma: expected a positive number, got {sigma!r}")
    population = positive_int("population", population)
    lifetime = problem.lifetime
    starts, lengths = window_layout(lifetime, window)
    n_windows = len(starts)
    noise = rng.standard_normal((repetitions, population, n_windows if persistent else 1, 2))
    chosen = rng.integers(n_windows, size=repetitions)                                  # window t of each estimate
    window_of_step = np.minimum(np.arange(lifetime) // lengths[0], n_windows - 1)
    step_noise = noise[:, :, window_of_step if persistent else np.zeros(lifetime, int)]   # (R, P, K, 2)
    signs = np.array([1.0, -1.0])[None, None, :, None, None]
    etas = (np.asarray(problem.eta, float) + sigma * signs * step_noise[:, :, None]).reshape(-1, lifetime, 2)
    means = np.repeat(problem.draw_tasks(rng, repetitions), population * 2, axis=0)
    length = int(lengths[0])
    window_starts = np.repeat(starts[chosen], population * 2)
    fitness = sampled_lifetimes(problem, means, etas, rng, LifetimePass(window=length), differentiate=False,
                                starts=window_starts).fitness.reshape(repetitions, population, 2)
    fitness = fitness * (length / lengths[chosen])[:, None, None]        # the mean over a shorter last window
    if persistent:
        weights = np.cumsum(noise, axis=2)[np.arange(repetitions), :, chosen]       # ξ_t (R, P, 2)
    else:
        weights = noise[:, :, 0]
    return ((fitness[..., 0] - fitness[..., 1])[..., None] * weights).sum(axis=1) / (2 * sigma * population)


@register("pes", problem="bandit",
          description="PES over the truncation windows of one lifetime: fresh noise per window, the accumulated "
                      "noise as weight, one window per estimate, antithetic pairs, σ = 0.1 (Vicol et al. 2021)")
def persistent_es_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                           sigma: float = 0.1, window: int = 0, population: int = 1) -> np.ndarray:
    """PES, `(R, 2)` (module docstring)."""
    return windowed_es(problem, repetitions, rng, sigma=sigma, window=window, population=population, persistent=True)


@register("nres", problem="bandit",
          description="NRES over the truncation windows of one lifetime: one noise reused by every window, one window "
                      "per estimate, antithetic pairs, σ = 0.1 (Li et al. 2023)")
def noise_reuse_es_lifetime(problem: BanditLifetimeProblem, repetitions: int, rng: np.random.Generator, *,
                            sigma: float = 0.1, window: int = 0, population: int = 1) -> np.ndarray:
    """NRES, `(R, 2)` (module docstring)."""
    return windowed_es(problem, repetitions, rng, sigma=sigma, window=window, population=population, persistent=False)
