"""`mgbench bench`: the quick bench runs and is well formed; the per-trajectory reference
estimator agrees with the vectorized one. Speed is measured by the bench, never asserted here."""
from __future__ import annotations

import contextlib
import io
import json
import math
from dataclasses import replace

import numpy as np
import pytest

import estimators.tabular.inner_paths as practical  # where the practical estimators draw their batches
from benchmark.bench.autodiff import autodiff_cells
from benchmark.bench.cells import SCALING_VALUES, BenchCell, reference_cells
from benchmark.bench.report import format_report
from benchmark.bench.cells import BenchResult
from benchmark.bench.run import run_bench, run_in_process
from benchmark.cli import build_parser, main
from estimators import MetaProblem, get_estimator
from mdps import liu2022_mdp, random_mdp
from benchmark.bench.reference import reference_sf, reference_sf_estimate


# ----------------------------------------------------------------------------- reference estimator

SMALL_MDP = random_mdp(4, 3, seed=2, gamma=0.9, horizon=5, reward="normal")


def _problem(steps: int, mdp=None) -> MetaProblem:
    """θ_0 ~ N(0, I) (a non-uniform policy), rollouts of 5 steps, critic none."""
    mdp = liu2022_mdp(0) if mdp is None else mdp
    theta = np.random.default_rng(3).normal(size=(mdp.n_states, mdp.n_actions))
    return MetaProblem(mdp, theta, steps=steps, lr=3.0, rollout_length=5, critic="none")


@pytest.mark.parametrize("steps", [1, 2, 3])
@pytest.mark.parametrize("mdp", [None, SMALL_MDP], ids=["liu2022", "finite-horizon"])
def test_reference_sf_equals_the_vectorized_sf_on_the_same_trajectories(monkeypatch, steps, mdp):
    """The vectorized `sf` draws its batches; the per-trajectory loops recompute the estimate from them
    (numpy kernel, whose batches can be recorded; the compiled kernel equals it, tests/test_fused_kernel.py)."""
    problem, batch, repetitions = replace(_problem(steps, mdp), kernel="numpy"), 5, 4
    recorded = []
    sample = practical.sample_trajectories

    def recording(*args, **kwargs):
        rollouts = sample(*args, **kwargs)
        recorded.append((np.array(args[1]), rollouts))
        return rollouts

    monkeypatch.setattr(practical, "sample_trajectories", recording)
    vectorized = get_estimator("sf")(problem, repetitions, np.random.default_rng(7), batch=batch)
    assert len(recorded) == steps
    for r in range(repetitions):
        def replay(k, policy, r=r):
            policies, rollouts = recorded[k]
            np.testing.assert_allclose(policy, policies[r], rtol=1e-12, atol=1e-15)
            return [(list(rollouts.states[r, m]), list(rollouts.actions[r, m])) for m in range(batch)]

        reference = reference_sf_estimate(problem, replay, batch)
        np.testing.assert_allclose(reference, vectorized[r], rtol=1e-10, atol=1e-10)
        assert np.abs(reference).max() > 1e-3      # not trivially zero


def test_reference_sf_sampled_with_rng_choice_has_the_mean_of_the_vectorized_sf():
    """Different sampling streams: the two means agree within their standard errors (a small MDP whose
    states are all visited often, so the estimates are not heavy-tailed at these sample sizes)."""
    problem, batch = _problem(1, SMALL_MDP), 4
    reference = reference_sf(problem, 400, np.random.default_rng(11), batch=batch).reshape(400, -1)
    vectorized = get_estimator("sf")(problem, 4000, np.random.default_rng(12), batch=batch).reshape(4000, -1)
    difference = reference.mean(axis=0) - vectorized.mean(axis=0)
    standard_error = np.sqrt(reference.var(axis=0, ddof=1) / len(reference)
                             + vectorized.var(axis=0, ddof=1) / len(vectorized))
    varying = standard_error > 1e-12
    assert varying.sum() == 12
    assert np.all(np.abs(difference[~varying]) < 1e-9)
    z = difference[varying] / standard_error[varying]
    assert np.max(np.abs(z)) < 4.5, z          # Bonferroni over 12 coordinates: P(fail) < 1e-4


def test_reference_sf_rejects_what_it_does_not_cover():
    with pytest.raises(ValueError, match="critic"):
        reference_sf_estimate(MetaProblem(liu2022_mdp(0), np.zeros((20, 5)), 1, 1.0, critic="noisy"),
                              lambda k, policy: [], 1)


# ----------------------------------------------------------------------------- the bench

def test_reference_cells_cover_the_liu_toy_exact_reference_and_scaling_cells():
    cells = reference_cells(quick=True)
    tabular = [c for c in cells if (c.kind, c.family) == ("estimator", "tabular") and c.name.startswith("liu2022")]
    assert {(c.batch, c.steps) for c in tabular} == {(32, 1), (32, 6), (256, 1), (256, 6)}
    assert len({c.estimator for c in tabular}) == 2
    assert all(c.critic == "noisy" and c.parameters == {"split": "lll"} for c in tabular)
    lirpg = [c for c in cells if (c.kind, c.family) == ("estimator", "tabular") and c.name.startswith("lirpg")]
    assert sorted(c.kernel for c in lirpg) == ["compiled", "numpy"]
    assert all(c.meta_parameter == "intrinsic" and c.parameters["gae_lambda"] == 0.9
               and c.parameters["detach_critic"] is False for c in lirpg)
    assert {c.estimator for c in cells if (c.kind, c.family) == ("estimator", "gaussian_toy")} == {"sf", "lsf", "pw"}
    assert all(c.batch == 64 for c in cells if (c.kind, c.family) == ("estimator", "gaussian_toy"))
    assert [c.steps for c in cells if c.kind == "exact"] == [6]
    assert [c.kind for c in cells].count("reference") == 1
    assert [c.axis for c in cells if c.kind == "scaling"] == [None]         # every axis, one estimator


def test_one_cell_measured_in_process_counts_the_transitions_it_samples():
    cell = BenchCell("tiny", "estimator", "sf", batch=3, steps=2, lr=1.0, rollout_length=4, critic="none", repetitions=5)
    result = run_in_process(cell, quick=True)
    assert result.error is None
    assert result.transitions_per_call == 5 * 2 * 3 * 4        # R x K batches x N x T
    assert result.sampled_parts == 2


def test_bench_is_one_row_of_the_cli_table():
    args = build_parser().parse_args(["bench", "--quick", "--json", "out.json"])
    assert args.command == "bench" and args.quick and args.json == "out.json"


@pytest.fixture(scope="module")
def quick_bench(tmp_path_factory):
    """`mgbench bench --quick --json FILE`, run once for the tests below."""
    path = tmp_path_factory.mktemp("bench") / "bench.json"
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = main(["bench", "--quick", "--json", str(path)])
    return code, output.getvalue(), json.loads(path.read_text())


@pytest.mark.slow
def test_quick_bench_runs_and_is_well_formed(quick_bench):
    code, report, saved = quick_bench
    assert code == 0, report
    results = saved["results"]
    cells = reference_cells(quick=True) + autodiff_cells()
    assert [r["cell"]["name"] for r in results] == [c.name for c in cells]
    for result in results:
        cell = result["cell"]
        assert result["error"] is None, (cell["name"], result["error"])
        assert result["cpu_seconds_per_call"] > 0
        if cell["kind"] == "compile":       # numba's first-call cost: no estimates
            assert result["seconds_per_call"] > 0
            continue
        assert result["estimates_per_second"] > 0
        if cell["kind"] == "reference" or (cell["kind"] == "estimator" and cell["family"] != "ipd"):   # IPD: not counted
            assert result["transitions_per_second"] > 0
            assert result["peak_rss_bytes"] > 2**20 and result["peak_memory_bytes"] >= 0
        if (cell["kind"], cell["family"]) == ("estimator", "tabular"):
            parts = 2 * cell["steps"] + 1 if cell["parameters"].get("split") == "lll" else cell["steps"]
            assert result["sampled_parts"] == parts
            assert result["transitions_per_call"] == cell["repetitions"] * parts * cell["batch"] * 20
        if (cell["kind"], cell["family"]) == ("estimator", "gaussian_toy"):
            assert result["transitions_per_call"] == cell["repetitions"] * 64
        if (cell["kind"], cell["family"]) == ("estimator", "bandit"):   # pulls of 2 lifetimes per estimate (1: reference)
            lifetimes = 1 if cell["estimator"] == "reference" else 2
            assert result["transitions_per_call"] == cell["repetitions"] * lifetimes * cell["batch"] * 80
        if cell["kind"] == "reference":
            assert result["speedup"] > 1 and result["vectorized_transitions_per_second"] > 0
        if cell["kind"] == "scaling":
            assert [fit["axis"] for fit in result["scaling"]] == list(SCALING_VALUES)
            for fit in result["scaling"]:
                assert len(fit["seconds"]) == 3 and math.isfinite(fit["slope"])
                expected_work = {"R": 1.0, "|tau|": 1.0, "T": 1.0, "S*A": 0.0}.get(fit["axis"])
                if expected_work is not None:       # counted transitions grow as the axis says
                    assert fit["work_slope"] == pytest.approx(expected_work, abs=1e-9)
    kernels = {(cell.name.removesuffix(f" {cell.kernel}"), cell.kernel) for cell in cells
               if (cell.kind, cell.family) == ("estimator", "tabular") and cell.plugin is None}   # autodiff: no pair
    assert {kernel for _, kernel in kernels} == {"numpy", "compiled"}
    assert all((name, "numpy") in kernels for name, kernel in kernels)      # every liu2022 cell with both
    for heading in ("transitions/s", "scaling", "targets:", "x faster", "exact liu2022 meta-gradient K=6",
                    "kernels:", "ratio", "first-call cost", "over numpy on every liu2022 cell",
                    "autodiff jax dice >= 2 M transitions/s", "autodiff torch dice >= 0.5 M transitions/s"):
        assert heading in report


def test_report_of_a_failed_cell_names_it():
    result = BenchResult(BenchCell("broken", "estimator", "nope"), error="ValueError: estimator: unknown")
    report = format_report([result], quick=True, machine={"cores": "1", "cpu": "x", "numpy": "0", "python": "3"})
    assert "broken" in report and "error: ValueError" in report and "not measured (1): broken" in report


def test_a_cell_that_cannot_run_is_reported_not_raised():
    (result,) = run_bench(True, cells=[BenchCell("unknown estimator", "estimator", "no_such_estimator")])
    assert result.error is not None and "no_such_estimator" in result.error


def test_the_bandit_target_is_judged_per_cell_from_the_measurement():
    from benchmark.bench.cells import bandit_cells
    from benchmark.bench.report import TARGET_BANDIT_PULLS_PER_SECOND, bandit_target_lines

    cells = [cell for cell in bandit_cells() if cell.kernel == "compiled"]
    rates = [2 * TARGET_BANDIT_PULLS_PER_SECOND, 0.5 * TARGET_BANDIT_PULLS_PER_SECOND] + [1.1 * TARGET_BANDIT_PULLS_PER_SECOND] * (len(cells) - 2)
    lines = bandit_target_lines([BenchResult(cell, transitions_per_second=rate) for cell, rate in zip(cells, rates)])
    assert "not met in 1 of 5" in lines[0]
    assert lines[1].endswith("-> met") and lines[2].endswith("-> not met")
    assert lines[-1].endswith("measured, not targeted")          # the reference target's estimator
    everything = bandit_target_lines([BenchResult(cell, transitions_per_second=3.5e7) for cell in cells])
    assert "met in every cell" in everything[0] and sum(line.endswith("-> met") for line in everything) == 5
    assert bandit_target_lines([BenchResult(cells[0], error="boom")])[1].endswith("not measured (boom)")
