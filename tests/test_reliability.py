"""The fault and bad-input battery of issue 15, black box: `python -m benchmark ...` in a
subprocess (PYTHONPATH = this tree, cwd a temporary directory), asserting exit codes,
one-line messages naming the field, and what the store holds afterwards.

Exit codes (README "Exit codes"): 0 every cell ok, 2 bad input, 3 cells stored failed,
4 infrastructure lost (cells pending), 128 + signal when interrupted.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(REPOSITORY), "PYTHONUNBUFFERED": "1"}

SWEEP = """
name = "{name}"
seed = {seed}
repetitions = {repetitions}
target = "{target}"

[problem]
kind = "tabular"
n_states = 2
n_actions = 2
rollout_length = 2
critic = "{critic}"
{problem}
[grid]
estimator = {estimators}
steps = {steps}
lr = {lr}
batch = {batch}
{grid}
"""

# A plug-in whose one estimator misbehaves on demand: `mode` picks the fault, and the
# faults that kill the process strike only at batch = 3 (one cell of a grid).
PLUGIN = '''
import ctypes
import os
import time

import numpy as np

from estimators import register

VERSION = 1


@register("faulty", problem="tabular", replace=True, description="test: faults on demand")
def faulty(problem, repetitions, rng, *, batch: int = 1, mode: str = "ok"):
    exact = problem.exact_meta_gradient()
    noise = rng.standard_normal((repetitions, *exact.shape))
    if batch == 3 and mode == "exit":
        os._exit(1)
    if batch == 3 and mode == "segfault":
        ctypes.string_at(0)
    if mode == "huge":
        return 1e200 * noise
    if mode == "complex":
        return exact + 1j * noise
    if mode == "sleep":
        time.sleep(0.3)
    return exact + noise / np.sqrt(batch) + VERSION - 1
'''


def sweep_text(name: str = "s", *, seed: int = 0, repetitions: int = 8, target: str = "ideal",
               critic: str = "none", problem: str = "", estimators: str = '["maml"]', steps: str = "1",
               lr: str = "1.0", batch: str = "[2]", grid: str = "") -> str:
    return SWEEP.format(name=name, seed=seed, repetitions=repetitions, target=target, critic=critic,
                        problem=problem, estimators=estimators, steps=steps, lr=lr, batch=batch, grid=grid)


def mgbench(cwd: Path, *args: str, timeout: float = 120, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=cwd, env=ENV, capture_output=True,
                          text=True, timeout=timeout, **popen)


def default_ctrl_c() -> None:
    """`preexec_fn` of a child that is sent SIGINT: Ctrl-C's default disposition, as in a
    terminal. A test run started in the background (`cmd &` in a script: SIGINT ignored)
    would otherwise hand its children an ignored SIGINT, which Python, and so `mgbench`,
    rightly keeps ignoring."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(cwd: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_ctrl_c)


def one_line(process: subprocess.CompletedProcess | tuple[int, str], code: int, start: str) -> str:
    """The process exited with `code` and said one line on stderr, starting `mgbench: <start>`."""
    returncode, err = (process.returncode, process.stderr) if not isinstance(process, tuple) else process
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert returncode == code, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mgbench: {start}"), lines[0]
    return lines[0]


def cells(directory: Path) -> dict[str, tuple[str, str | None]]:
    """`{cell key: (status, error)}` of a store, read directly."""
    connection = sqlite3.connect(directory / "results.sqlite")
    try:
        return {key: (status, error) for key, status, error in
                connection.execute("SELECT key, status, error FROM cells")}
    finally:
        connection.close()


def outcomes(directory: Path) -> list[str]:
    connection = sqlite3.connect(directory / "results.sqlite")
    try:
        return [row[0] for row in connection.execute("SELECT outcome FROM provenance ORDER BY run")]
    finally:
        connection.close()


@pytest.fixture
def plugin(tmp_path) -> Path:
    path = tmp_path / "faulty_plugin.py"
    path.write_text(PLUGIN)
    return path


# ----------------------------------------------------------------------------- bad input: exit 2, one line

BAD_SWEEPS = {
    # issue 15 item 5: estimator parameters, validated with the sweep file
    "es sigma <= 0": (sweep_text(estimators='["es"]', grid="sigma = [0.1, -0.1]"), "error: grid.sigma:"),
    "es population 0": (sweep_text(estimators='["es"]') + "\n[estimator_params.es]\npopulation = 0\n",
                        "error: estimator_params.es.population:"),
    "fd step 0": (sweep_text(estimators='["fd"]', grid="step = 0.0"), "error: grid.step:"),
    "truncated window 0": (sweep_text(estimators='["truncated"]', grid="window = 0"), "error: grid.window:"),
    "unknown jacobian": (sweep_text(estimators='["truncated"]', grid='jacobian = "autodiff"'), "error: grid.jacobian:"),
    "unknown family": (sweep_text(estimators='["off_policy"]', grid='family = "mamal"', batch="[2]")
                       .replace("steps = 1", "steps = 1\nsplit = \"lee\""), "error: grid.family:"),
    "unknown baseline": (sweep_text(estimators='["sf"]', grid='baseline = "mean"'), "error: grid.baseline:"),
    "reuse -1": (sweep_text(estimators='["off_policy"]', grid="reuse = -1").replace("steps = 1", "steps = 1\nsplit = \"lee\""),
                 "error: grid.reuse:"),
    "practical target with exact": (sweep_text(target="practical", estimators='["maml", "exact"]'),
                                    "error: grid.estimator: 'exact' cannot be compared with target"),
    "practical target with hessian_bias": (sweep_text(target="practical", estimators='["maml", "hessian_bias"]'),
                                           "error: grid.estimator: 'hessian_bias' cannot"),
    "practical target, critic noisy": (sweep_text(target="practical", critic="noisy"), "error: problem.critic:"),
    "sf with critic noisy": (sweep_text(critic="noisy", estimators='["sf"]'), "error: problem.critic:"),
    "truncated with critic noisy": (sweep_text(critic="noisy", estimators='["truncated"]'), "error: problem.critic:"),
    # item 11: integers >= 2^63
    "repetitions 1e20": (sweep_text().replace("repetitions = 8", "repetitions = 100000000000000000000"),
                         "error: repetitions: expected an integer below 2**63"),
    "mdp seed 1e20": (sweep_text(problem="mdp_seeds = [100000000000000000000]"),
                      "error: problem.mdp_seeds: expected an integer below 2**63"),
    # item 12: a repeat written two ways
    "lambda_ 1 and 1.0": (sweep_text(estimators='["loaded"]', grid="lambda_ = [1, 1.0, 0.5]"),
                          "error: grid.lambda_: expected"),
    # item 8: guards
    "huge grid": (sweep_text(batch=str(list(range(1, 1001))), lr=str([0.01 * k for k in range(1, 101)]),
                             problem="n_mdps = 100"), "error: grid: 10000000 cells, more than the limit"),
    "batch beyond the memory budget": (sweep_text(batch="[10000000]"), "error: grid.batch: one repetition"),
    "steps absurd": (sweep_text(steps="1000000"), "error: grid.steps: expected at most 1000"),
    # item 16: typos
    "estimator typo": (sweep_text(estimators='["dcie"]'), "error: grid.estimator: unknown tabular estimator 'dcie' "
                                                          "(did you mean 'dice'?)"),
}

BAD_COMMANDS = {
    "preset typo": (["sweep", "comp-sampel"], "error: sweep: expected a TOML file or a preset name (did you mean "
                                             "'comp-sample'?)"),
    "scheduler not an address": (["sweep", "{sweep}", "--backend", "dask", "--scheduler", "notanaddress"],
                                 "error: scheduler:"),
    "compare empty reference": (["compare", ""], "error: estimator module: expected MODULE[:NAME]"),
    "max-cells below the grid": (["sweep", "{sweep}", "--max-cells", "1", "--no-report"], "error: grid: 2 cells"),
    "time limit not positive": (["sweep", "{sweep}", "--cell-time-limit", "0"], "error: argument --cell-time-limit"),
    "non-UTF-8 sweep file": (["sweep", "latin1.toml"], "error: sweep: latin1.toml is not UTF-8 text"),
    "corrupt store": (["sweep", "{sweep}", "--no-report", "--out", "corrupt"],
                      "error: store: corrupt/s/results.sqlite is not a readable results store"),
    "plug-in with a syntax error (sweep)": (["sweep", "{sweep}", "--plugin", "broken.py"],
                                            "error: estimator module: cannot import 'broken.py' (SyntaxError at line 2"),
    "plug-in raising at import (sweep)": (["sweep", "{sweep}", "--plugin", "raising.py"],
                                          "error: estimator module: cannot import 'raising.py' (RuntimeError: no GPU"),
    "plug-in raising at import (list)": (["list", "--plugin", "raising.py"], "error: estimator module: cannot import"),
    "plug-in raising at import (compare)": (["compare", "raising.py:x", "--quick"],
                                            "error: estimator module: cannot import"),
}


@pytest.fixture(scope="module")
def bad_input_runs(tmp_path_factory) -> dict[str, tuple[int, str]]:
    """Every bad-input case, run concurrently (each is a fresh `python -m benchmark`)."""
    root = tmp_path_factory.mktemp("bad")
    (root / "latin1.toml").write_bytes(sweep_text().replace("seed = 0", "# caf\xe9\nseed = 0").encode("latin-1"))
    (root / "broken.py").write_text("from estimators import register\ndef oops(:\n")
    (root / "raising.py").write_text("raise RuntimeError('no GPU on this machine')\n")
    (root / "corrupt" / "s").mkdir(parents=True)
    (root / "corrupt" / "s" / "results.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    (root / "ok.toml").write_text(sweep_text(batch="[2, 4]"))
    jobs = {}
    for index, (case, (text, _)) in enumerate(BAD_SWEEPS.items()):
        (root / f"case{index}.toml").write_text(text)
        jobs[case] = ["sweep", f"case{index}.toml", "--no-report", "--quiet"]
    for case, (argv, _) in BAD_COMMANDS.items():
        jobs[case] = [arg.replace("{sweep}", "ok.toml") for arg in argv]
    with ThreadPoolExecutor(max_workers=4) as pool:
        runs = dict(zip(jobs, pool.map(lambda argv: mgbench(root, *argv), jobs.values())))
    return {case: (run.returncode, run.stderr) for case, run in runs.items()}


@pytest.mark.parametrize("case", [*BAD_SWEEPS, *BAD_COMMANDS])
def test_bad_input_is_one_line_naming_the_field_and_exit_2(bad_input_runs, case):
    expected = (BAD_SWEEPS.get(case) or BAD_COMMANDS[case])[1]
    one_line(bad_input_runs[case], 2, expected)


def test_no_cell_ran_for_a_refused_sweep(tmp_path):
    """Validation happens with the sweep file: a refused sweep leaves no store behind."""
    process = mgbench(tmp_path, "sweep", "nothing.toml")
    one_line(process, 2, "error: sweep: no such file")
    (tmp_path / "es.toml").write_text(sweep_text("es", estimators='["es"]', grid="sigma = -0.1"))
    one_line(mgbench(tmp_path, "sweep", "es.toml", "--no-report"), 2, "error: grid.sigma:")
    assert not (tmp_path / "results" / "es").exists()


def test_compare_offers_only_options_it_has(tmp_path):
    """`compare` may advise --overwrite (a store holding another sweep): it has that option."""
    help_text = mgbench(tmp_path, "compare", "--help").stdout
    assert "--overwrite" in help_text


def test_compare_exits_3_naming_an_estimator_that_fails_everywhere(tmp_path):
    (tmp_path / "broken_toy.py").write_text(textwrap.dedent("""
        from estimators import register

        @register("broken_toy", problem="gaussian_toy", replace=True, description="test: always raises")
        def broken_toy(problem, repetitions, rng):
            raise RuntimeError("not implemented yet")
    """))
    process = mgbench(tmp_path, "compare", "broken_toy.py:broken_toy", "--quick", "--against", "pw", "--jobs", "1",
                      "--quiet", timeout=300)
    line = one_line(process, 3, "error: estimator 'broken_toy' failed in every cell (first: RuntimeError: not "
                                "implemented yet)")
    assert "missing from the comparison" in line


def test_figures_show_progress_while_their_sweeps_run(tmp_path):
    process = mgbench(tmp_path, "figures", "tang2022", "--quick", "--jobs", "1", timeout=300)
    assert process.returncode == 0, process.stderr
    assert "tang-toy-quick: 100%" in process.stderr and "9/9" in process.stderr


def test_version(tmp_path):
    process = mgbench(tmp_path, "--version")
    assert process.returncode == 0 and process.stdout.startswith("mgbench ")


# ----------------------------------------------------------------------------- failed cells: exit 3

def test_failed_cells_exit_3_and_a_rerun_reports_them(tmp_path, plugin):
    """Non-finite (1e200 squared), complex and huge-lr cells are stored failed, never ok (items 6, 7)."""
    (tmp_path / "f.toml").write_text(sweep_text("f", estimators='["faulty"]', grid='mode = ["ok", "huge", "complex"]'))
    process = mgbench(tmp_path, "sweep", "f.toml", "--plugin", str(plugin), "--jobs", "1", "--quiet", "--no-report")
    line = one_line(process, 3, "warning: 2 cells stored as failed")
    assert "--retry-failed" in line
    stored = {json.loads(key)["mode"]: value for key, value in cells(tmp_path / "results/f").items()}
    assert stored["ok"][0] == "ok"
    assert stored["huge"] == ("failed", stored["huge"][1]) and "non-finite statistic" in stored["huge"][1]
    assert stored["complex"][0] == "failed" and "complex values" in stored["complex"][1]
    again = mgbench(tmp_path, "sweep", "f.toml", "--plugin", str(plugin), "--jobs", "1", "--quiet", "--no-report")
    assert "3 cells (0 computed, 3 already stored, 2 failed)" in again.stdout
    one_line(again, 3, "warning: 2 cells stored as failed (0 by this run)")


def test_an_overflowing_learning_rate_is_failed_not_ok(tmp_path):
    (tmp_path / "lr.toml").write_text(sweep_text("lr", estimators='["maml", "dice"]', lr="1e300", batch="[4]"))
    process = mgbench(tmp_path, "sweep", "lr.toml", "--jobs", "1", "--quiet", "--no-report")
    assert process.returncode in (0, 3), process.stderr
    for key, (status, error) in cells(tmp_path / "results/lr").items():
        if status == "ok":   # then every metric must be finite
            connection = sqlite3.connect(tmp_path / "results/lr/results.sqlite")
            row = connection.execute("SELECT bias2, variance, mse FROM cells WHERE key = ?", (key,)).fetchone()
            connection.close()
            assert all(value is not None and abs(value) < float("inf") for value in row), (key, row)


def test_report_shows_why_cells_failed(tmp_path, plugin):
    (tmp_path / "r.toml").write_text(sweep_text("r", estimators='["faulty"]', grid='mode = ["ok", "complex"]'))
    mgbench(tmp_path, "sweep", "r.toml", "--plugin", str(plugin), "--jobs", "1", "--quiet", "--no-report")
    process = mgbench(tmp_path, "report", "results/r", "--out", "rep")
    assert process.returncode == 0, process.stderr
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "Failed cells" in page and "complex values" in page


def test_a_cell_over_the_time_limit_is_failed(tmp_path, plugin):
    (tmp_path / "t.toml").write_text(sweep_text("t", repetitions=256, estimators='["faulty"]', grid='mode = "sleep"'))
    process = mgbench(tmp_path, "sweep", "t.toml", "--plugin", str(plugin), "--jobs", "1", "--quiet", "--no-report",
                      "--cell-time-limit", "0.2")
    one_line(process, 3, "warning: 1 cells stored as failed")
    [(status, error)] = cells(tmp_path / "results/t").values()
    assert status == "failed" and error.startswith("time limit: stopped after 64 of 256 repetitions")


# ----------------------------------------------------------------------------- dead workers (item 4)

def test_cells_that_kill_their_worker_are_failed_and_the_rest_completes(tmp_path, plugin):
    """Two killers in one grid (`os._exit` and a segfault, at batch = 3): each is isolated and
    stored failed with its exit code; the six other cells are ok."""
    (tmp_path / "d.toml").write_text(sweep_text("d", estimators='["faulty"]', batch="[1, 2, 3, 4]",
                                                grid='mode = ["exit", "segfault"]'))
    process = mgbench(tmp_path, "sweep", "d.toml", "--plugin", str(plugin), "--jobs", "2", "--quiet", "--no-report")
    line = one_line(process, 3, "warning: 2 cells stored as failed")
    assert "worker process died" in line
    stored = {(json.loads(key)["mode"], json.loads(key)["batch"]): value
              for key, value in cells(tmp_path / "results/d").items()}
    assert len(stored) == 8
    assert "exit code {EXIT(1)}" in stored[("exit", 3)][1] and "SIGSEGV" in stored[("segfault", 3)][1]
    assert all(stored[(mode, batch)][0] == "ok" for mode in ("exit", "segfault") for batch in (1, 2, 4))


class ScriptedPool:
    """A stand-in for loky's pool whose workers die on cue: `submit` returns a future that
    is done (a result), pending until `shutdown` (then broken), or raises `BrokenProcessPool`
    (the pool's manager saw a worker die between two submissions), by `script[i]`."""

    def __init__(self, script: str):
        self.script, self.pending, self.closed = list(script), [], False

    def submit(self, function, sweep, cell, plugins, options):
        from concurrent.futures import Future

        from joblib.externals.loky.process_executor import BrokenProcessPool

        action, future = self.script.pop(0) if self.script else "d", Future()
        if action == "x":
            raise BrokenProcessPool("A worker process managed by the executor was unexpectedly terminated.")
        if action == "d":
            future.set_result({"cell_id": cell, "status": "ok"})
        else:
            self.pending.append(future)
        return future

    def shutdown(self, wait=True, kill_workers=False):
        from joblib.externals.loky.process_executor import BrokenProcessPool

        self.closed = True
        for future in self.pending:
            future.set_exception(BrokenProcessPool("the worker running this cell died"))


def test_a_pool_that_breaks_between_two_submissions_is_no_traceback(monkeypatch):
    """The race behind a rare CI failure: a worker dies, and loky marks the pool broken before
    the next `submit`, which raises. Cells done before are kept, the rest come back as
    victims of the broken pool (to be isolated), the pool is shut down, nothing raises."""
    from joblib.externals.loky.process_executor import BrokenProcessPool

    from benchmark.sweeps import runner

    pool = ScriptedPool("dpddx")      # cells a, c, d done; b running when the pool breaks at e
    monkeypatch.setattr(runner, "worker_pool", lambda workers: pool)
    outcomes = dict(runner._run_group(None, list("abcdef"), 2, (), None))
    assert {cell for cell, outcome in outcomes.items() if isinstance(outcome, dict)} == {"a", "c", "d"}
    assert {cell for cell, outcome in outcomes.items() if isinstance(outcome, BrokenProcessPool)} == {"b", "e", "f"}
    assert pool.closed


def test_a_pool_broken_before_a_group_starts_is_replaced_and_blames_no_cell(monkeypatch):
    """A pool left broken by the previous group (loky had not flagged it yet) refuses the
    first submission: the group gets a fresh pool and its one cell runs, never blamed."""
    from benchmark.sweeps import runner

    pools = iter([ScriptedPool("x"), ScriptedPool("d")])
    monkeypatch.setattr(runner, "worker_pool", lambda workers: next(pools))
    assert dict(runner._run_group(None, ["a"], 2, (), None)) == {"a": {"cell_id": "a", "status": "ok"}}


# ----------------------------------------------------------------------------- signals (items 10, 13)

def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _stored(database: Path) -> int:
    if not database.exists():
        return 0
    try:
        connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=1)
        try:
            return connection.execute("SELECT COUNT(*) FROM cells").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize("signum, code, group", [(signal.SIGTERM, 143, False), (signal.SIGHUP, 129, False),
                                                 (signal.SIGINT, 130, True)],
                         ids=["SIGTERM", "SIGHUP", "Ctrl-C in a terminal (SIGINT to the process group)"])
def test_sigterm_and_sighup_stop_like_ctrl_c(tmp_path, plugin, signum, code, group):
    """The parent alone is signalled (a `kill PID`), or, for Ctrl-C, its whole process group with the workers."""
    (tmp_path / "g.toml").write_text(sweep_text("g", repetitions=256, estimators='["faulty"]', grid='mode = "sleep"',
                                                batch=str(list(range(1, 41)))))
    process = subprocess.Popen([sys.executable, "-m", "benchmark", "sweep", "g.toml", "--plugin", str(plugin),
                                "--jobs", "2", "--quiet", "--no-report"], cwd=tmp_path, env=ENV,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=group,
                               preexec_fn=default_ctrl_c)
    database = tmp_path / "results/g/results.sqlite"
    deadline = time.monotonic() + 60
    while _stored(database) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(process.pid)
    assert workers, "no worker processes seen"
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    name = signal.Signals(signum).name
    one_line((process.returncode, err), code, f"interrupted ({name}):")
    assert "run the same command again to resume" in err
    assert (tmp_path / "results/g/results.csv").exists()
    assert outcomes(tmp_path / "results/g")[-1] == f"interrupted ({name})"
    assert all(status == "ok" for status, _ in cells(tmp_path / "results/g").values())   # no cell blamed
    import psutil

    deadline = time.monotonic() + 15
    while any(psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE for pid in workers) \
            and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in workers if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"orphaned workers {alive}"


def _loaded(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


@pytest.mark.parametrize("moment", ["importing", "running"])
def test_ctrl_c_in_the_first_moments_gives_no_traceback(tmp_path, moment):
    """Ctrl-C while the package is still being imported (numpy just loaded), or just after the start."""
    (tmp_path / "e.toml").write_text(sweep_text("e", repetitions=20_000, batch=str(list(range(1, 9)))))
    process = subprocess.Popen([sys.executable, "-m", "benchmark", "sweep", "e.toml", "--no-report", "--jobs", "1"],
                               cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_ctrl_c)
    deadline = time.monotonic() + 60
    while not _loaded(process.pid, "_multiarray_umath") and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if moment == "running":
        while not (tmp_path / "results/e/results.sqlite").exists() and process.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith("mgbench: interrupted (SIGINT)"), err


# ----------------------------------------------------------------------------- the store (items 9, 14, 15)

def test_a_second_run_of_the_same_name_is_refused_while_one_runs(tmp_path, plugin):
    (tmp_path / "a.toml").write_text(sweep_text("same", repetitions=256, estimators='["faulty"]', grid='mode = "sleep"',
                                                batch="[1, 2, 3, 4, 5, 6]"))
    (tmp_path / "b.toml").write_text(sweep_text("same", seed=1))
    first = start(tmp_path, "sweep", "a.toml", "--plugin", str(plugin), "--jobs", "1", "--quiet", "--no-report")
    database = tmp_path / "results/same/results.sqlite"
    deadline = time.monotonic() + 60
    while not database.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        other = mgbench(tmp_path, "sweep", "b.toml", "--quiet", "--no-report")
        one_line(other, 2, "error: name: results/same is in use by another run (pid")
        identical = mgbench(tmp_path, "sweep", "a.toml", "--plugin", str(plugin), "--quiet", "--no-report")
        one_line(identical, 2, "error: name: results/same is in use by another run")
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode in (0, 130)
    connection = sqlite3.connect(database)
    hashes = {row[0] for row in connection.execute("SELECT sweep_hash FROM provenance")}
    connection.close()
    assert len(hashes) == 1      # only the first sweep ever ran here


def test_a_growing_grid_adds_cells_and_a_changed_base_is_refused(tmp_path):
    (tmp_path / "g.toml").write_text(sweep_text("grow", batch="[2]"))
    assert mgbench(tmp_path, "sweep", "g.toml", "--jobs", "1", "--quiet", "--no-report").returncode == 0
    (tmp_path / "g.toml").write_text(sweep_text("grow", batch="[2, 4]", problem="n_mdps = 2"))
    grown = mgbench(tmp_path, "sweep", "g.toml", "--jobs", "1", "--quiet", "--no-report")
    assert grown.returncode == 0, grown.stderr
    assert "4 cells (3 computed, 1 already stored, 0 failed)" in grown.stdout
    for change in (dict(seed=1), dict(repetitions=9), dict(critic="exact")):
        (tmp_path / "g.toml").write_text(sweep_text("grow", batch="[2, 4]", problem="n_mdps = 2", **change))
        one_line(mgbench(tmp_path, "sweep", "g.toml", "--quiet", "--no-report"), 2,
                 "error: name: results/grow already holds a different sweep named 'grow' (its seed")
    (tmp_path / "g.toml").write_text(sweep_text("grow", batch="[4]", problem="n_mdps = 2"))
    one_line(mgbench(tmp_path, "sweep", "g.toml", "--quiet", "--no-report"), 2,
             "error: name: results/grow already holds a different sweep named 'grow' (2 stored cells are not")


def test_an_edited_plugin_is_not_reused_silently(tmp_path, plugin):
    (tmp_path / "p.toml").write_text(sweep_text("edit", estimators='["faulty", "maml"]'))
    argv = ("sweep", "p.toml", "--plugin", str(plugin), "--jobs", "1", "--no-report")
    assert mgbench(tmp_path, *argv, "--quiet").returncode == 0
    plugin.write_text(PLUGIN.replace("VERSION = 1", "VERSION = 2"))
    process = mgbench(tmp_path, *argv)
    assert process.returncode == 0, process.stderr
    assert ("the code of estimator 'faulty' (or what a stored cell's numbers mean) changed since 1 of its cells "
            "were stored") in process.stderr
    assert "2 cells (1 computed, 1 already stored, 0 failed)" in process.stdout


def test_disk_full_is_one_line_naming_the_store_and_leaves_no_temporary_csv(tmp_path):
    """RLIMIT_FSIZE makes every write beyond the limit fail (EFBIG), as a full disk does (ENOSPC)."""
    import resource

    (tmp_path / "full.toml").write_text(sweep_text("full", batch=str(list(range(1, 201)))))

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))

    process = mgbench(tmp_path, "sweep", "full.toml", "--jobs", "1", "--quiet", "--no-report",
                      preexec_fn=limit_file_size)
    line = one_line(process, 4, "error: store: cannot write results/full/results.sqlite")
    assert "disk" in line or "large" in line, line
    assert not list((tmp_path / "results/full").glob("*.tmp"))


# ----------------------------------------------------------------------------- the practical target (item 2)

@pytest.mark.slow
def test_the_practical_target_of_a_large_path_space_falls_back_to_a_reference_estimate(tmp_path):
    """>= 2^64 trajectory types: enumeration is impossible, the reference estimate must run."""
    (tmp_path / "big.toml").write_text(sweep_text("big", target="practical", estimators='["maml", "sf"]',
                                                  batch="[4]", repetitions=8)
                                       .replace("n_states = 2", "n_states = 6")
                                       .replace("rollout_length = 2", "rollout_length = 30")
                                       .replace('batch = [4]', 'batch = [4]\nsplit = "lll"'))
    process = mgbench(tmp_path, "sweep", "big.toml", "--jobs", "1", "--quiet", "--no-report", timeout=300)
    assert process.returncode == 0, process.stderr
    assert all(status == "ok" for status, _ in cells(tmp_path / "results/big").values())


# ----------------------------------------------------------------------------- Dask (items 1, 14)

class Cluster:
    """A Dask scheduler and 2 single-threaded worker processes on 127.0.0.1, stopped by PID."""

    def __init__(self, directory: Path, worker_env: dict[str, str], scheduler_env: dict[str, str] = ENV):
        self.file = directory / "scheduler.json"
        self.processes: dict[str, subprocess.Popen] = {}
        self.processes["scheduler"] = self._start(directory, ["scheduler", "--host", "127.0.0.1", "--port", "0",
                                                              "--no-dashboard", "--scheduler-file", str(self.file)],
                                                  scheduler_env)
        deadline = time.monotonic() + 60
        while not self.file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.address = json.loads(self.file.read_text())["address"]
        for index in range(2):
            self.processes[f"worker{index}"] = self._start(
                directory, ["worker", "--scheduler-file", str(self.file), "--nworkers", "1", "--nthreads", "1",
                            "--no-dashboard", "--host", "127.0.0.1", "--name", f"w{index}"], worker_env)
        self._wait_for_workers(2)

    @staticmethod
    def _start(directory: Path, argv: list[str], env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + argv[0].replace("-", "_"),
                                 *argv[1:]], cwd=directory, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)

    def _wait_for_workers(self, count: int) -> None:
        from distributed import Client

        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(count, timeout=60)

    def kill(self, name: str) -> None:
        process = self.processes[name]
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)     # the process and the children it started, by its group id
        process.wait(timeout=30)

    def stop(self) -> None:
        for name in list(self.processes):
            self.kill(name)


@pytest.fixture
def cluster(tmp_path):
    directory = tmp_path / "cluster"
    directory.mkdir()
    started = Cluster(directory, ENV)
    yield started
    started.stop()


@pytest.mark.slow
def test_workers_that_cannot_import_a_plugin_lose_cells_not_fail_them(tmp_path, cluster):
    """A plug-in module importable by the client only: nothing stored, exit 4, run again resumes."""
    (tmp_path / "client_only_plugin.py").write_text(PLUGIN)
    (tmp_path / "k.toml").write_text(sweep_text("k", estimators='["faulty"]', batch="[1, 2, 4]"))
    process = mgbench(tmp_path, "sweep", "k.toml", "--backend", "dask", "--scheduler", cluster.address,
                      "--plugin", "client_only_plugin", "--quiet", "--no-report")
    line = one_line(process, 4, "error: lost WorkerSetupError: a worker on")
    assert "cannot import a plug-in" in line and "client_only_plugin" in line
    assert "3 cells not computed" in line and "run the same command again to resume" in line
    assert cells(tmp_path / "results/k") == {}
    assert outcomes(tmp_path / "results/k")[-1].startswith("lost: WorkerSetupError")


@pytest.mark.slow
def test_a_lost_scheduler_leaves_cells_pending_and_a_rerun_resumes(tmp_path, cluster, plugin):
    (tmp_path / "l.toml").write_text(sweep_text("l", repetitions=128, estimators='["faulty"]', grid='mode = "sleep"',
                                                batch=str(list(range(1, 13)))))
    process = start(tmp_path, "sweep", "l.toml", "--backend", "dask", "--scheduler", cluster.address,
                    "--plugin", plugin.name, "--quiet", "--no-report")   # relative: the workers run elsewhere
    database = tmp_path / "results/l/results.sqlite"
    deadline = time.monotonic() + 60
    while _stored(database) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    cluster.kill("scheduler")
    _, err = process.communicate(timeout=60)
    line = one_line((process.returncode, err), 4, "error: lost ")
    assert "cells not computed" in line and "run the same command again to resume" in line
    stored = cells(tmp_path / "results/l")
    assert stored and all(status == "ok" for status, _ in stored.values())
    again = mgbench(tmp_path, "sweep", "l.toml", "--plugin", str(plugin), "--jobs", "2", "--quiet", "--no-report")
    assert again.returncode == 0, again.stderr
    assert f"12 cells ({12 - len(stored)} computed, {len(stored)} already stored, 0 failed)" in again.stdout


@pytest.mark.slow
def test_a_cell_that_kills_dask_workers_is_failed_and_the_rest_completes(tmp_path, plugin):
    """KilledWorker (here after the first death: allowed-failures = 0) is the cell's fault: stored failed.
    The cells queued beside it on the dying worker are blamed by Dask too; run again alone, they complete."""
    directory = tmp_path / "cluster"
    directory.mkdir()
    cluster = Cluster(directory, ENV, {**ENV, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    try:
        (tmp_path / "kw.toml").write_text(sweep_text("kw", estimators='["faulty"]', batch="[1, 2, 3, 4, 5, 6, 7, 8]",
                                                     grid='mode = "exit"'))
        process = mgbench(tmp_path, "sweep", "kw.toml", "--backend", "dask", "--scheduler", cluster.address,
                          "--plugin", str(plugin), "--quiet", "--no-report")
    finally:
        cluster.stop()
    line = one_line(process, 3, "warning: 1 cells stored as failed")
    assert "KilledWorker" in line
    stored = {json.loads(key)["batch"]: value for key, value in cells(tmp_path / "results/kw").items()}
    assert stored[3][0] == "failed" and all(stored[batch][0] == "ok" for batch in (1, 2, 4, 5, 6, 7, 8))
