"""Sweeps of the bandit problem kind (Vuorio et al.'s learned learning-rate schedule): the schema
and a run end to end against the enumerated target."""
from __future__ import annotations

import pytest

from benchmark.sweeps.loading import parse_sweep
from benchmark.sweeps.runner import run_sweep
from benchmark.sweeps.store import load_results
from benchmark.families.schema import SweepError

SWEEP = """
name = "bandit-test"
seed = 0
repetitions = 4000
target = "practical"
meta_parameter = "lr_schedule"

[problem]
kind = "bandit"
n_arms = 3
arm_law = "uniform"
low = -1.0
high = 1.0
noise = 0.0
lifetime = 4
cutoff = 1
pulls = 2
task_count = 2
mdp_seeds = [3]

[grid]
estimator = ["truncated", "sf"]
eta0 = 0.3
eta1 = -0.2
window = [0, 2]
lambda_c = [0.0, 1.0]
"""


def replace_line(text, old, new):
    assert old in text
    return text.replace(old, new)


@pytest.mark.parametrize("old, new, message", [
    ('meta_parameter = "lr_schedule"', 'meta_parameter = "init"', "meta_parameter: expected 'lr_schedule'"),
    ("n_arms = 3", "n_arms = 0", "problem.n_arms: expected a positive integer"),
    ('arm_law = "uniform"', 'arm_law = "beta"', "problem.arm_law"),
    ("noise = 0.0", "noise = -1.0", "problem.noise"),
    ("cutoff = 1", "cutoff = 9", "problem.cutoff"),
    ("eta1 = -0.2", "eta1 = -0.2\nbatch = 2", "grid.batch: not an axis of bandit problems"),
    ("lifetime = 4", "lifetime = 4\nn_states = 2", "problem.n_states: unknown key"),
])
def test_bad_bandit_sweeps_are_refused_with_one_line(old, new, message):
    with pytest.raises(SweepError, match=message):
        parse_sweep(replace_line(SWEEP, old, new)).check()


def test_tabular_sweeps_refuse_the_bandit_vocabulary():
    tabular = """
name = "t"
repetitions = 2
target = "fd"
[problem]
kind = "tabular"
n_states = 2
n_actions = 2
[grid]
estimator = ["sf"]
steps = 1
lr = 1.0
"""
    with pytest.raises(SweepError, match="target: expected 'ideal' or 'practical'"):
        parse_sweep(tabular)
    with pytest.raises(SweepError, match="meta_parameter: expected 'init' or 'intrinsic'"):
        parse_sweep(tabular.replace('target = "fd"', 'target = "ideal"\nmeta_parameter = "lr_schedule"'))
    with pytest.raises(SweepError, match="grid.eta0: not an axis of tabular"):
        parse_sweep(tabular.replace('target = "fd"', 'target = "ideal"').replace("lr = 1.0", "lr = 1.0\neta0 = 1.0"))


def test_a_bandit_sweep_runs_against_the_enumerated_target(tmp_path):
    sweep = parse_sweep(SWEEP)
    again = parse_sweep(sweep.to_toml())
    assert again.sweep_hash == sweep.sweep_hash
    assert [cell.cell_id for cell in again.cells()] == [cell.cell_id for cell in sweep.cells()]
    run_sweep(sweep, tmp_path, jobs=1, quiet=True)
    results = load_results(tmp_path / "bandit-test")
    assert (results["status"] == "ok").all() and set(results["target_method"]) == {"enumeration"}
    unbiased = results[(results["estimator"] == "sf")
                       | ((results["window"] == 0) & (results["lambda_c"] == 1.0))]
    assert len(unbiased) == 2 and (unbiased["bias_lo"] <= 0).all()     # unbiased: intervals reach 0
    biased = results[(results["estimator"] == "truncated") & (results["window"] == 2) & (results["lambda_c"] == 0.0)]
    assert (biased["bias_lo"] > 0).all()


def test_quick_shrinks_the_bandit_targets_runs():
    quick = parse_sweep(SWEEP.replace("task_count = 2", "task_count = 0")).quick()
    assert quick.problem.values["reference_runs"] == 2000 and quick.problem.values["fd_runs"] == 2000
    wide = parse_sweep(SWEEP.replace("eta0 = 0.3", "eta0 = [0.3, 1.0, 2.0]")).quick()
    assert wide.axes["eta0"] == (1.0,)
