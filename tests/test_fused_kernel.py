"""The compiled per-batch kernel (`estimators.tabular.fused`) against the numpy reference path.

Both paths draw the same numbers from the same generator, so each sampled estimate is
compared one to one (never statistically):

- bit-identical (`np.array_equal`) for the critic `none` and for `dice` (which reads no
  critic): every floating-point operation of the kernel — rollout, returns, β, ω, u, the
  mixed coefficients and the totals in `np.bincount` order — is the numpy path's, in the
  same order, and the O(R·S·A) finishes are the same numpy functions;
- within 1e-12 of the largest entry for the `exact` and `noisy` critics: the kernel's
  Bellman solve (Gaussian elimination with partial pivoting) and finite-horizon recursion
  sum in another order than LAPACK and `einsum`, so V̂ agrees only to rounding
  (~1e-14 measured), and so do the estimates that read it; likewise for the splits whose
  exact parts (Hessian-vector products, the outer gradient at diverged iterates) the
  kernel computes on an infinite horizon (`fused.compiled_exact`: one LU per policy).

Every family (loaded at λ = 1, 0 and 0.6) x split with a sampled part x shared and
independent batches x critic x horizon (infinite; finite with T = H; finite truncated
T < H) x meta-parameter (init, intrinsic). Small MDPs, R = 3, N = 4, K = 2. The same for
GAE(λ) advantages (λ_GAE = 1, 0.9, 0) and the critic of r + η differentiated in η (the
`lirpg` preset's options), for the families whose weights are γᵗA_t: the same tolerances;
and, handed numpy's critic, the kernel's products (mixed term and critic state weights
included) are bit-identical to the `Surrogate` methods for every critic.

The practical-target passes (`inner_paths.practical_estimates`: naive, dice and lsf
Jacobians, correction λ_c, window, baseline) run the dice row of the family table with
each trajectory weighted 1/N inside the sums: bit-identical, except the LSF Jacobian,
whose per-trajectory ĝ_m·v = Σ_t γᵗR_t (z_t·v) numpy sums pairwise over T and the kernel
in order (within 1e-12 of the largest entry).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from estimators import get_estimator
from estimators import problem as kernel_choice
from estimators.tabular import fused
from estimators.tabular import kernels as fused_kernels
from estimators.tabular.problem import MetaProblem
from estimators.tabular.split import SPLITS
from estimators.tabular.surrogates import FAMILIES, family_rule
from mdps import random_mdp, sample_trajectories, softmax_policy
from mdps.sampling import draw_rollout_uniforms, policy_sampling_tables

REPETITIONS, BATCH, STEPS = 3, 4, 2
SAMPLED_SPLITS = [split for split in SPLITS if "l" in split]
HORIZONS = {"infinite": (None, 5), "finite": (5, 5), "truncated": (5, 3)}   # (H, T)


def test_numba_is_installed_so_the_compiled_path_runs():
    assert kernel_choice.AVAILABLE, "numba is a dependency: without it every estimate silently takes the numpy path"


def _problem(horizon_kind: str, critic: str, meta_parameter: str) -> MetaProblem:
    horizon, length = HORIZONS[horizon_kind]
    mdp = random_mdp(4, 3, seed=11, horizon=horizon)
    rng = np.random.default_rng(5)
    intrinsic = rng.normal(size=(4, 3)) if meta_parameter == "intrinsic" else None
    return MetaProblem(mdp, 0.5 * rng.normal(size=(4, 3)), steps=STEPS, lr=2.0, meta_parameter=meta_parameter,
                       intrinsic=intrinsic, rollout_length=length, critic=critic, critic_noise=0.7)


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("critic", ["none", "exact", "noisy"])
@pytest.mark.parametrize("horizon_kind", sorted(HORIZONS))
def test_compiled_equals_numpy_on_the_same_stream(horizon_kind, critic, meta_parameter):
    compiled = _problem(horizon_kind, critic, meta_parameter)
    reference = replace(compiled, kernel="numpy")
    for family in FAMILIES:
        for lambda_ in ((1.0, 0.0, 0.6) if family == "loaded" else (1.0,)):
            parameters = {"lambda_": lambda_} if family == "loaded" else {}
            for split in SAMPLED_SPLITS:
                for shared in (False, True):
                    estimate = get_estimator(family).function(compiled, REPETITIONS, np.random.default_rng(3),
                                                              split=split, shared=shared, batch=BATCH, **parameters)
                    expected = get_estimator(family).function(reference, REPETITIONS, np.random.default_rng(3),
                                                              split=split, shared=shared, batch=BATCH, **parameters)
                    label = f"{family} λ={lambda_} {split} shared={shared}"
                    if (critic == "none" or family == "dice") and not _exact_part_in_kernel(horizon_kind, split):
                        assert np.array_equal(estimate, expected), label
                    else:
                        scale = np.abs(expected).max()
                        np.testing.assert_allclose(estimate, expected, rtol=0, atol=1e-12 * scale, err_msg=label)


def _exact_part_in_kernel(horizon_kind: str, split: str) -> bool:
    """Whether the split computes an exact part in the kernel (`fused.compiled_exact`, one LU per
    policy: LAPACK's numbers to rounding): infinite horizon, and an exact Hessian, or an exact
    outer gradient at iterates that differ across repetitions (a sampled inner step)."""
    inner, hessian, outer = split
    return horizon_kind == "infinite" and (hessian == "e" or (outer == "e" and inner == "l"))


GAE_FAMILIES = [family for family in FAMILIES if family_rule(family).uses_critic]   # weights γᵗA_t (not dice)
GAE_SPLITS = ("lll", "ele", "lle")    # every sampled part; LIRPG's split; a sampled Hessian with the exact outer


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("critic", ["none", "exact", "noisy"])
@pytest.mark.parametrize("horizon_kind", sorted(HORIZONS))
def test_compiled_gae_and_differentiated_critic_equal_numpy(horizon_kind, critic, meta_parameter):
    """GAE(λ) advantages and the critic of r + η differentiated in η (the `lirpg` preset's options) in the kernel.

    λ_GAE in {1, 0.9, 0} x detach_critic (both for intrinsic; it only enters the LIRPG mixed
    term, so init takes True) x the families whose weights are γᵗA_t. Bit-identical for
    the critic `none`; within 1e-12 of the largest entry with a critic, for the reason of
    the test above: the kernel's critic V̂ (Gaussian elimination, finite-horizon recursion)
    agrees with LAPACK's and einsum's to rounding, and the advantages read it. The mixed
    term itself (TD coefficients, critic state weights, the transposed solve) does not read
    V̂ and is bit-identical (`test_kernel_products_with_gae_equal_the_surrogate_methods`).
    """
    compiled = _problem(horizon_kind, critic, meta_parameter)
    reference = replace(compiled, kernel="numpy")
    detach_settings = (True, False) if meta_parameter == "intrinsic" else (True,)
    for family in GAE_FAMILIES:
        for gae_lambda in (1.0, 0.9, 0.0):
            for detach_critic in detach_settings:
                parameters = {"gae_lambda": gae_lambda, "detach_critic": detach_critic,
                              **({"lambda_": 0.6} if family == "loaded" else {})}
                for split, shared in [(split, False) for split in GAE_SPLITS] + [("lll", True)]:
                    estimate = get_estimator(family).function(compiled, REPETITIONS, np.random.default_rng(3),
                                                              split=split, shared=shared, batch=BATCH, **parameters)
                    expected = get_estimator(family).function(reference, REPETITIONS, np.random.default_rng(3),
                                                              split=split, shared=shared, batch=BATCH, **parameters)
                    label = f"{family} {split} shared={shared} {parameters}"
                    if critic == "none" and not _exact_part_in_kernel(horizon_kind, split):
                        assert np.array_equal(estimate, expected), label
                    else:
                        scale = np.abs(expected).max()
                        np.testing.assert_allclose(estimate, expected, rtol=0, atol=1e-12 * scale, err_msg=label)


@pytest.mark.parametrize("critic", ["none", "exact", "noisy"])
@pytest.mark.parametrize("horizon_kind", sorted(HORIZONS))
def test_kernel_products_with_gae_equal_the_surrogate_methods(horizon_kind, critic):
    """ĝ, Ĥv and the mixed term of one batch with GAE and a differentiated critic: bit-identical.

    The kernel is handed numpy's critic V̂ (`surrogates.critic_values`) so that the only
    source of rounding differences is gone; then every product of every family, at
    λ_GAE in {1, 0.9, 0}, with the critic held fixed or differentiated, equals the
    `Surrogate` method bit for bit, and the critic state weights equal
    `advantages.critic_state_weights`.
    """
    from estimators.tabular.advantages import critic_state_weights, td_coefficients
    from estimators.scores import forward_trace, score_dots
    from estimators.tabular.surrogates import Surrogate, critic_values, draw_batch

    problem = _problem(horizon_kind, critic, "init")
    mdp, length = problem.mdp, HORIZONS[horizon_kind][1]
    thetas = np.random.default_rng(1).normal(size=(REPETITIONS, 4, 3))
    vectors = np.random.default_rng(2).normal(size=thetas.shape)
    batch = draw_batch(problem, thetas, BATCH, np.random.default_rng(4))
    drawn = fused.draw_compiled_batch(mdp, thetas, BATCH, length, np.random.default_rng(4), rewards=None,
                                      critic=critic, critic_noise=0.7, needs_critic=True)
    if critic != "none":
        drawn = replace(drawn, values=critic_values(mdp, thetas, critic, noise_scale=0.7, noise_draw=batch.noise_draw))
    for family in FAMILIES:
        rule = family_rule(family, 0.6)
        for gae_lambda in (1.0, 0.9, 0.0):
            for critic_mdp in (None, mdp):
                label = f"{family} λ_GAE={gae_lambda} differentiated={critic_mdp is not None}"
                surrogate = Surrogate(batch, family, lambda_=0.6, gae_lambda=gae_lambda, critic_mdp=critic_mdp)
                gradient, hessian, mixed = fused.compiled_products(drawn, rule, vectors=vectors, hessian=True,
                                                                   mixed=True, gae_lambda=gae_lambda,
                                                                   critic_mdp=critic_mdp)
                assert np.array_equal(gradient, surrogate.gradient()), label
                assert np.array_equal(hessian, surrogate.hessian_vector_product(vectors)), label
                assert np.array_equal(mixed, surrogate.mixed_vector_product(vectors)), label
                totals = fused.roll_out_totals(drawn, rule, vectors=vectors, mixed=True, gae_lambda=gae_lambda,
                                               differentiate_critic=critic_mdp is not None)
                if critic == "none" or family == "dice" or critic_mdp is None:
                    assert totals.critic is None, label
                    continue
                traced = forward_trace(score_dots(batch.policy, batch.flat_states, batch.flat_state_actions, vectors),
                                       rule.mixed_decay)
                steps = traced.copy()
                steps[..., 1:] -= traced[..., :-1]
                expected = critic_state_weights(td_coefficients(steps, mdp.gamma, gae_lambda), batch.states,
                                                batch.final_states, mdp.gamma, mdp.n_states, horizon=mdp.horizon,
                                                truncated=batch.truncated)
                assert np.array_equal(totals.critic / BATCH, expected), label


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("horizon_kind", sorted(HORIZONS))
def test_compiled_practical_passes_equal_numpy(horizon_kind, meta_parameter):
    from estimators.tabular.inner_paths import PracticalPass, practical_estimates

    for steps in (1, 3):
        compiled = replace(_problem(horizon_kind, "none", meta_parameter), steps=steps)
        reference = replace(compiled, kernel="numpy")
        for settings in (PracticalPass("naive", 1.0), PracticalPass("naive", 0.5, 1, "initial_value"),
                         PracticalPass("dice", 0.0, None), PracticalPass("dice", 1.0, 2, "initial_value"),
                         PracticalPass("lsf", 0.0), PracticalPass("lsf", 1.0, 1)):
            estimate = practical_estimates(compiled, REPETITIONS, np.random.default_rng(8), batch=BATCH,
                                           settings=settings)
            expected = practical_estimates(reference, REPETITIONS, np.random.default_rng(8), batch=BATCH,
                                           settings=settings)
            if settings.jacobian == "lsf":
                np.testing.assert_allclose(estimate, expected, rtol=0, atol=1e-12 * np.abs(expected).max(),
                                           err_msg=str(settings))
            else:
                assert np.array_equal(estimate, expected), (steps, settings)


@pytest.mark.parametrize("horizon_kind", sorted(HORIZONS))
def test_kernel_products_equal_the_surrogate_methods(horizon_kind):
    """ĝ, Ĥv and the mixed term of one batch, every family, critic none: bit-identical."""
    from estimators.tabular.surrogates import Surrogate, draw_batch

    problem = _problem(horizon_kind, "none", "init")
    length = HORIZONS[horizon_kind][1]
    thetas = np.random.default_rng(1).normal(size=(REPETITIONS, 4, 3))
    vectors = np.random.default_rng(2).normal(size=thetas.shape)
    batch = draw_batch(problem, thetas, BATCH, np.random.default_rng(4))
    drawn = fused.draw_compiled_batch(problem.mdp, thetas, BATCH, length, np.random.default_rng(4), rewards=None,
                                      critic="none", critic_noise=1.0, needs_critic=True)
    for family in FAMILIES:
        surrogate = Surrogate(batch, family, lambda_=0.6)
        gradient, hessian, mixed = fused.compiled_products(drawn, family_rule(family, 0.6), vectors=vectors,
                                                           hessian=True, mixed=True)
        assert np.array_equal(gradient, surrogate.gradient()), family
        assert np.array_equal(hessian, surrogate.hessian_vector_product(vectors)), family
        assert np.array_equal(mixed, surrogate.mixed_vector_product(vectors)), family


def test_many_actions_take_the_guide_table_path_with_the_same_numbers():
    """A > 8: actions are drawn by the guide-table scan instead of counting; still bit-identical."""
    mdp = random_mdp(3, 10, seed=4)
    problem = MetaProblem(mdp, np.random.default_rng(0).normal(size=(3, 10)), steps=2, lr=1.0, rollout_length=6,
                          critic="none")
    for family in ("loaded", "dice"):
        estimate = get_estimator(family).function(problem, 4, np.random.default_rng(1), batch=5, shared=True)
        expected = get_estimator(family).function(replace(problem, kernel="numpy"), 4, np.random.default_rng(1),
                                                  batch=5, shared=True)
        assert np.array_equal(estimate, expected), family


def test_uniforms_are_drawn_in_the_order_of_the_numpy_sampler():
    mdp = random_mdp(4, 3, seed=2)
    policy = softmax_policy(np.random.default_rng(0).normal(size=(2, 4, 3)))
    sampler, drawer = np.random.default_rng(9), np.random.default_rng(9)
    sample_trajectories(mdp, policy, 5, 7, sampler)
    draw_rollout_uniforms(drawer, 2, 5, 7)
    assert sampler.bit_generator.state == drawer.bit_generator.state


def test_policy_tables_equal_the_numpy_sampling_tables():
    policy = softmax_policy(np.random.default_rng(0).normal(size=(3, 6, 4)) * 3)
    expected_cumulative, expected_guide = policy_sampling_tables(policy)
    cumulative, guide = fused_kernels.policy_tables(policy)
    assert np.array_equal(cumulative, expected_cumulative)
    assert np.array_equal(guide, expected_guide)


def test_compiled_critic_agrees_with_the_numpy_critic():
    from estimators.tabular.surrogates import critic_values

    for horizon in (None, 4):
        mdp = random_mdp(5, 3, seed=4, horizon=horizon)
        thetas = np.random.default_rng(1).normal(size=(3, 5, 3))
        noise = np.random.default_rng(2).standard_normal((3, 5))
        for critic in ("exact", "noisy"):
            expected = critic_values(mdp, thetas, critic, noise_scale=0.5, noise_draw=noise)
            values = fused_kernels.critic_values(softmax_policy(thetas), mdp.transitions, mdp.rewards, mdp.gamma,
                                                 horizon or 0, False, noise, 0.5, critic == "noisy")
            np.testing.assert_allclose(values, expected, rtol=0, atol=1e-13 * np.abs(expected).max())


def test_without_numba_the_numpy_path_runs(monkeypatch):
    problem = _problem("infinite", "noisy", "init")
    expected = get_estimator("loaded").function(replace(problem, kernel="numpy"), 2, np.random.default_rng(0), batch=3)
    monkeypatch.setattr(kernel_choice, "AVAILABLE", False)
    assert not kernel_choice.use_compiled("compiled")
    assert np.array_equal(get_estimator("loaded").function(problem, 2, np.random.default_rng(0), batch=3), expected)


def test_bad_kernel_names_the_field():
    with pytest.raises(ValueError, match="kernel"):
        replace(_problem("infinite", "none", "init"), kernel="fortran")
    with pytest.raises(ValueError, match="kernel"):
        kernel_choice.check_kernel("fortran")


@pytest.mark.parametrize("common", [False, True])
def test_compiled_exact_parts_equal_the_mdp_methods(common):
    """`fused.compiled_exact` (gradient, Hessian-vector and occupancy-vector products, one LU per
    policy) against `TabularMDP.batch_values_and_gradients` / `batch_tangents` (LAPACK): to
    rounding. Logits of scale 3 make the LU pivot (a row-swap bug gave 4 % errors here)."""
    mdp = random_mdp(9, 3, seed=4, gamma=0.9)
    rng = np.random.default_rng(8)
    thetas = 3.0 * rng.normal(size=(12, 9, 3))
    if common:
        thetas = np.broadcast_to(thetas[:1], thetas.shape).copy()
    vectors = rng.normal(size=thetas.shape)
    gradients, hessian, occupancy = fused.compiled_exact(mdp, thetas, common, vectors)
    expected_hessian, expected_occupancy = mdp.batch_tangents(thetas, vectors[:, None])
    for name, actual, expected in (("gradient", gradients, mdp.batch_values_and_gradients(thetas)[2]),
                                   ("hessian", hessian, expected_hessian[:, 0]),
                                   ("occupancy", occupancy, expected_occupancy[:, 0])):
        np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-12 * np.abs(expected).max(), err_msg=name)
    assert fused.compiled_exact(mdp, thetas, common)[1] is None


def test_compiled_lu_pivots_and_solves_both_ways():
    """`lu_solve_in_place` of `lu_in_place`'s factors: M x = b and Mᵀ x = b for a matrix that
    needs row swaps (small leading entries), against numpy.linalg.solve."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(size=(7, 7))
    matrix[np.arange(7), np.arange(7)] = 1e-3
    right = rng.normal(size=7)
    lu, pivots = matrix.copy(), np.zeros(7, np.intp)
    fused_kernels.lu_in_place(lu, pivots)
    assert np.any(pivots != np.arange(7))
    for transposed in (False, True):
        solved = right.copy()
        fused_kernels.lu_solve_in_place(lu, pivots, solved, transposed)
        np.testing.assert_allclose(solved, np.linalg.solve(matrix.T if transposed else matrix, right), rtol=1e-10)
