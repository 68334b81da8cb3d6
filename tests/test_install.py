"""The installed package works outside the source tree (what a new user gets from `pip install .`).

The test process imports the sources from the repository, so a subpackage or data file
missing from the installed distribution would go unnoticed there; this runs `mgbench` in a
subprocess whose working directory is not the repository.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[1]


def installed_python_environment() -> dict[str, str]:
    environment = dict(os.environ)
    environment.pop("PYTHONPATH", None)
    return environment


@pytest.mark.slow
def test_installed_mgbench_runs_a_sweep_with_its_report_outside_the_repository(tmp_path):
    where = subprocess.run([sys.executable, "-c", "import benchmark, sys; print(benchmark.__file__)"], cwd=tmp_path,
                           env=installed_python_environment(), capture_output=True, text=True)
    if where.returncode != 0:
        pytest.skip("mgbench is not installed in this interpreter (run `pip install .` first)")
    process = subprocess.run([sys.executable, "-m", "benchmark", "sweep", "default", "--quick", "--quiet",
                              "--out", "results", "--reports", "reports", "--jobs", "1"],
                             cwd=tmp_path, env=installed_python_environment(), capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    assert (tmp_path / "reports" / "default-quick" / "index.html").exists()
    figures = subprocess.run([sys.executable, "-c", "import benchmark.studies, benchmark.reports.sweep, benchmark.reports.compare"],
                             cwd=tmp_path, env=installed_python_environment(), capture_output=True, text=True)
    assert figures.returncode == 0, figures.stderr
