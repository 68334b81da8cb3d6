"""The sweep runner end to end: numbers against known answers, determinism across job counts
and backends, resume after SIGKILL, refusal of a changed sweep, the CSV and `load_results`."""
from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from benchmark import load_results, run_sweep
from benchmark.sweeps.cells import BLOCK_REPETITIONS, block_size, blocks, build_problem, evaluate_cell
from benchmark.sweeps.loading import load_sweep, parse_sweep
from benchmark.families.schema import SweepError
from benchmark.sweeps.store import CSV_COLUMNS
from mdps import liu2022_mdp
from tests.conftest import PLUGIN, tabular_sweep_text, toy_sweep_text

REPOSITORY = Path(__file__).resolve().parent.parent
VOLATILE = ["seconds", "finished_at"]


def metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """The results without run-dependent columns, ordered by cell id."""
    return frame.drop(columns=VOLATILE).sort_values("cell_id").reset_index(drop=True)


# ----------------------------------------------------------------------------- numbers

def test_toy_cells_match_closed_forms(tmp_path):
    """LSF bias -2θ/N, PW variance 4σ²/N, SF unbiased: the pipeline measures what it should."""
    sweep = parse_sweep(toy_sweep_text(repetitions=20_000, N=(2, 8)))
    run_sweep(sweep, tmp_path, jobs=1, quiet=True)
    frame = load_results(tmp_path / "toy").set_index(["estimator", "N"])
    for n in (2, 8):
        lsf, pw, sf = frame.loc[("lsf", n)], frame.loc[("pw", n)], frame.loc[("sf", n)]
        assert lsf.bias_lo <= 2 * 0.5 / n <= lsf.bias_hi
        assert pw.variance_lo <= 4 / n <= pw.variance_hi
        assert sf.bias_lo == 0.0 and pw.bias_lo == 0.0
        assert lsf.target_norm == pytest.approx(1.0) and lsf.target_method == "exact"
    assert (frame.status == "ok").all() and (frame.repetitions == 20_000).all()


def test_tabular_cells_build_the_preset_mdp_and_the_exact_target(tmp_path):
    text = tabular_sweep_text("liu").replace("n_states = 3\nn_actions = 2\ngamma = 0.7\nrollout_length = 4\n",
                                             'preset = "liu2022"\n')
    sweep = parse_sweep(text)
    cell = next(cell for cell in sweep.cells() if cell.mdp_seed == 1)
    problem = build_problem(sweep, cell)
    np.testing.assert_array_equal(problem.mdp.transitions, liu2022_mdp(1).transitions)
    np.testing.assert_array_equal(problem.theta0, 0.0)
    result = evaluate_cell(sweep, cell)
    assert result["status"] == "ok"
    assert result["target_norm"] == pytest.approx(np.linalg.norm(problem.exact_meta_gradient()))
    # test_noisy_split: unbiased, variance S·A / batch scaled by the sampled fraction of the split
    expected_variance = 100 / cell.parameters["batch"] * (cell.parameters["split"].count("l") / 3) ** 2
    assert result["variance_lo"] <= expected_variance <= result["variance_hi"]
    assert result["bias_lo"] == 0.0


PRACTICAL = """
name = "practical"
seed = 0
repetitions = 3000
target = "practical"

[problem]
kind = "tabular"
n_states = 2
n_actions = 2
gamma = 0.9
horizon = 2
rollout_length = 2
critic = "none"

[grid]
estimator = ["sf", "maml"]
split = "lll"
steps = 1
lr = 1.0
batch = 2
"""


def test_practical_target_by_enumeration_sf_unbiased_maml_not(tmp_path):
    summary = run_sweep(parse_sweep(PRACTICAL), tmp_path, jobs=1, quiet=True)
    frame = load_results(summary.directory).set_index("estimator")
    assert (frame.target_method == "enumeration").all() and frame.target_se.isna().all()
    assert frame.loc["sf"].bias_lo == 0.0
    assert frame.loc["maml"].bias_lo > 5 * frame.loc["maml"].noise_floor


def test_a_practical_target_too_large_to_enumerate_is_a_reference_of_the_stated_size_and_its_error_counts():
    """`reference_repetitions` sets the size of the reference estimate; the cell's bias limits
    then include ±2 of its standard errors (`with_target_error`), and the record says how the
    target was obtained. The field is refused for the ideal target and for non-integers."""
    text = (PRACTICAL.replace("horizon = 2\n", "").replace("n_states = 2", "n_states = 3")
            .replace("rollout_length = 2", "rollout_length = 3\nreference_repetitions = 300")
            .replace('estimator = ["sf", "maml"]', 'estimator = ["sf"]').replace('split = "lll"\n', "")
            .replace("steps = 1", "steps = 2")
            .replace("batch = 2", "batch = 4").replace("repetitions = 3000", "repetitions = 200"))
    sweep = parse_sweep(text)
    result = evaluate_cell(sweep, sweep.cells()[0])
    assert result["status"] == "ok" and result["target_method"] == "reference sf estimate (R=300)"
    assert result["target_se"] > 0 and result["bias_hi"] >= 2 * result["target_se"]
    for change, message in ((('target = "practical"', 'target = "ideal"'),
                             "problem.reference_repetitions: expected only with target = 'practical'"),
                            (("reference_repetitions = 300", "reference_repetitions = 1"),
                             "problem.reference_repetitions: expected an integer >= 2, got 1")):
        with pytest.raises(SweepError, match=f"^{re.escape(message)}"):
            parse_sweep(text.replace(*change))


def test_non_finite_estimates_fail_the_cell_and_the_sweep_goes_on(tmp_path):
    text = toy_sweep_text("nan", estimators=("pw", "test_noisy_toy"), N=(1,)) + "bad = [false, true]\n"
    summary = run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True)
    frame = load_results(summary.directory)
    assert summary.failed == 1 and summary.computed == 3
    failed = frame[frame.status == "failed"]
    assert len(failed) == 1 and failed.bad.iloc[0] == True  # noqa: E712 - a numpy bool
    assert "non-finite" in failed.error.iloc[0] and np.isnan(failed.bias.iloc[0])
    assert (frame[frame.status == "ok"].bias.notna()).all()
    assert run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True).computed == 0
    again = run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True, retry_failed=True)
    assert (again.computed, again.skipped, again.failed) == (1, 2, 1)
    assert len(load_results(summary.directory)) == 3


def test_cells_stored_under_another_record_version_or_before_hashes_are_computed_again(tmp_path):
    """A stored cell's code hash covers its estimator's sources and the record version
    (`cell_code_hash`): one stored under another hash, or with none (before hashes were kept,
    so of unknown code and meaning), is computed again; the others are reused."""
    text = toy_sweep_text("again", estimators=("pw",), N=(1, 2, 4))
    first = run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True)
    assert first.computed == 3
    with sqlite3.connect(first.directory / "results.sqlite") as connection:
        ids = [row[0] for row in connection.execute("SELECT cell_id FROM cells ORDER BY cell_id")]
        connection.execute("UPDATE cells SET code_hash = NULL WHERE cell_id = ?", (ids[0],))
        connection.execute("UPDATE cells SET code_hash = 'version-1-hash' WHERE cell_id = ?", (ids[1],))
    again = run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True)
    assert (again.computed, again.skipped) == (2, 1)
    assert run_sweep(parse_sweep(text), tmp_path, jobs=1, quiet=True).computed == 0


def test_blocks_are_fixed_by_the_cell_alone():
    sweep = parse_sweep(toy_sweep_text(repetitions=200))
    cell = sweep.cells()[0]
    assert blocks(sweep, cell) == [64, 64, 64, 8] and block_size(sweep, cell) == BLOCK_REPETITIONS
    big = parse_sweep(tabular_sweep_text().replace("batch = [4, 16]", "batch = [100000]"))
    assert block_size(big, big.cells()[0]) < BLOCK_REPETITIONS  # the memory budget shrinks the block


# ----------------------------------------------------------------------------- determinism

def test_same_numbers_with_one_and_two_jobs(tmp_path):
    sweep = parse_sweep(tabular_sweep_text())
    one = run_sweep(sweep, tmp_path / "one", jobs=1, quiet=True, plugins=(PLUGIN,))
    two = run_sweep(sweep, tmp_path / "two", jobs=2, quiet=True, plugins=(PLUGIN,))
    assert one.computed == two.computed == len(sweep.cells()) == 24
    pd.testing.assert_frame_equal(metrics(load_results(one.directory)), metrics(load_results(two.directory)),
                                  check_exact=True)


def test_dask_backend_gives_the_same_numbers(tmp_path):
    distributed = pytest.importorskip("distributed")
    sweep = parse_sweep(toy_sweep_text("dask", estimators=("sf", "lsf", "pw", "test_noisy_toy")))
    local = run_sweep(sweep, tmp_path / "joblib", jobs=1, quiet=True)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        remote = run_sweep(sweep, tmp_path / "dask", backend="dask", scheduler=cluster.scheduler_address,
                           quiet=True)
    assert remote.computed == local.computed == 12
    pd.testing.assert_frame_equal(metrics(load_results(local.directory)), metrics(load_results(remote.directory)),
                                  check_exact=True)


# ----------------------------------------------------------------------------- store

def test_rerunning_a_finished_sweep_computes_nothing(tmp_path, write_sweep):
    sweep = load_sweep(write_sweep("# a comment kept in the provenance" + toy_sweep_text()))
    first = run_sweep(sweep, tmp_path, jobs=1, quiet=True)
    csv = (first.csv_path).read_text()
    second = run_sweep(sweep, tmp_path, jobs=1, quiet=True)
    assert (second.computed, second.skipped, second.total) == (0, 9, 9)
    assert second.csv_path.read_text() == csv
    with sqlite3.connect(first.directory / "results.sqlite") as connection:
        runs = connection.execute("SELECT sweep_hash, cells_computed, outcome, numpy_version, sweep_file_text, "
                                  "sweep_toml FROM provenance").fetchall()
    assert [run[1:3] for run in runs] == [(9, "complete"), (0, "complete")]
    assert runs[0][0] == sweep.sweep_hash and runs[0][3] == np.__version__
    assert runs[0][4].startswith("# a comment kept") and parse_sweep(runs[0][5]).sweep_hash == sweep.sweep_hash


def test_a_changed_sweep_under_the_same_name_is_refused_unless_overwritten(tmp_path):
    run_sweep(parse_sweep(toy_sweep_text()), tmp_path, jobs=1, quiet=True)
    changed = parse_sweep(toy_sweep_text(repetitions=600))
    with pytest.raises(SweepError, match="^name: .* already holds a different sweep named 'toy'"):
        run_sweep(changed, tmp_path, jobs=1, quiet=True)
    summary = run_sweep(changed, tmp_path, jobs=1, quiet=True, overwrite=True)
    assert summary.computed == 9
    assert (load_results(summary.directory).repetitions == 600).all()


def test_csv_has_the_required_columns_and_loads_from_every_path(tmp_path):
    summary = run_sweep(parse_sweep(tabular_sweep_text()), tmp_path, jobs=1, quiet=True)
    header = summary.csv_path.read_text().splitlines()[0].split(",")
    assert header[:len(CSV_COLUMNS)] == list(CSV_COLUMNS)
    assert "lambda_" not in header  # only axes and parameters that occur
    from_dir, from_csv = load_results(summary.directory), load_results(summary.csv_path)
    from_sqlite = load_results(summary.directory / "results.sqlite")
    assert len(from_dir) == 24 and from_dir.cell_id.is_unique
    pd.testing.assert_frame_equal(from_dir, from_sqlite)
    pd.testing.assert_frame_equal(from_dir, from_csv, check_dtype=False)
    plain = from_csv[from_csv.estimator == "test_plain"]
    assert plain.split.isna().all() and plain.N.isna().all()  # empty where an axis does not apply
    assert from_dir.batch.dtype == "Int64" and from_dir.mdp_seed.tolist().count(1) == 12
    with pytest.raises(FileNotFoundError):
        load_results(tmp_path / "nothing")


# ----------------------------------------------------------------------------- interruptions

def stored_cells(database: Path) -> int:
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as connection:
            return connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_a_sweep_killed_with_sigkill_resumes_to_the_same_results(write_sweep, tmp_path):
    text = toy_sweep_text("killed", repetitions=15_000, N=tuple(2**k for k in range(9)))
    path = write_sweep(text)
    command = [sys.executable, "-m", "benchmark", "sweep", str(path), "--jobs", "1", "--quiet", "--no-report"]
    environment = {**os.environ, "PYTHONPATH": str(REPOSITORY)}
    killed_dir = tmp_path / "killed"
    database = killed_dir / "killed" / "results.sqlite"
    process = subprocess.Popen([*command, "--out", str(killed_dir)], env=environment,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while stored_cells(database) < 4 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    stored = stored_cells(database)
    assert process.returncode == -signal.SIGKILL and 4 <= stored < 27, stored

    resumed = subprocess.run([*command, "--out", str(killed_dir)], env=environment, capture_output=True,
                             text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert f"({27 - stored} computed, {stored} already stored" in resumed.stdout
    uninterrupted = run_sweep(parse_sweep(text), tmp_path / "whole", jobs=1, quiet=True)
    killed_frame = load_results(killed_dir / "killed")
    assert len(killed_frame) == 27 and killed_frame.cell_id.is_unique
    pd.testing.assert_frame_equal(metrics(killed_frame), metrics(load_results(uninterrupted.directory)),
                                  check_exact=True)


def test_ctrl_c_stops_cleanly_with_the_csv_and_exit_code_130(write_sweep, tmp_path):
    path = write_sweep(toy_sweep_text("stopped", repetitions=30_000, N=tuple(2**k for k in range(10))))
    database = tmp_path / "stopped" / "results.sqlite"
    process = subprocess.Popen([sys.executable, "-m", "benchmark", "sweep", str(path), "--jobs", "1", "--quiet", "--no-report",
                                "--out", str(tmp_path)], env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while stored_cells(database) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "interrupted (SIGINT):" in err and "run the same command again to resume" in err and "Traceback" not in err
    frame = load_results(tmp_path / "stopped" / "results.csv")
    assert 2 <= len(frame) < 30 and (frame.status == "ok").all()
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT outcome FROM provenance").fetchall() == [("interrupted (SIGINT)",)]
