"""The simulation store (`benchmark.studies.simulations`): exact round trip, resume, and keys
that change with the settings and with the code."""
from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from benchmark.studies.simulations import frame_from_json, frame_to_json, run_simulation
from estimators.sources import code_hash
from benchmark.studies.spec import Simulation

CALLS: list[int] = []


def noisy_rows(index: int, scale: float) -> pd.DataFrame:
    """A unit: rows drawn from its own seeded generator."""
    CALLS.append(index)
    values = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(index,))).standard_normal(5) * scale
    return pd.DataFrame({"unit": f"u{index}", "index": index, "step": np.arange(5), "value": values})


def simulation(scale: float = 1.0, sources: tuple[str, ...] = ("mdps.gaussian_toy",)) -> Simulation:
    return Simulation(name="toy", units=lambda quick: {f"u{i}": (noisy_rows, {"index": i, "scale": scale})
                                                       for i in range(3)},
                      settings=lambda quick: {"scale": scale}, sources=sources)


def test_frames_round_trip_bit_identical():
    frame = pd.DataFrame({"name": ["a", "b", "c"], "count": [1, 2, 3], "x": [0.1 + 0.2, np.nan, 1e-300 / 3]})
    back = frame_from_json(frame_to_json(frame))
    pd.testing.assert_frame_equal(back, frame, check_exact=True)


def test_units_are_stored_once_and_resumed(tmp_path):
    CALLS.clear()
    first = run_simulation(simulation(), quick=False, results_dir=tmp_path, jobs=1)
    assert (first.computed, first.stored, sorted(CALLS)) == (3, 0, [0, 1, 2])
    assert first.path == tmp_path / "simulations" / "toy.sqlite" and first.csv.exists()
    pd.testing.assert_frame_equal(pd.read_csv(first.csv), first.table, check_exact=False, rtol=1e-15)
    with sqlite3.connect(first.path) as store:            # an interrupted run: one unit missing
        store.execute("DELETE FROM units WHERE name = 'u1'")
    CALLS.clear()
    second = run_simulation(simulation(), quick=False, results_dir=tmp_path, jobs=1)
    assert (second.computed, second.stored, CALLS) == (1, 2, [1])
    pd.testing.assert_frame_equal(second.table, first.table, check_exact=True)
    quick = run_simulation(simulation(), quick=True, results_dir=tmp_path, jobs=1)   # a separate store
    assert quick.computed == 3 and quick.path.name == "toy-quick.sqlite"


def test_new_settings_or_code_recompute(tmp_path):
    run_simulation(simulation(), quick=False, results_dir=tmp_path, jobs=1)
    CALLS.clear()
    scaled = run_simulation(simulation(scale=2.0), quick=False, results_dir=tmp_path, jobs=1)
    assert scaled.computed == 3 and scaled.stored == 0
    other_code = run_simulation(simulation(scale=2.0, sources=("mdps.gaussian_toy", "mdps.ipd")), quick=False,
                                results_dir=tmp_path, jobs=1)
    assert other_code.computed == 3
    assert code_hash("mdps.ipd") != code_hash("mdps.gaussian_toy")
    with pytest.raises(ValueError, match="sources: no module named 'mdps.nothing'"):
        code_hash("mdps.nothing")


def test_units_run_longest_first_and_the_table_keeps_the_declared_order(tmp_path):
    """`expected_seconds` (a hint) and, once stored, the units' own seconds order the runs
    longest first; the table is in the declared order whatever the schedule."""
    from dataclasses import replace

    CALLS.clear()
    hinted = replace(simulation(), expected_seconds={"u0": 1.0, "u2": 5.0})
    first = run_simulation(hinted, quick=False, results_dir=tmp_path, jobs=1)
    assert CALLS == [2, 0, 1] and list(first.table["unit"].unique()) == ["u0", "u1", "u2"]
    with sqlite3.connect(first.path) as store:     # the stored seconds outrank the hint
        store.execute("UPDATE units SET seconds = 9, key = 'old' WHERE name = 'u1'")
        store.execute("UPDATE units SET key = 'old' WHERE name = 'u0'")
    CALLS.clear()
    second = run_simulation(hinted, quick=False, results_dir=tmp_path, jobs=1)
    assert CALLS == [1, 0] and second.computed == 2
    pd.testing.assert_frame_equal(second.table, first.table, check_exact=True)
