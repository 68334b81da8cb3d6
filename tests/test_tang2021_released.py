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

    return jax, evaluation_utils


@pytest.mark.parametrize("epsilon", [0.0, 0.5, 0.8])
@pytest.mark.parametrize("name", sorted(RELEASED))
def test_closed_form_equals_the_released_autodiff(released, name, epsilon):
    jax, utils = released
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
    function = getattr(utils, function)
    for i in range(3):
        traj = [{"states": [int(s) for s in batch.states[i]] + [int(batch.final_states[i])],
                 "actions": [int(a) for a in batch.actions[i]], "rewards": [float(r) for r in batch.rewards[i]]}]
        arguments = (behaviour, 20, 0.8, critic * scale, traj, clip, clip)
        # jitted as in main.py: the critic is then a tracer, and JAX clamps V[-21] to V[0] (numpy would raise)
        gradient = np.asarray(jax.jit(jax.grad(function))(np.log(target), *arguments)).ravel()
        hessian = np.asarray(jax.jit(jax.jacfwd(jax.jacrev(function)))(np.log(target), *arguments)).reshape(100, 100)
        np.testing.assert_allclose(gradients[i], gradient, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(hessians[i], hessian, rtol=1e-9, atol=1e-11)
