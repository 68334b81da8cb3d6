"""The reference target of the bandit lifetime (`estimators.bandit.vuorio.reference_target`) against
the exact target of a tiny noise-free bandit (`estimators.bandit.enumeration`): its pass is
unbiased exactly (every path enumerated, at any continuation stride), and the sampled target,
with the pilot-chosen number of lifetimes, on the compiled kernel, is within its standard error."""
from __future__ import annotations

import numpy as np
import pytest

import estimators.bandit.lifetime as lifetime_module
import mdps
from estimators.bandit.enumeration import lifetime_moments_by_enumeration, lifetime_target_by_enumeration
from estimators.bandit.problem import BanditLifetimeProblem
from estimators.bandit.vuorio import REFERENCE_PASS, reference_target
from tests.test_practical import assert_unbiased


def tiny(lifetime=5, eta=(0.3, -0.2)):
    tasks = mdps.BanditDistribution(3, "fixed", noise=0.0, means=(1.0, 0.2, -0.5))
    return BanditLifetimeProblem(tasks=tasks, eta=np.array(eta), lifetime=lifetime, cutoff=1, batch=2)


@pytest.mark.parametrize("stride", [1, 2, 3, 16])
def test_the_reference_pass_is_exactly_unbiased_at_any_continuation_stride(stride, monkeypatch):
    monkeypatch.setattr(lifetime_module, "FUTURE_STRIDE", stride)
    problem = tiny()
    mean, covariance = lifetime_moments_by_enumeration(problem, REFERENCE_PASS)
    exact = lifetime_target_by_enumeration(problem)
    np.testing.assert_allclose(mean, exact, rtol=1e-10, atol=1e-14)
    assert np.trace(covariance) > 0


@pytest.mark.parametrize("kernel", ["compiled", "numpy"])
def test_the_sampled_reference_target_is_within_its_standard_error(kernel):
    """The two-stage target (pilot, then n = v / s² fresh lifetimes) is unbiased: a χ² test of
    its mean against the enumerated target, with its own standard error."""
    problem = BanditLifetimeProblem(tasks=tiny().tasks, eta=np.array([0.3, -0.2]), lifetime=5, cutoff=1, batch=2,
                                    kernel=kernel)
    exact = lifetime_target_by_enumeration(problem)
    value, error = reference_target(problem, runs=200_000, seed=3, chunk=10_000, standard_error=0.004, pilot=5000)
    assert np.sqrt(np.sum(error ** 2)) < 0.0045            # the pilot chose enough lifetimes (≤ 0.004 up to noise)
    assert_unbiased(value, error, exact)


def test_the_pilot_sets_the_number_of_lifetimes():
    problem = tiny()
    loose = reference_target(problem, runs=50_000, seed=1, chunk=500, standard_error=0.001, pilot=2000)[1]
    tight = reference_target(problem, runs=50_000, seed=1, chunk=500, standard_error=0.0004, pilot=2000)[1]
    for error, goal in ((loose, 0.001), (tight, 0.0004)):     # within 10 %: the pilot's variance has ~3 % error
        assert abs(np.sqrt(np.sum(error ** 2)) / goal - 1) < 0.1
    with pytest.raises(ValueError, match="standard_error"):
        reference_target(problem, runs=10, standard_error=-1.0)
