"""The tang2021 study: its units are reproducible functions of their arguments, its problem
instances follow the released main.py, and its figures and comparisons draw from a small table."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmark.studies import tang2021  # noqa: E402
from benchmark.analysis.claims import CLAIM_VERDICTS  # noqa: E402
from benchmark.studies.spec import FigureData  # noqa: E402

SMALL = {**tang2021.SETTINGS, "mdps": 2, "trajectories": 12, "stops": (4, 12), "epsilons": (0.0, 0.8)}


def _table():
    return pd.concat([tang2021.offpolicy_unit(m, e, SMALL) for m in range(2) for e in range(2)], ignore_index=True)


def test_problem_instance_follows_the_released_setting():
    mdp, theta, behaviour, critic = tang2021.problem_instance(0, 0.8, SMALL)
    target = np.exp(theta)
    np.testing.assert_allclose(target.sum(axis=1), 1.0)
    assert np.allclose(np.sort(target, axis=1)[:, :-1], 0.2 * 0.2) and np.allclose(target.max(axis=1), 0.8 + 0.04)
    np.testing.assert_allclose(behaviour, 0.2)
    exact = mdp.state_values(np.log(behaviour))
    noise = (critic - exact) / (np.linalg.norm(exact) / 20)
    assert 0.3 < noise.std() < 2.0       # N(0, 1) noise scaled by ‖V^μ‖/20, 20 draws
    same = tang2021.problem_instance(0, 0.2, SMALL)      # same MDP, greedy actions and critic at every ε
    np.testing.assert_array_equal(same[3], critic)
    np.testing.assert_array_equal(np.argmax(same[1], axis=1), np.argmax(theta, axis=1))


def test_unit_is_a_function_of_its_arguments_and_has_every_estimator():
    first, again = tang2021.offpolicy_unit(1, 1, SMALL), tang2021.offpolicy_unit(1, 1, SMALL)
    pd.testing.assert_frame_equal(first, again)
    assert set(first["estimator"]) == set(tang2021.SHOWN)
    assert set(first["N"]) == {4, 12}
    last = first[first["N"] == 12]
    assert last["hessian_variance"].gt(0).all() and last["hessian_corr"].between(-1, 1).all()


def test_correlation_is_their_corr():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 5)), rng.normal(size=(5, 5))
    assert abs(tang2021.correlation(x, y) - np.corrcoef(x.ravel(), y.ravel())[0, 1]) < 1e-12


def test_figures_and_comparisons_from_a_small_table():
    data = FigureData(_table(), {}, quick=True, settings=tang2021.simulation_shown(True))
    split_settings = {**tang2021.split_settings(True), "pool": 16, "batches": (2, 8)}
    split = FigureData(pd.concat([tang2021.split_unit(m, split_settings) for m in range(2)], ignore_index=True), {},
                       quick=True)
    for spec in tang2021.FIGURES:
        figure = spec.draw(split if spec.simulation is tang2021.SPLIT_SIMULATION else data)
        assert figure.axes
        comparison = spec.compare(split if spec.simulation is tang2021.SPLIT_SIMULATION else data)
        assert comparison.verdict in CLAIM_VERDICTS and comparison.text
    assert len(tang2021.correlation_details(data)) == 2 * len(tang2021.SHOWN)


def test_split_unit_on_policy_taypo2_is_dr():
    settings = {**tang2021.split_settings(True), "pool": 32, "batches": (4, 16)}
    table = tang2021.split_unit(0, settings)
    by = table.set_index(["estimator", "batch"])["corr"]
    for size in (4, 16):
        assert abs(by[("taypo2", size)] - by[("dr", size)]) < 1e-12
    assert table["corr"].between(-1, 1).all() and set(table["batches"]) == {8, 2}


def test_released_agreement_counts_matches_within_two_standard_errors(monkeypatch):
    table = _table()
    last = table[(table["N"] == 12) & (table["epsilon"] == 0.8)]
    ours = last[last["estimator"] == "dr"]["hessian_corr"].to_numpy()
    fake = {0.8: {"loadeddice": (list(ours + 0.001), []), "nocritic": ([5.0, 5.1], [])}}
    monkeypatch.setattr(tang2021, "RELEASED_RUN", fake)
    sentence = tang2021.released_agreement(table)
    assert "1 of 2" in sentence and "step-wise IS" in sentence
