"""The closed forms labelled 'as released' against the released JAX code itself, trajectory by trajectory.

Runs only when `MGBENCH_TANG2021_CODE` names a directory holding `evaluation_utils.py` of
github.com/robintyh1/neurips2021-meta-gradient-offpolicy-evaluation (commit 873cce3) and jax is
installed; otherwise skipped. No code of that repository is part of mgbench.
"""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

from estimators.tabular.off_policy_evaluation import (RELEASED_RATIO_OFFSET, OffPolicyBatch, OffPolicySetting,
                                                      ope_derivatives)
from mdps import liu2022_mdp, sample_trajectories

CODE = os.environ.get("MGBENCH_TANG2021_CODE")
pytestmark = pytest.mark.skipif(not CODE or not os.path.exists(os.path.join(CODE or "", "evaluation_utils.py")),
                                reason="MGBENCH_TANG2021_CODE does not name the released code")

# mgbench name -> (released function, critic scale, rho = c truncation)
RELEASED = {"is": ("evaluations_vtrace", 0.0, np.inf), "dr": ("evaluations_vtrace", 1.0, np.inf),
            "vtrace": ("evaluations_vtrace", 1.0, 1.0), "taypo1": ("evaluations_firstorder", 1.0, np.inf),
            "taypo2_released": ("evaluations_secondorder", 1.0, np.inf)}


@pytest.fixture(scope="module")
def released():
    pytest.importorskip("jax")
    import jax

    jax.config.update("jax_enable_x64", True)
    sys.path.insert(0, CODE)
    import evaluation_utils

    compiled = {}     # one jit per released function (trajectories are traced arguments: no recompiling)
    for name in {function for function, _, _ in RELEASED.values()}:
        function = getattr(evaluation_utils, name)
        compiled[name] = (jax.jit(jax.grad(function)), jax.jit(jax.jacfwd(jax.jacrev(function))))
    return compiled


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 0.8])
@pytest.mark.parametrize("name", sorted(RELEASED))
def test_closed_form_equals_the_released_autodiff(released, name, epsilon):
    compiled = released
    mdp = liu2022_mdp(3)
    rng = np.random.default_rng(np.random.SeedSequence(5))
    behaviour = np.full((20, 5), 0.2)
    target = np.zeros((20, 5))
    target[np.arange(20), rng.integers(0, 5, 20)] = 1.0
    target = epsilon * target + (1 - epsilon) * behaviour
    critic = rng.normal(size=20)
    trajectories = sample_trajectories(mdp, behaviour, 3, 20, rng)
    batch = OffPolicyBatch(trajectories.states[0], trajectories.actions[0], trajectories.rewards[0],
                           trajectories.final_states[0])
    setting = OffPolicySetting(behaviour, critic, 0.8, RELEASED_RATIO_OFFSET)
    _, gradients, hessians = ope_derivatives(name, np.log(target), setting, batch)
    function, scale, clip = RELEASED[name]
    gradient_of, hessian_of = compiled[function]
    for i in range(3):
        traj = [{"states": [int(s) for s in batch.states[i]] + [int(batch.final_states[i])],
                 "actions": [int(a) for a in batch.actions[i]], "rewards": [float(r) for r in batch.rewards[i]]}]
        arguments = (behaviour, 20, 0.8, critic * scale, traj, clip, clip)
        # jitted as in main.py: the critic is then a tracer, and JAX clamps V[-21] to V[0] (numpy would raise)
        gradient = np.asarray(gradient_of(np.log(target), *arguments)).ravel()
        hessian = np.asarray(hessian_of(np.log(target), *arguments)).reshape(100, 100)
        np.testing.assert_allclose(gradients[i], gradient, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(hessians[i], hessian, rtol=1e-9, atol=1e-11)


def test_exact_targets_equal_the_released_oracle(released):
    """`oracle_value` (softmax of θ = log π, infinite-horizon V^π(s_0)) differentiated by JAX equals
    `TabularMDP.gradient` and `.hessian` (the study's targets)."""
    import jax
    import evaluation_utils

    mdp = liu2022_mdp(4)
    rng = np.random.default_rng(np.random.SeedSequence(6))
    target = np.zeros((20, 5))
    target[np.arange(20), rng.integers(0, 5, 20)] = 1.0
    theta = np.log(0.5 * target + 0.5 * 0.2)
    transitions, rewards = np.transpose(mdp.transitions, (1, 0, 2)), mdp.rewards     # their P[a, s, s']
    hessian = np.asarray(jax.jacfwd(jax.jacrev(evaluation_utils.oracle_value))(theta, transitions, rewards, 0.8))
    gradient = np.asarray(jax.grad(evaluation_utils.oracle_value)(theta, transitions, rewards, 0.8))
    np.testing.assert_allclose(hessian.reshape(100, 100), mdp.hessian(theta), atol=1e-13)
    np.testing.assert_allclose(gradient, mdp.gradient(theta), atol=1e-13)
