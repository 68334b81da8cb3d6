"""`mgbench`: one-line errors with exit code 2, `list`, `sweep` (resume, refusal, --quick),
and subcommand registration."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from benchmark import cli
from benchmark.cli import main
from tests.conftest import toy_sweep_text

REPOSITORY = Path(__file__).resolve().parent.parent


def run(capsys, *argv: str) -> tuple[int, str, str]:
    if argv[:1] == ("sweep",) and "--reports" not in argv:
        argv = (*argv, "--no-report")      # reports are tested where asked for, never in the cwd
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, err: str, start: str) -> None:
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"mgbench: error: {start}"), lines[0]


BAD_INPUTS = [
    ("empty axis", toy_sweep_text().replace("N = [1, 4, 16]", "N = []"), [], "grid.N: expected a non-empty list"),
    ("unknown key", toy_sweep_text().replace("seed = 0", "sed = 0"), [], "sed: unknown key"),
    ("unknown estimator", toy_sweep_text().replace('"pw"', '"dice"'), [], "grid.estimator: unknown"),
    ("bad --jobs", toy_sweep_text(), ["--jobs", "0"], "argument --jobs: expected a positive integer"),
    ("bad --backend", toy_sweep_text(), ["--backend", "ray"], "argument --backend"),
    ("scheduler without dask", toy_sweep_text(), ["--scheduler", "tcp://x:1"], "scheduler:"),
    ("missing plug-in", toy_sweep_text(), ["--plugin", "no_such_module_xyz"], "estimator module:"),
]


@pytest.mark.parametrize("description, text, options, start", BAD_INPUTS, ids=[case[0] for case in BAD_INPUTS])
def test_bad_input_is_one_line_on_stderr_and_exit_code_2(capsys, write_sweep, tmp_path, description, text,
                                                         options, start):
    code, out, err = run(capsys, "sweep", str(write_sweep(text)), "--out", str(tmp_path / "out"), "--quiet",
                         *options)
    assert_one_line_error(code, err, start)
    assert "Traceback" not in err


def test_unknown_preset_and_unknown_command(capsys):
    assert_one_line_error(*run(capsys, "sweep", "no-such-preset")[::2], "sweep: expected a TOML file or a preset")
    assert_one_line_error(*run(capsys, "frobnicate")[::2], "argument COMMAND: invalid choice")


def test_the_console_entry_point_exits_2_without_traceback(write_sweep, tmp_path):
    path = write_sweep(toy_sweep_text().replace("repetitions = 500", "repetitions = 1"))
    process = subprocess.run([sys.executable, "-m", "benchmark", "sweep", str(path), "--out", str(tmp_path), "--no-report"],
                             capture_output=True, text=True, cwd=REPOSITORY, timeout=60)
    assert process.returncode == 2
    assert process.stderr.strip() == "mgbench: error: repetitions: expected an integer >= 2, got 1"


def test_list_shows_estimators_with_parameters_and_presets(capsys):
    code, out, err = run(capsys, "list")
    assert code == 0 and not err
    assert "Estimators for gaussian_toy problems:" in out and "Estimators for tabular problems:" in out
    assert "test_noisy_toy" in out and "scale=1.0, offset=0.0, bad=False" in out
    assert "Preset sweeps" in out
    for preset in ("default", "tang-toy", "decompose", "hessian-bias"):
        assert any(line.split()[:1] == [preset] and len(line.split()) > 1 for line in out.splitlines()), preset


def test_sweep_runs_resumes_and_refuses_a_changed_sweep(capsys, write_sweep, tmp_path):
    path = write_sweep(toy_sweep_text("cli"))
    out_dir = str(tmp_path / "out")
    code, out, err = run(capsys, "sweep", str(path), "--out", out_dir, "--jobs", "1", "--quiet")
    assert code == 0 and "cli: 9 cells (9 computed, 0 already stored, 0 failed)" in out
    assert f"results: {Path(out_dir) / 'cli' / 'results.csv'}" in out
    code, out, err = run(capsys, "sweep", str(path), "--out", out_dir, "--jobs", "1", "--quiet")
    assert code == 0 and "(0 computed, 9 already stored" in out
    path.write_text(toy_sweep_text("cli", seed=1))
    code, out, err = run(capsys, "sweep", str(path), "--out", out_dir, "--quiet")
    assert_one_line_error(code, err, "name: ")
    assert "--overwrite" in err
    code, out, err = run(capsys, "sweep", str(path), "--out", out_dir, "--jobs", "1", "--quiet", "--overwrite")
    assert code == 0 and "(9 computed, 0 already stored" in out


def test_quick_preset(capsys, tmp_path):
    code, out, err = run(capsys, "sweep", "tang-toy", "--quick", "--out", str(tmp_path), "--jobs", "1", "--quiet")
    assert code == 0 and "tang-toy-quick: 9 cells" in out


def test_the_default_sweep_ends_on_a_page_that_opens_with_a_verdict_and_a_figure(capsys, tmp_path):
    """`mgbench sweep` with no argument (the README's first command) asks a real question:
    is Tang's LSF bias O(1/N)? At θ = 0.5 it is exactly 1/N, so the slope must cover -1 and,
    with the default's 20000 estimates per N, within the precision: `tight`, not inconclusive."""
    code, out, err = run(capsys, "sweep", "--out", str(tmp_path), "--jobs", "2", "--quiet",
                         "--reports", str(tmp_path / "reports"))
    page = tmp_path / "reports" / "default" / "index.html"
    assert code == 0 and out.startswith("default: 27 cells") and out.rstrip().endswith(f"report: {page}")
    assert (tmp_path / "default" / "results.csv").exists()
    text = page.read_text(encoding="utf-8")
    top = text[:text.index("<h2>Sweep</h2>")]                    # what the page opens with
    found = top[top.index("What was found"):]
    assert found.index("class='badge'") < found.index("<img")     # a verdict, then the figure it was read from
    first_verdict = found.split("class='badge'", 1)[1].split(">", 1)[1].split("<", 1)[0]
    assert first_verdict in ("tight", "consistent", "violated")
    assert "src='default-N.png'" in top and (tmp_path / "reports" / "default" / "default-N.png").stat().st_size > 10_000
    verdicts = pd.read_csv(tmp_path / "reports" / "default" / "verdicts.csv")
    lsf = verdicts[(verdicts["bound"] == "lsf_bias") & (verdicts["range"] == "all")].iloc[0]
    assert lsf["verdict"] == "tight" and lsf["slope_lo"] <= -1 <= lsf["slope_hi"]
    assert lsf["cells_resolved"] == 9 and "lsf_bias (1/N) for LSF along N" in found


def test_every_subcommand_is_one_row_of_the_table_and_parses():
    assert set(cli.SUBCOMMANDS) == {"sweep", "report", "compare", "figures", "bench", "list"}
    parser = cli.build_parser()
    for name, required in (("sweep", []), ("report", ["results/x"]), ("compare", ["m:n"]),
                           ("figures", ["tang2022"]), ("bench", []), ("list", [])):
        assert parser.parse_args([name, *required]).command == name


def test_list_imports_neither_pandas_matplotlib_the_studies_nor_the_bench():
    """Of the studies only their light package (`benchmark.studies`, where the parser reads the study
    names) may be imported, none of their modules."""
    code = ("import sys; from benchmark.cli import main; main(['list']); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'matplotlib') "
            "or (m.startswith(('benchmark.studies', 'benchmark.bench', 'benchmark.reports')) "
            "and m != 'benchmark.studies')))")
    process = subprocess.run([sys.executable, "-c", code], cwd=REPOSITORY, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip().splitlines()[-1] == "[]"


def test_list_shows_a_plugin_estimator_from_a_file(capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "docs" / "examples" / "averaged_estimator.py"
    code, out, err = run(capsys, "list", "--plugin", str(example))
    assert code == 0 and "lvc_dice_average" in out and "example plug-in" in out
