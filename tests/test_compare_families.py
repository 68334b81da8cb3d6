"""`mgbench compare` for a plug-in of every problem family, run as a user would from the docs:
each documented example (`docs/examples/`) exits 0 with a page that says which bounds speak
of its family, and the suite is the family's own (`benchmark.families`)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.cli import main
from benchmark.families import FAMILIES

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
# family -> (example file, registered name); every family has one (checked below)
FAMILY_EXAMPLES = {"tabular": ("averaged_estimator.py", "lvc_dice_average"),
                   "gaussian_toy": ("toy_estimator.py", "sf_with_baseline"),
                   "ipd": ("ipd_estimator.py", "lola_large_hessian"),
                   "bandit": ("bandit_estimator.py", "truncated_dice_blend")}


def test_every_family_has_a_documented_example():
    assert set(FAMILY_EXAMPLES) == set(FAMILIES)
    for file, name in FAMILY_EXAMPLES.values():
        assert f'"{name}"' in (EXAMPLES / file).read_text()


@pytest.mark.slow
@pytest.mark.parametrize("family", ["gaussian_toy", "ipd", "bandit"])   # tabular: tests/test_report.py
def test_compare_a_plugin_of_each_family(family, tmp_path, capsys):
    file, name = FAMILY_EXAMPLES[family]
    code = main(["compare", f"{EXAMPLES / file}:{name}", "--quick", "--quiet", "--jobs", "1",
                 "--out", str(tmp_path / "results"), "--reports", str(tmp_path / "reports")])
    out = capsys.readouterr().out
    assert code == 0, out
    page = (tmp_path / "reports" / f"compare-{name}-quick" / "index.html").read_text()
    suite = FAMILIES[family].compare
    assert name in page and all(baseline in page for baseline in suite.baselines)
    if family in ("ipd", "bandit"):      # no bound of mgbench speaks of them: the page says so
        assert f"No theoretical bound of mgbench speaks of {family} problems" in page
    cells = pd.concat([pd.read_csv(path) for path in (tmp_path / "results").glob("*/results.csv")])
    assert set(cells["estimator"]) == {name, *suite.baselines}
    assert (cells["status"] == "ok").all()
