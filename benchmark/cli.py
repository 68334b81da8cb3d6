"""`mgbench` (also `python -m benchmark`): the table of subcommands and the entry point.

    mgbench sweep [FILE_OR_PRESET] [--out DIR] [--jobs N] [--quick] [--quiet] [--overwrite] [--kernel K]
                  [--retry-failed] [--backend joblib|dask] [--scheduler ADDRESS]
                  [--plugin MODULE[:NAME]] [--reports DIR] [--no-report]
    mgbench report RESULTS_DIR [--out DIR] [--precision H] [--plugin MODULE[:NAME]]
    mgbench compare MODULE:NAME [--against dice,lvc,loaded,maml] [--quick] [--repetitions R] [--precision H]
    mgbench figures STUDY [--quick] [--jobs N] [--kernel K]
    mgbench bench [--quick] [--json FILE]
    mgbench list

Bad input of any kind ends with one line `mgbench: error: <field>: <what was expected>` on
stderr and exit code 2. Exit codes (README "Exit codes", docs/reliability.md):

    0    every cell of the sweep(s) is stored `ok`
    2    bad input, or a run refused before it started (nothing computed)
    3    the run completed but cells are stored `failed` (`--retry-failed` evaluates them again)
    4    an infrastructure fault (Dask scheduler lost, a worker cannot import a plug-in,
         the store cannot be written):
         the cells it concerned are not stored; running the same command again resumes
    130  interrupted by Ctrl-C (SIGINT); 143 by SIGTERM; 129 by SIGHUP (128 + the signal)

Every subcommand is one row of `SUBCOMMANDS` below: its name, its help line, the function
adding its options and its handler (both further down in this module). A handler imports
what it runs inside its body, so `mgbench list` or `mgbench --help` imports neither pandas,
matplotlib, the studies nor the bench. Adding a subcommand is one row here and two
functions below. Nothing in the package imports `benchmark.cli`; it sits on top of everything.
"""
from __future__ import annotations

import argparse
import json
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn, Sequence

PROG = "mgbench"
EXIT_OK, EXIT_BAD_INPUT, EXIT_FAILED_CELLS, EXIT_LOST = 0, 2, 3, 4


@dataclass(frozen=True)
class Subcommand:
    """`mgbench <name>`: `arguments(parser)` adds its options, `run(args)` returns the exit code."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {command.name: command for command in (
    Subcommand("sweep", "run a sweep (resumable) and write <out>/<name>/results.{sqlite,csv}",
               lambda parser: sweep_arguments(parser), lambda args: sweep_command(args)),
    Subcommand("report", "write an HTML report of a sweep: bound verdicts, figures, results",
               lambda parser: report_arguments(parser), lambda args: report_command(args)),
    Subcommand("compare", "run the bound-checking suite for a new estimator beside the baselines",
               lambda parser: compare_arguments(parser), lambda args: compare_command(args)),
    Subcommand("figures", "run the sweeps of a published study (resuming) and draw its figures and HTML page",
               lambda parser: figures_arguments(parser), lambda args: figures_command(args)),
    Subcommand("bench", "measure throughput, memory and scaling of the estimators on fixed reference cells",
               lambda parser: bench_arguments(parser), lambda args: bench_command(args)),
    Subcommand("list", "list registered estimators (with parameters) and preset sweeps",
               lambda parser: list_arguments(parser), lambda args: list_command(args)),
)}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`mgbench: error: ...`, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        _print_error(message)
        raise SystemExit(2)


class Interrupted(KeyboardInterrupt):
    """A stop request by signal (SIGTERM, SIGHUP), handled like Ctrl-C; `signum` is the signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, _frame) -> None:
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGHUP stop `mgbench` like Ctrl-C (a KeyboardInterrupt carrying `signum`):
    the run is recorded as interrupted, the CSV written, the workers stopped. Main thread only."""
    for name in ("SIGTERM", "SIGHUP"):
        number = getattr(signal, name, None)
        if number is not None:
            try:
                signal.signal(number, _raise_interrupted)
            except ValueError:  # not the main thread: leave the defaults
                return


def interrupted_exit_code(stop: BaseException) -> int:
    """128 + the signal number (130 for Ctrl-C)."""
    return 128 + int(getattr(stop, "signum", signal.SIGINT))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mgbench`; returns the exit code (module docstring)."""
    install_signal_handlers()
    try:
        return _main(argv)
    except KeyboardInterrupt as stop:
        name = signal.Signals(interrupted_exit_code(stop) - 128).name
        print(f"{PROG}: interrupted ({name}); nothing in progress was lost: run the same command again "
              f"to continue", file=sys.stderr)
        return interrupted_exit_code(stop)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    from benchmark.sweeps.store import StoreError

    try:
        return SUBCOMMANDS[args.command].run(args)
    except StoreError as error:  # the disk, not the input: what was stored is kept, running again resumes
        _print_error(f"{error}; free space, then run the same command again to resume")
        return EXIT_LOST
    except UnicodeDecodeError as error:
        _print_error(f"input: not UTF-8 text ({error.reason} at byte {error.start})")
    except FileNotFoundError as error:
        _print_error(f"{error.filename}: no such file or directory" if error.filename else str(error))
    except ValueError as error:  # SweepError and every validation error of the package
        _print_error(str(error))
    except OSError as error:  # e.g. an output directory that cannot be written
        _print_error(f"{error.filename}: {error.strerror}" if error.filename else str(error))
    except sqlite3.Error as error:
        _print_error(f"store: {error}")
    return 2


def build_parser() -> argparse.ArgumentParser:
    """The parser with every subcommand of `SUBCOMMANDS`."""
    parser = _Parser(prog=PROG, description="Bias and variance of meta-gradient estimators against exact targets.")
    parser.add_argument("--version", action="version", version=f"{PROG} {package_version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in SUBCOMMANDS.values():
        command.arguments(subparsers.add_parser(command.name, help=command.help, description=command.help))
    return parser


def package_version() -> str:
    """The installed version of mgbench (`unknown` when run from a tree that is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mgbench")
    except PackageNotFoundError:
        return "unknown"


def _print_error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


DEFAULT_SWEEP = "default"


def positive_int(text: str) -> int:
    """argparse type: a positive integer, or a clear error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


# ----------------------------------------------------------------------------- sweep

def sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench sweep`."""
    parser.add_argument("sweep", nargs="?", default=DEFAULT_SWEEP, metavar="FILE_OR_PRESET",
                        help=f"a sweep TOML file, a preset or a suite of presets (default: {DEFAULT_SWEEP!r}; "
                             f"see `mgbench list`)")
    parser.add_argument("--out", default="results", metavar="DIR", help="results go to DIR/<name>/ (default: results)")
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help="parallel workers (default: all cores)")
    parser.add_argument("--quick", action="store_true", help="a seconds-long version of the sweep (<name>-quick)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard earlier results stored under the same name")
    parser.add_argument("--retry-failed", action="store_true", help="evaluate again the cells stored as failed")
    parser.add_argument("--backend", choices=("joblib", "dask"), default="joblib",
                        help="joblib (local processes, default) or dask (a distributed cluster)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="Dask scheduler address, e.g. tcp://host:8786 (default: a local cluster)")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:NAME]",
                        help="import an estimator module (or .py file) registering estimators; repeatable")
    parser.add_argument("--kernel", choices=("compiled", "numpy"), default="compiled",
                        help="compute sampled batches with the compiled kernel (default) or the numpy "
                             "reference path: the same numbers, the numpy path 3-5x slower")
    parser.add_argument("--reports", default="reports", metavar="DIR",
                        help="after the sweep, write its report to DIR/<name>/ (default: reports)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report")
    add_guard_arguments(parser)


def add_guard_arguments(parser: argparse.ArgumentParser) -> None:
    """`--max-cells` and `--cell-time-limit`, for every subcommand that runs sweeps."""
    from benchmark.sweeps.vocabulary import DEFAULT_MAX_CELLS

    parser.add_argument("--max-cells", type=positive_int, default=DEFAULT_MAX_CELLS, metavar="N",
                        help=f"refuse a sweep of more than N cells before starting (default {DEFAULT_MAX_CELLS})")
    parser.add_argument("--cell-time-limit", type=positive_float, default=None, metavar="SECONDS",
                        help="store a cell as failed when it runs longer (checked between blocks of repetitions)")


def positive_float(text: str) -> float:
    """argparse type: a positive finite number, or a clear error."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def sweep_command(args: argparse.Namespace) -> int:
    """Load, optionally shrink, and run a sweep; print where the results went."""
    from benchmark.sweeps.loading import load_sweeps
    from benchmark.sweeps.runner import run_sweep
    from estimators import load_estimator

    for reference in args.plugin:
        load_estimator(reference)
    sweeps = load_sweeps(args.sweep)  # a suite runs its sweeps one after another
    code = EXIT_OK
    for sweep in sweeps:
        sweep = sweep.quick() if args.quick else sweep
        summary = run_sweep(sweep, args.out, jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
                            quiet=args.quiet, overwrite=args.overwrite, retry_failed=args.retry_failed,
                            plugins=tuple(args.plugin), max_cells=args.max_cells, time_limit=args.cell_time_limit,
                            kernel=args.kernel)
        summary_code = report_summary(summary)
        if summary_code not in (EXIT_OK, EXIT_FAILED_CELLS):
            return summary_code
        code = max(code, summary_code)
        if not args.no_report:
            from benchmark.reports.sweep import write_report

            page = write_report(summary.directory, Path(args.reports) / sweep.name, frame=summary.results,
                                sweep=summary.sweep)
            print(f"report: {page}")
    return code


def report_summary(summary) -> int:
    """Print what a run did (stdout) and any warning or stop as one line on stderr; the exit code."""
    print(f"{summary.name}: {summary.total} cells ({summary.computed} computed, {summary.skipped} already stored, "
          f"{summary.failed_stored} failed) in {summary.seconds:.1f} s")
    print(f"results: {summary.csv_path}")
    if summary.interrupted:
        name = signal.Signals(summary.signal or signal.SIGINT).name
        print(f"{PROG}: interrupted ({name}): {summary.computed + summary.skipped} of {summary.total} cells stored "
              f"in {summary.directory}; run the same command again to resume", file=sys.stderr)
        return 128 + int(summary.signal or signal.SIGINT)
    if summary.lost:
        print(f"{PROG}: error: lost {summary.lost_reason}; {summary.pending} cells not computed (not stored, "
              f"still pending in {summary.directory}); run the same command again to resume", file=sys.stderr)
        return EXIT_LOST
    if summary.failed_stored:
        first = f"; first: {summary.first_error}" if summary.first_error else ""
        print(f"{PROG}: warning: {summary.failed_stored} cells stored as failed ({summary.failed} by this run{first}); "
              f"`{PROG} report` lists why, --retry-failed evaluates them again", file=sys.stderr)
        return EXIT_FAILED_CELLS
    return EXIT_OK


# ----------------------------------------------------------------------------- report



def report_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench report`."""
    from benchmark.analysis.claims import DEFAULT_PRECISION   # the owner; imports nothing heavy

    parser.add_argument("results_dir", help="a sweep's results directory, e.g. results/comp-sample")
    parser.add_argument("--out", default=None, help="output directory (default reports/<sweep name>)")
    parser.add_argument("--precision", type=positive_float, default=DEFAULT_PRECISION, metavar="H",
                        help="largest slope-interval half-width (exponent units) for a tight or violated verdict "
                             f"(default {DEFAULT_PRECISION})")
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:NAME]",
                        help="import an estimator module first (its claimed bounds are judged); repeatable")


def report_command(args: argparse.Namespace) -> int:
    """Write the report and print where it went."""
    from benchmark.reports.sweep import write_report
    from benchmark.sweeps.loading import load_stored_sweep
    from benchmark.sweeps.store import load_results
    from estimators import load_estimator

    for reference in args.plugin:
        load_estimator(reference)
    frame = load_results(args.results_dir)
    page = write_report(args.results_dir, args.out, frame=frame, sweep=load_stored_sweep(args.results_dir),
                        precision=args.precision)
    print(f"report: {page}")
    return 0


# ----------------------------------------------------------------------------- compare

def compare_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench compare`."""
    parser.add_argument("reference", metavar="MODULE:NAME", help="module (or .py file) registering the estimator")
    from benchmark.analysis.claims import DEFAULT_PRECISION   # the owner; imports nothing heavy

    parser.add_argument("--against", default=None, help="comma-separated baselines (default: the estimator's "
                                                        "problem family's, benchmark.families)")
    parser.add_argument("--quick", action="store_true", help="shrink every sweep to a seconds-long smoke test")
    parser.add_argument("--jobs", type=positive_int, default=None, help="parallel workers (default: all cores)")
    parser.add_argument("--repetitions", type=positive_int, default=None,
                        help="repetitions per cell (default: the family's suite, e.g. 5000 tabular, 100000 toy)")
    parser.add_argument("--precision", type=positive_float, default=DEFAULT_PRECISION, metavar="H",
                        help=f"largest slope-interval half-width for tight/violated (default {DEFAULT_PRECISION})")
    parser.add_argument("--out", default="results", help="results directory (default results)")
    parser.add_argument("--reports", default="reports", help="reports directory (default reports)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard earlier results of the suite's sweeps stored under the same names")


def compare_command(args: argparse.Namespace) -> int:
    """Run the comparison suite; print the headline verdicts and where the page went. Exit 3
    when an estimator failed in every cell, 4 when cells were lost."""
    from benchmark.reports.compare import EstimatorFailedEverywhere, SuiteLost, compare

    against = [name.strip() for name in args.against.split(",") if name.strip()] if args.against else None
    try:
        page, lines = compare(args.reference, against=against, quick=args.quick, jobs=args.jobs,
                              results_dir=args.out, reports_dir=args.reports, quiet=args.quiet,
                              repetitions=args.repetitions, precision=args.precision, overwrite=args.overwrite)
    except EstimatorFailedEverywhere as error:
        _print_error(str(error))
        return EXIT_FAILED_CELLS
    except SuiteLost as error:
        _print_error(str(error))
        return EXIT_LOST
    for line in lines:
        print(line)
    print(f"comparison report: {page}")
    return 0


# ----------------------------------------------------------------------------- figures

def figures_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench figures`."""
    from benchmark.studies import ALL, STUDIES    # the owner; the package imports nothing heavy

    choices = (*STUDIES, ALL)
    parser.add_argument("study", choices=choices, metavar="STUDY",
                        help=f"one of {', '.join(choices)} (beyond: the estimators against both targets)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick version of every sweep (results under <out>/<name>-quick/), minutes in total")
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help="parallel workers for the sweeps (default: all cores)")
    parser.add_argument("--out", default="results", metavar="DIR", help="sweep results directory (default: results)")
    parser.add_argument("--reports", default="reports", metavar="DIR",
                        help="figures go to DIR/figures/<study>/, pages to DIR/<study>.html; with --quick "
                             "<study>-quick in both (default: reports)")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard stored results of sweeps whose preset has changed")
    parser.add_argument("--kernel", choices=("compiled", "numpy"), default="compiled",
                        help="compute the sweeps' sampled batches with the compiled kernel (default) or the numpy "
                             "reference path (same numbers to 1e-12; stored cells are reused either way)")
    parser.add_argument("--quiet", action="store_true", help="print only the written files")


def figures_command(args: argparse.Namespace) -> int:
    """Make the figures; print the written files. Exit code 0, or 1 when a figure was not drawn."""
    from benchmark.studies import FiguresError, make_figures

    progress = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    try:
        paths = make_figures(args.study, quick=args.quick, jobs=args.jobs, results_dir=args.out,
                             reports_dir=args.reports, overwrite=args.overwrite, progress=progress,
                             kernel=args.kernel)
    except FiguresError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


# ----------------------------------------------------------------------------- bench

def bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench bench`."""
    parser.add_argument("--quick", action="store_true",
                        help="short timing windows and one scaling study (under 2 minutes)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write every measurement and the machine description as JSON to FILE")


def bench_command(args: argparse.Namespace) -> int:
    """Run the bench (progress on stderr), print the report on stdout.

    Exit code 0 when every cell was measured, 1 when some could not be (listed in the
    report). Targets missed are reported, never an error: speed is measured, not asserted.
    """
    from benchmark.bench.report import format_report, machine_info
    from benchmark.bench.run import run_bench

    quick = bool(getattr(args, "quick", False))
    start = time.perf_counter()

    def progress(name: str) -> None:
        print(f"[{time.perf_counter() - start:5.1f} s] {name}", file=sys.stderr, flush=True)

    results = run_bench(quick, progress=progress)
    machine = machine_info()
    print(format_report(results, quick=quick, machine=machine))
    print(f"\nbench time: {time.perf_counter() - start:.0f} s")
    path = getattr(args, "json", None)
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump({"quick": quick, "machine": machine, "results": [r.to_dict() for r in results]}, handle,
                      indent=2)
    return 1 if any(result.error for result in results) else 0


# ----------------------------------------------------------------------------- list

def list_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench list`."""
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:NAME]",
                        help="import an estimator module (or .py file) first, to list its estimators too")


def list_command(args: argparse.Namespace) -> int:
    """Print every registered estimator by problem kind, then every preset sweep."""
    from estimators import load_estimator

    for reference in args.plugin:
        load_estimator(reference)
    print(format_listing())
    return 0


def format_listing() -> str:
    """The text of `mgbench list`."""
    from benchmark.sweeps.loading import available_presets, preset_description
    from estimators import available_estimators
    from estimators.registry import PROBLEM_KINDS

    lines: list[str] = []
    for kind in PROBLEM_KINDS:
        specs = available_estimators(kind)
        lines.append(f"Estimators for {kind} problems:")
        width = max((len(spec.name) for spec in specs), default=0)
        for spec in specs:
            lines.append(f"  {spec.name:<{width}}  {spec.description}")
            parameters = ", ".join(f"{name}={value!r}" for name, value in spec.parameters.items())
            lines.append(f"  {'':<{width}}    parameters: {parameters or 'none'}")
            if spec.framework != "numpy":   # a surrogate plug-in (estimators.register_surrogate)
                lines.append(f"  {'':<{width}}    framework: {spec.framework} (surrogate differentiated by mgbench)")
        lines.append("")
    presets = available_presets()
    width = max((len(name) for name in presets), default=0)
    lines.append("Preset sweeps (mgbench sweep NAME [--quick]):")
    lines += [f"  {name:<{width}}  {preset_description(name)}" for name in presets]
    return "\n".join(lines)
