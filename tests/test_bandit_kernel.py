"""The compiled bandit lifetime (`estimators.bandit.kernels`) against the numpy path on the same
random stream.

The bound: the two paths pull the same arms and agree to rounding. The kernel sums in another
order and its `exp` is not numpy's (each ≤ 1 ulp apart), so every quantity may differ by a few
ulp per inner step, compounded over K ≤ 80 steps: the estimates, fitness, final logits and
log-probabilities must agree within `RELATIVE` of their scale (measured: ≤ 2e-14). One pull
drawn differently moves θ_K by O(rate · reward / N) ≥ 1e-3 here, so the final-logit check also
shows that every pull is the same (a uniform within rounding of a CDF boundary, probability
~1e-15 per pull, would break it; none occurs on these streams).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mdps
from estimators import get_estimator
from estimators.bandit.lifetime import LifetimePass, compiled_supports, sampled_lifetimes
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.bandit.vuorio import REFERENCE_PASS, reference_estimates
from estimators.problem import AVAILABLE

pytestmark = pytest.mark.skipif(not AVAILABLE, reason="numba is not installed")

RELATIVE = 1e-10


def close(numpy_value: np.ndarray, compiled_value: np.ndarray) -> bool:
    scale = max(float(np.nanmax(np.abs(numpy_value))), 1e-300)
    return bool(np.nanmax(np.abs(numpy_value - compiled_value)) <= RELATIVE * scale)


def both(problem: BanditLifetimeProblem, call):
    """`call(problem, rng)` on the numpy path and the compiled one, from the same seed."""
    return [call(dataclasses.replace(problem, kernel=kernel), np.random.default_rng(11)) for kernel in ("numpy", "compiled")]


PASSES = {
    "mg whole lifetime": (LifetimePass(), 1, True),
    "mg L=21 random, lambda 0.6, discount 0.8": (LifetimePass("naive", 0.6, 0.8, 21, "random"), 1, True),
    "mg L=2 random": (LifetimePass("naive", 1.0, 1.0, 2, "random"), 1, True),
    "dice, full correction": (LifetimePass("dice", 1.0, 1.0, None, "last"), 1, True),
    "dice L=30 last, lambda 0.3": (LifetimePass("dice", 0.3, 1.0, 30, "last"), 1, True),
    "reference (exact outer, future baseline)": (REFERENCE_PASS, 1, True),
    "fitness, pairs share (Gumbel)": (LifetimePass(window=21), 2, False),
    "fitness, fours share (Gumbel)": (LifetimePass(), 4, False),
}


@pytest.mark.parametrize("noise", [2.0, 0.0])
@pytest.mark.parametrize("name", list(PASSES))
def test_the_kernel_gives_the_numpy_paths_numbers_on_the_same_stream(name, noise):
    settings, shared, differentiate = PASSES[name]
    problem = BanditLifetimeProblem(tasks=dataclasses.replace(mdps.VUORIO2022_BANDITS, noise=noise))

    def call(problem, rng):
        means = np.repeat(problem.draw_tasks(rng, 48), shared, axis=0)
        etas = np.array([1.5, 0.5]) + 0.05 * rng.standard_normal((len(means), 2))
        return sampled_lifetimes(problem, means, etas, rng, settings, shared=shared, differentiate=differentiate)

    reference, compiled = both(problem, call)
    assert close(reference.fitness, compiled.fitness)
    assert close(reference.estimate, compiled.estimate)
    whole = ~np.isnan(compiled.log_probability)           # lifetimes the kernel ran to the end
    assert whole.any() or settings.length(problem.lifetime) < problem.lifetime
    assert close(reference.final_theta[whole], compiled.final_theta[whole])
    assert close(reference.log_probability[whole], compiled.log_probability[whole])
    if differentiate and settings.correction:
        assert np.abs(reference.estimate).max() > 0.01       # the comparison is not of zeros


@pytest.mark.parametrize("name", ["truncated", "dice", "sf", "es", "fd", "pes", "nres"])
def test_registered_estimators_agree_across_kernels(name):
    estimator = get_estimator(name, "bandit")
    parameters = {"truncated": dict(window=41, lambda_c=0.5), "es": dict(window=21)}.get(name, {})
    reference, compiled = both(BanditLifetimeProblem(eta=np.array([0.5, 2.0])),
                               lambda problem, rng: estimator(problem, 64, rng, **parameters))
    assert close(reference, compiled) and np.abs(reference).max() > 0


def test_reference_estimates_agree_across_kernels():
    reference, compiled = both(BanditLifetimeProblem(), lambda problem, rng: reference_estimates(problem, 64, rng))
    assert close(reference, compiled)


def test_passes_the_kernel_does_not_compute_run_on_the_numpy_path():
    ideal = LifetimePass("naive", 1.0, 1.0, None, "last", outer="exact", baseline="ideal")
    future_random = LifetimePass("naive", 1.0, 0.9, 20, "random", outer="exact", baseline="future")
    assert not compiled_supports(ideal, 80) and not compiled_supports(future_random, 80)
    assert compiled_supports(dataclasses.replace(future_random, placement="last"), 80)
    problem = BanditLifetimeProblem(lifetime=30)
    for settings in (ideal, future_random):
        def call(problem, rng):
            means = problem.draw_tasks(rng, 16)
            return sampled_lifetimes(problem, means, np.tile(problem.eta, (16, 1)), rng, settings).estimate
        reference, compiled = both(problem, call)
        np.testing.assert_array_equal(reference, compiled)      # the same code ran


def test_the_kernel_field_is_checked():
    with pytest.raises(ValueError, match="kernel"):
        BanditLifetimeProblem(kernel="gpu")


@pytest.mark.parametrize("noise", [True, False])
def test_the_kernels_draws_are_numpys_bit_for_bit(noise):
    """`draw_block` (numba's Generator) gives numpy's numbers in the numpy path's order (per step
    the uniforms (R, N), then the normals (G, N)) and leaves the generator in numpy's state."""
    from estimators.bandit.kernels import draw_block

    steps, rows, groups, batch = 5, 7, 7, 3
    compiled_rng, numpy_rng = np.random.default_rng(2024), np.random.default_rng(2024)
    uniforms, normals = np.empty((steps, rows, batch)), np.empty((steps, groups, batch) if noise else (0, 0, 0))
    draw_block(compiled_rng, uniforms, normals)
    for step in range(steps):
        np.testing.assert_array_equal(uniforms[step], numpy_rng.random((rows, batch)))
        if noise:
            np.testing.assert_array_equal(normals[step], numpy_rng.standard_normal((groups, batch)))
    assert compiled_rng.bit_generator.state == numpy_rng.bit_generator.state
    np.testing.assert_array_equal(compiled_rng.random(4), numpy_rng.random(4))     # and they continue alike


def test_both_paths_leave_the_generator_in_the_same_state():
    problem = BanditLifetimeProblem(lifetime=30)
    states = []
    for kernel in ("numpy", "compiled"):
        rng = np.random.default_rng(5)
        means = problem.draw_tasks(rng, 40)
        sampled_lifetimes(dataclasses.replace(problem, kernel=kernel), means, np.tile(problem.eta, (40, 1)), rng,
                          LifetimePass(window=7))
        states.append(rng.bit_generator.state)
    assert states[0] == states[1]


def test_the_step_schedule_of_constant_etas_is_the_elementwise_one():
    """`step_schedule` evaluates softplus and sigmoid on the (R, 2) etas and spreads them over the
    steps: the same numbers as evaluating them at every step."""
    from estimators.bandit.lifetime import step_schedule
    from mdps import schedule_phases, sigmoid, softplus

    phases = schedule_phases(80, 8)
    etas = 3.0 * np.random.default_rng(0).standard_normal((257, 2))
    rates, slopes = step_schedule(etas, phases)
    np.testing.assert_array_equal(rates, softplus(etas[:, phases]))
    np.testing.assert_array_equal(slopes, sigmoid(etas[:, phases]))


def test_the_binary_search_gives_the_linear_counts_actions_ties_included():
    """`_count_at_most_32` (the inverse-CDF draw, a search of 3 levels) = #{a : cdf[a] ≤ u} (capped at 31), the numpy path's count, for
    u on every boundary, just beside it, at 0, at the total, and for CDFs with flat runs
    (zero-probability arms) and fewer arms than 32 (padded with +inf)."""
    from estimators.bandit.kernels import _count_at_most_32

    rng = np.random.default_rng(3)
    for arms in (1, 2, 5, 8, 9, 16, 17, 24, 25, 30, 32):      # and on the 3-level search's bucket edges
        for _ in range(20):
            policy = rng.dirichlet(np.full(arms, 0.3))
            policy[rng.random(arms) < 0.2] = 0.0                  # flat runs: equal neighbouring entries
            cdf = np.full(32, np.inf)
            cdf[:arms] = np.cumsum(policy)
            boundaries = cdf[:arms]
            uniforms = np.concatenate([boundaries, np.nextafter(boundaries, -1.0), np.nextafter(boundaries, 2.0),
                                       [0.0, 1.0 - 2**-53], rng.random(50)])
            for u in uniforms:
                count = int((cdf[:arms] <= u).sum())
                assert _count_at_most_32(cdf, u) == min(count, 31)          # the action: min(count, arms − 1)
                assert min(_count_at_most_32(cdf, u), arms - 1) == min(count, arms - 1)


def test_the_kernels_exp_is_within_two_ulp_of_numpys():
    from estimators.bandit.kernels import _exp_shifted

    x = np.concatenate([np.random.default_rng(4).uniform(-700.0, 0.0, 20000),
                        np.random.default_rng(5).uniform(-3.0, 0.0, 20000), [0.0, -1e-300]])
    out, bits = np.empty_like(x), np.empty(len(x), np.int64)
    _exp_shifted(x, 0.0, out, bits, len(x))
    np.testing.assert_allclose(out, np.exp(x), rtol=5e-16, atol=0)


@pytest.mark.parametrize("arms", [5, 8, 40])
def test_other_numbers_of_arms_padding_and_the_linear_count(arms):
    """Arms padded to a multiple of 8 (5 → 8), not padded (8), and beyond the binary search's 32
    (40: the linear count): the numpy path's numbers."""
    tasks = dataclasses.replace(mdps.VUORIO2022_BANDITS, n_arms=arms)
    problem = BanditLifetimeProblem(tasks=tasks, lifetime=30)
    settings = LifetimePass("dice", 1.0, 1.0, 12, "last")

    def call(problem, rng):
        means = problem.draw_tasks(rng, 24)
        return sampled_lifetimes(problem, means, np.tile(problem.eta, (24, 1)), rng, settings)

    reference, compiled = both(problem, call)
    assert close(reference.estimate, compiled.estimate) and close(reference.fitness, compiled.fitness)
    whole = ~np.isnan(compiled.log_probability)
    assert compiled.final_theta.shape == (24, arms)
    assert close(reference.final_theta[whole], compiled.final_theta[whole])
    assert close(reference.log_probability[whole], compiled.log_probability[whole])


@pytest.mark.parametrize("phase", [0, 1])
def test_one_dice_step_is_the_sum_over_the_pulls(phase):
    """One inner step of `advance` with the DiCE Jacobian (its pulls' terms folded into the pass over
    the arms: ĝ_a (T_a − πᵀT) − π_a (1/N) Σ_j r_j q_j) against the update written out over the pulls,
    T + α (−r̄ π ⊙ (T − πᵀT) + (1/N) Σ_j r_j z_j q_jᵀ) + ĝ (dα/dη)ᵀ, z_j = e_{a_j} − π,
    q_j = T[a_j] − πᵀT, with arms pulled several times (10 pulls, 5 arms padded to 8), from a
    non-zero tangent."""
    from estimators.bandit import kernels

    arms, batch, rows = 5, 10, 3
    width = kernels.padded_arms(arms)
    rng = np.random.default_rng(7)
    means = np.zeros((rows, width))
    means[:, :arms] = rng.standard_normal((rows, arms))
    theta = np.full((rows, width), kernels.PADDING_LOGIT)
    theta[:, :arms] = rng.standard_normal((rows, arms))
    tangent = np.zeros((rows, 2, width))
    tangent[:, :, :arms] = rng.standard_normal((rows, 2, arms))
    uniforms = rng.random((1, rows, batch))
    normals = rng.standard_normal((1, rows, batch))
    rates, slopes = np.array([[0.7, 0.9]] * rows), np.array([[0.3, 0.6]] * rows)
    phases = columns = np.array([phase], np.int64)
    theta0, tangent0 = theta.copy(), tangent.copy()
    cumulative, estimate = np.zeros((rows, 2)), np.zeros((rows, 2))
    fitness, log_probability = np.zeros(rows), np.zeros(rows)
    kernels.advance(0, phases, rates, slopes, columns, means, np.zeros(rows, np.int64), 1, uniforms,
                    np.zeros((0, 0, 0, 0)), normals, 1, 2.0, True, True, 1.0, 1.0, False, False, 16, False,
                    theta, tangent, cumulative, estimate, fitness, log_probability, arms)
    for row in range(rows):
        logits, old = theta0[row, :arms], tangent0[row, :, :arms].T                   # (K, 2)
        policy = np.exp(logits - logits.max())
        policy /= policy.sum()
        actions = np.minimum((np.cumsum(policy)[None, :] <= uniforms[0, row, :, None]).sum(axis=1), arms - 1)
        assert len(set(actions)) < batch                                              # some arm pulled twice
        rewards = means[row, actions] + 2.0 * normals[0, row]
        mean_reward = rewards.mean()
        gradient = -mean_reward * policy + np.bincount(actions, rewards / batch, arms)
        policy_tangent = policy @ old
        product = -mean_reward * policy[:, None] * (old - policy_tangent)
        for j in range(batch):
            z = -policy.copy()
            z[actions[j]] += 1.0
            product += rewards[j] * np.outer(z, old[actions[j]] - policy_tangent) / batch
        slope = np.zeros(2)
        slope[phase] = slopes[row, phase]
        expected = old + rates[row, phase] * product + np.outer(gradient, slope)
        np.testing.assert_allclose(tangent[row, :, :arms].T, expected, rtol=0, atol=1e-13)
        np.testing.assert_allclose(theta[row, :arms], logits + rates[row, phase] * gradient, rtol=0, atol=1e-13)
        assert np.all(tangent[row, :, arms:] == 0.0)                                 # the padding keeps its zeros
