"""Closed-form gradient and Hessian estimates from off-policy evaluation (Tang et al. 2021).

Three kinds of evidence: (1) each closed form equals finite differences of its surrogate V̂(θ)
(written here independently as the recursions of the paper and of the released code), with
the samples held fixed; (2) exact expectations by enumerating every trajectory of a tiny MDP:
IS and DR are unbiased for the T-step objective J_T (checked against finite differences of J_T
by dynamic programming), TayPO-1/2 and V-trace are not, and their enumerated expectations match
large-sample means within a χ² test on the Mahalanobis distance; (3) identities: at π = μ the
TayPO-2 (paper) estimates equal the doubly robust ones trajectory by trajectory.
"""
from __future__ import annotations

import numpy as np
import pytest

from estimators.tabular.enumeration import enumerate_trajectories
from estimators.tabular.off_policy_evaluation import (OPE_ESTIMATORS, RELEASED_RATIO_OFFSET, OffPolicyBatch,
                                                      OffPolicySetting, jax_index, ope_derivatives,
                                                      ope_hessian_vector_products, ope_moments)
from mdps import random_mdp, sample_trajectories, softmax_policy
from tests.finite_differences import central_difference, relative_error
from tests.statistical import assert_unbiased

S, A, T, GAMMA = 3, 2, 3, 0.8


@pytest.fixture(scope="module")
def tiny():
    mdp = random_mdp(S, A, seed=7, gamma=GAMMA, concentration=1.0)
    rng = np.random.default_rng(np.random.SeedSequence(11))
    behaviour = softmax_policy(rng.normal(size=(S, A)))
    theta = rng.normal(size=(S, A))
    critic = rng.normal(size=S)
    return mdp, behaviour, theta, critic


def _setting(behaviour, critic, offset=0.0):
    return OffPolicySetting(behaviour=behaviour, critic=critic, gamma=GAMMA, ratio_offset=offset)


def _sample(mdp, behaviour, n, length, seed):
    trajectories = sample_trajectories(mdp, behaviour, n, length, np.random.default_rng(np.random.SeedSequence(seed)))
    return OffPolicyBatch(trajectories.states[0], trajectories.actions[0], trajectories.rewards[0],
                          trajectories.final_states[0])


# ----------------------------------------------------------------------------- surrogates, written as recursions

def _surrogate(name, theta, setting, batch):
    """V̂(θ) per trajectory, by the recursions (the released code's loops for `taypo2_released`)."""
    policy = softmax_policy(theta)
    rho = policy[batch.states, batch.actions] / (setting.behaviour[batch.states, batch.actions] + setting.ratio_offset)
    n, length = batch.shape
    V = setting.critic if name != "is" else np.zeros_like(setting.critic)
    gamma = setting.gamma
    if name in ("is", "dr", "vtrace"):
        clip = 1.0 if name == "vtrace" else np.inf
        v = V[batch.final_states]
        for t in range(length - 1, -1, -1):
            s, nxt = batch.states[:, t], (batch.states[:, t + 1] if t + 1 < length else batch.final_states)
            f = np.minimum(rho[:, t], clip)
            v = V[s] + f * (batch.rewards[:, t] + gamma * V[nxt] - V[s]) + gamma * f * (v - V[nxt])
        return v
    if name == "taypo2_released":
        return _released_secondorder(rho, setting.critic, batch, gamma)
    returns = np.zeros((n, length))
    g = V[batch.final_states]
    for t in range(length - 1, -1, -1):
        g = batch.rewards[:, t] + gamma * g
        returns[:, t] = g
    advantage = returns - V[batch.states]
    total = sum(gamma**t * (rho[:, t] - 1) * advantage[:, t] for t in range(length))
    if name == "taypo1":
        return total
    if name == "taypo2_recursive":
        nxt = np.concatenate([batch.states[:, 1:], batch.final_states[:, None]], axis=1)
        td = batch.rewards + gamma * V[nxt] - V[batch.states]
        total = sum(gamma**t * (rho[:, t] - 1) * td[:, t] for t in range(length))
    for k in range(length):
        for t in range(k):
            total = total + gamma**k * (rho[:, t] - 1) * (rho[:, k] - 1) * advantage[:, k]
    return total


def _released_secondorder(rho, V, batch, gamma):
    """`Secondorder_evaluation` of evaluation_utils.py, loop for loop, numpy with JAX index rules."""
    n, length = batch.shape
    at = lambda array, i: array[jax_index(i, len(array))]  # noqa: E731
    out = np.zeros(n)
    for i in range(n):
        ratio = rho[i]
        # Firstorder_evaluation_util(..., stop_grad=True): the list all_evaluations
        v_estimate, time, evaluations = at(V, -1), -1, [at(V, -1)]
        now = 0.0
        for t in range(length - 1, -1, -1):
            time -= 1
            r = batch.rewards[i, t]
            v_estimate = at(V, time) + (r + gamma * at(V, time + 1) - at(V, time)) + gamma * (v_estimate - at(V, time + 1))
            now = gamma * now + (v_estimate - at(V, time)) * (ratio[t] - 1.0)
            evaluations.append(now + at(V, time))
        evaluations = evaluations[::-1]
        # Secondorder_util(V=all_evals, Vbase=V, stop_grad=False)
        time, estimates = -1, []
        for t in range(length - 1, -1, -1):
            time -= 1
            v_next = batch.rewards[i, t] + gamma * at(evaluations, time + 1)
            estimates.append((v_next - at(V, time)) * (ratio[t] - 1.0))
        out[i] = sum(gamma**step * e for step, e in enumerate(estimates[::-1]))
    return out


@pytest.mark.parametrize("name", OPE_ESTIMATORS)
@pytest.mark.parametrize("offset", [0.0, RELEASED_RATIO_OFFSET])
def test_closed_form_matches_finite_differences_of_the_surrogate(tiny, name, offset):
    mdp, behaviour, theta, critic = tiny
    setting = _setting(behaviour, critic, offset)
    length = 4 if name != "taypo2_released" else S   # released indexing: the critic is read by time (S entries)
    batch = _sample(mdp, behaviour, 5, length, seed=3)
    if name == "vtrace":     # keep every ratio away from the kink at 1 (FD across it is meaningless)
        rho = softmax_policy(theta)[batch.states, batch.actions] / behaviour[batch.states, batch.actions]
        assert np.abs(rho - 1).min() > 1e-3
    values, gradients, hessians = ope_derivatives(name, theta, setting, batch)
    if name in ("is", "dr", "vtrace"):     # the Taylor values are compared in the next test (constant dropped)
        np.testing.assert_allclose(values, _surrogate(name, theta, setting, batch), rtol=1e-12, atol=1e-12)
    fd_gradient = central_difference(lambda th: _surrogate(name, th, setting, batch), theta, step=1e-5)
    assert relative_error(gradients, fd_gradient.reshape(5, -1)) < 1e-7
    fd_hessian = central_difference(lambda th: ope_derivatives(name, th, setting, batch)[1], theta, step=1e-5)
    assert relative_error(hessians, fd_hessian.reshape(5, S * A, S * A)) < 1e-7
    np.testing.assert_allclose(hessians, np.swapaxes(hessians, 1, 2), atol=1e-12)


def test_taylor_values_match_the_surrogate_up_to_a_constant(tiny):
    mdp, behaviour, theta, critic = tiny
    setting = _setting(behaviour, critic)
    batch = _sample(mdp, behaviour, 6, S, seed=4)
    for name in ("taypo1", "taypo2", "taypo2_recursive", "taypo2_released"):
        np.testing.assert_allclose(ope_derivatives(name, theta, setting, batch)[0], _surrogate(name, theta, setting, batch),
                                   rtol=1e-12, atol=1e-12)


def test_vtrace_tie_takes_half_the_derivative_like_jax_min(tiny):
    """At π = μ (ratios exactly 1) V-trace's derivative is half of DR's first factor (JAX's min rule)."""
    mdp, behaviour, _, critic = tiny
    batch = _sample(mdp, behaviour, 3, 1, seed=5)
    _, g_vtrace, _ = ope_derivatives("vtrace", np.log(behaviour), _setting(behaviour, critic), batch)
    _, g_dr, _ = ope_derivatives("dr", np.log(behaviour), _setting(behaviour, critic), batch)
    np.testing.assert_allclose(g_vtrace, 0.5 * g_dr, atol=1e-14)


def test_taypo2_is_the_second_order_truncation_of_dr_on_policy(tiny):
    """At θ = log μ (u = ρ − 1 = 0) TayPO-2 (paper) has DR's ĝ and Ĥ per trajectory, TayPO-1 DR's ĝ only."""
    mdp, behaviour, _, critic = tiny
    setting = _setting(behaviour, critic)
    batch = _sample(mdp, behaviour, 50, 5, seed=6)
    theta = np.log(behaviour)
    _, g_dr, h_dr = ope_derivatives("dr", theta, setting, batch)
    _, g2, h2 = ope_derivatives("taypo2", theta, setting, batch)
    _, g1, h1 = ope_derivatives("taypo1", theta, setting, batch)
    np.testing.assert_allclose(g2, g_dr, atol=1e-12)
    np.testing.assert_allclose(h2, h_dr, atol=1e-12)
    np.testing.assert_allclose(g1, g_dr, atol=1e-12)
    assert relative_error(h1, h_dr) > 0.1


# ----------------------------------------------------------------------------- exact expectations by enumeration

def _all_trajectories(mdp, behaviour, length):
    """Every (s_0, a_0, ..., s_{T−1}, a_{T−1}, s_T) and its probability under μ."""
    states, actions, log_dynamics = enumerate_trajectories(mdp, length + 1)
    keep = actions[:, length] == 0        # one row per s_T (the last action is a dummy)
    states, actions, log_dynamics = states[keep], actions[keep], log_dynamics[keep]
    batch = OffPolicyBatch(states[:, :length], actions[:, :length], mdp.rewards[states[:, :length], actions[:, :length]],
                           states[:, length])
    probability = np.exp(log_dynamics + np.log(behaviour[batch.states, batch.actions]).sum(axis=1))
    return batch, probability


def _expectation(name, theta, setting, batch, probability):
    _, gradients, hessians = ope_derivatives(name, theta, setting, batch)
    return probability @ gradients, np.einsum("j,jde->de", probability, hessians)


def _t_step_objective(mdp, theta, terminal, length):
    """J_T(θ) = E_π[Σ_{t<T} γ^t r_t + γ^T V(s_T)] by backward dynamic programming."""
    policy = softmax_policy(theta)
    values = terminal
    for _ in range(length):
        values = (policy * (mdp.rewards + mdp.gamma * mdp.transitions @ values)).sum(axis=1)
    return float(mdp.initial @ values)


def _exact_derivatives(mdp, theta, terminal, length):
    gradient = central_difference(lambda th: _t_step_objective(mdp, th, terminal, length), theta, step=1e-5).ravel()
    hessian = central_difference(
        lambda th: central_difference(lambda t2: _t_step_objective(mdp, t2, terminal, length), th, step=1e-4),
        theta, step=1e-4).reshape(S * A, S * A)
    return gradient, hessian


@pytest.fixture(scope="module")
def enumerated(tiny):
    mdp, behaviour, theta, critic = tiny
    batch, probability = _all_trajectories(mdp, behaviour, T)
    assert abs(probability.sum() - 1) < 1e-12
    return batch, probability


@pytest.mark.parametrize("name", ["is", "dr"])
def test_is_and_dr_are_unbiased_for_the_t_step_objective(tiny, enumerated, name):
    mdp, behaviour, theta, critic = tiny
    batch, probability = enumerated
    setting = _setting(behaviour, critic)
    gradient, hessian = _expectation(name, theta, setting, batch, probability)
    terminal = np.zeros(S) if name == "is" else critic
    exact_gradient, exact_hessian = _exact_derivatives(mdp, theta, terminal, T)
    assert relative_error(gradient, exact_gradient) < 1e-8
    assert relative_error(hessian, exact_hessian) < 1e-5     # FD of FD: O(h²) = 1e-8 plus rounding 1e-16/h² = 1e-8


@pytest.mark.parametrize("name", ["vtrace", "taypo1", "taypo2", "taypo2_recursive"])
def test_biased_estimates_are_biased_off_policy(tiny, enumerated, name):
    mdp, behaviour, theta, critic = tiny
    batch, probability = enumerated
    _, hessian = _expectation(name, theta, _setting(behaviour, critic), batch, probability)
    _, exact_hessian = _exact_derivatives(mdp, theta, critic, T)
    assert relative_error(hessian, exact_hessian) > 1e-3     # 100x the finite-difference tolerance above


@pytest.mark.parametrize("name", OPE_ESTIMATORS)
def test_enumerated_expectation_matches_a_large_sample_mean(tiny, enumerated, name):
    """The exact expectation by enumeration lies within the sampling error of 20,000 estimates
    (χ² test on the Mahalanobis distance of the mean, false alarm 1e-4)."""
    mdp, behaviour, theta, critic = tiny
    batch, probability = enumerated
    setting = _setting(behaviour, critic)
    if name == "taypo2_released":
        batch_length = S        # the released code reads the critic by time: T = S keeps the indices in range
        batch, probability = _all_trajectories(mdp, behaviour, batch_length)
    else:
        batch_length = T
    gradient, hessian = _expectation(name, theta, setting, batch, probability)
    samples = _sample(mdp, behaviour, 20_000, batch_length, seed=12)
    _, gradients, hessians = ope_derivatives(name, theta, setting, samples)
    upper = np.triu_indices(S * A)
    assert_unbiased(gradients, gradient)
    assert_unbiased(hessians[:, upper[0], upper[1]], hessian[upper])


def test_moments_and_prefix_means_agree_with_direct_sums(tiny):
    mdp, behaviour, theta, critic = tiny
    setting = _setting(behaviour, critic)
    batch = _sample(mdp, behaviour, 230, T, seed=13)
    moments, prefixes = ope_moments("dr", theta, setting, batch, stops=(10, 100, 230), chunk=64)
    _, gradients, hessians = ope_derivatives("dr", theta, setting, batch)
    np.testing.assert_allclose(moments.hessian_mean, hessians.mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(moments.hessian_variance(), hessians.var(axis=0, ddof=1), rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(prefixes[10][1], hessians[:10].mean(axis=0), atol=1e-12)
    np.testing.assert_allclose(prefixes[100][0], gradients[:100].mean(axis=0), atol=1e-12)


def test_jax_index_rules():
    assert [jax_index(i, 20) for i in (-1, -2, -20, -21, -40, 0, 19, 25)] == [19, 18, 0, 0, 0, 0, 19, 19]


@pytest.mark.parametrize("name", OPE_ESTIMATORS)
def test_hessian_vector_products_contract_the_full_hessians(tiny, name):
    mdp, behaviour, theta, critic = tiny
    setting = _setting(behaviour, critic, RELEASED_RATIO_OFFSET)
    batch = _sample(mdp, behaviour, 7, S, seed=14)
    vector = np.random.default_rng(15).normal(size=S * A)
    _, _, hessians = ope_derivatives(name, theta, setting, batch)
    np.testing.assert_allclose(ope_hessian_vector_products(name, theta, setting, batch, vector), hessians @ vector,
                               rtol=1e-10, atol=1e-12)
