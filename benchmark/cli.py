"""`mgbench` (also `python -m benchmark`): run sweeps and list what can be run.

    mgbench sweep [FILE_OR_PRESET] [--out DIR] [--jobs N] [--quick] [--quiet] [--overwrite]
                  [--retry-failed] [--backend joblib|dask] [--scheduler ADDRESS]
                  [--plugin MODULE[:NAME]] [--reports DIR] [--no-report]
    mgbench report RESULTS_DIR [--out DIR]
    mgbench compare MODULE:NAME [--against dice,lvc,loaded,maml] [--quick]
    mgbench figures STUDY [--quick] [--jobs N]
    mgbench bench [--quick]
    mgbench list

Bad input of any kind ends with one line `mgbench: error: <field>: <what was expected>` on
stderr and exit code 2.

Adding a subcommand is one decorated function, anywhere in the package:

    from benchmark.cli import subcommand

    def _arguments(parser):                      # optional
        parser.add_argument("results_dir")

    @subcommand("report", help="write an HTML report of a sweep", arguments=_arguments)
    def report(args) -> int:
        ...
        return 0

Modules listed in `SUBCOMMAND_MODULES` are imported (when they exist) before the command
line is parsed, so that their `@subcommand` lines run; keep heavy imports inside the
function so `mgbench --help` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from pathlib import Path
from dataclasses import dataclass
from typing import Callable, NoReturn, Sequence

PROG = "mgbench"
DEFAULT_SWEEP = "default"
SUBCOMMAND_MODULES = ("benchmark.report", "benchmark.compare", "benchmark.figures", "benchmark.bench")
# Subcommands whose module does not register itself: name -> (module, help, arguments, run) attributes.
WIRED_SUBCOMMANDS = {
    "bench": ("benchmark.bench_command", "HELP", "add_bench_arguments", "run_bench_command"),
}


@dataclass(frozen=True)
class Subcommand:
    """A registered `mgbench <name>`: `arguments(parser)` adds its options, `run(args)` returns
    the exit code."""

    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    arguments: Callable[[argparse.ArgumentParser], None] | None = None


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, *, help: str, arguments: Callable[[argparse.ArgumentParser], None] | None = None):
    """Decorator registering `run(args) -> int` as `mgbench <name>`."""

    def decorate(run: Callable[[argparse.Namespace], int]):
        SUBCOMMANDS[name] = Subcommand(name, help, run, arguments)
        return run

    return decorate


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (`mgbench: error: ...`, exit code 2)."""

    def error(self, message: str) -> NoReturn:
        _print_error(message)
        raise SystemExit(2)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `mgbench`; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return SUBCOMMANDS[args.command].run(args)
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
    """The parser with every registered subcommand."""
    _import_subcommand_modules()
    parser = _Parser(prog=PROG, description="Bias and variance of meta-gradient estimators against exact targets.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in SUBCOMMANDS.values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        if command.arguments is not None:
            command.arguments(sub)
    return parser


def _import_subcommand_modules() -> None:
    for module in SUBCOMMAND_MODULES:
        _optional_module(module)
    for name, (module_name, help_name, arguments_name, run_name) in WIRED_SUBCOMMANDS.items():
        module = _optional_module(module_name)
        if module is not None and name not in SUBCOMMANDS:
            subcommand(name, help=getattr(module, help_name),
                       arguments=getattr(module, arguments_name))(getattr(module, run_name))


def _optional_module(name: str):
    """The module, or None when it does not exist (yet); other import errors propagate."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def _print_error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)


# ----------------------------------------------------------------------------- sweep

def positive_int(text: str) -> int:
    """argparse type: a positive integer, or a clear error."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _sweep_arguments(parser: argparse.ArgumentParser) -> None:
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
    parser.add_argument("--reports", default="reports", metavar="DIR",
                        help="after the sweep, write its report to DIR/<name>/ (default: reports)")
    parser.add_argument("--no-report", action="store_true", help="do not write the report")


@subcommand("sweep", help="run a sweep (resumable) and write <out>/<name>/results.{sqlite,csv}",
            arguments=_sweep_arguments)
def sweep_command(args: argparse.Namespace) -> int:
    """Load, optionally shrink, and run a sweep; print where the results went."""
    from benchmark.runner import run_sweep
    from benchmark.schema import load_sweeps
    from estimators import load_estimator

    for reference in args.plugin:
        load_estimator(reference)
    sweeps = load_sweeps(args.sweep)  # a suite runs its sweeps one after another
    for sweep in sweeps:
        sweep = sweep.quick() if args.quick else sweep
        summary = run_sweep(sweep, args.out, jobs=args.jobs, backend=args.backend, scheduler=args.scheduler,
                            quiet=args.quiet, overwrite=args.overwrite, retry_failed=args.retry_failed,
                            plugins=tuple(args.plugin))
        _report(summary)
        if summary.interrupted:
            return 130
        if not args.no_report:
            from benchmark.report import write_report

            print(f"report: {write_report(summary.directory, Path(args.reports) / sweep.name)}")
    return 0


def _report(summary) -> None:
    print(f"{summary.name}: {summary.total} cells ({summary.computed} computed, {summary.skipped} already stored, "
          f"{summary.failed} failed) in {summary.seconds:.1f} s")
    print(f"results: {summary.csv_path}")
    if summary.failed:
        print(f"{PROG}: warning: {summary.failed} cells failed; first: {summary.first_error}", file=sys.stderr)
    if summary.interrupted:
        print(f"{PROG}: interrupted: {summary.computed + summary.skipped} of {summary.total} cells stored in "
              f"{summary.directory}; run the same command again to resume", file=sys.stderr)


# ----------------------------------------------------------------------------- list

def _list_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:NAME]",
                        help="import an estimator module (or .py file) first, to list its estimators too")


@subcommand("list", help="list registered estimators (with parameters) and preset sweeps",
            arguments=_list_arguments)
def list_command(args: argparse.Namespace) -> int:
    """Print every registered estimator by problem kind, then every preset sweep."""
    from estimators import load_estimator

    for reference in args.plugin:
        load_estimator(reference)
    print(format_listing())
    return 0


def format_listing() -> str:
    """The text of `mgbench list`."""
    from benchmark.schema import available_presets, preset_description
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
        lines.append("")
    presets = available_presets()
    width = max((len(name) for name in presets), default=0)
    lines.append("Preset sweeps (mgbench sweep NAME [--quick]):")
    lines += [f"  {name:<{width}}  {preset_description(name)}" for name in presets]
    return "\n".join(lines)
