"""Every preset reports (issue 10, item 4): `mgbench sweep P --quick` and its report succeed.

All quick runs of every preset take about a minute on one core (measured: 55 s for the 17
presets), so no preset needs a further-reduced copy here.
"""
from __future__ import annotations

import pytest

from benchmark.cli import main
from benchmark.sweeps.loading import available_presets


@pytest.mark.slow
@pytest.mark.parametrize("preset", available_presets())
def test_quick_sweep_and_report(preset, tmp_path, capsys):
    code = main(["sweep", preset, "--quick", "--quiet", "--jobs", "1", "--out", str(tmp_path / "results"),
                 "--reports", str(tmp_path / "reports")])
    out = capsys.readouterr()
    assert code == 0, out.err
    pages = [line.split("report: ", 1)[1] for line in out.out.splitlines() if line.startswith("report: ")]
    assert pages, out.out
    for page in pages:
        text = open(page, encoding="utf-8").read()
        assert "What was found" in text and "Quick run" in text and "Bound verdicts" in text
