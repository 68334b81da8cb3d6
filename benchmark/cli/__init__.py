"""`mgbench` (also `python -m benchmark`): the table of subcommands and the entry point.

    mgbench sweep [FILE_OR_PRESET] [--out DIR] [--jobs N] [--quick] [--quiet] [--overwrite]
                  [--retry-failed] [--backend joblib|dask] [--scheduler ADDRESS]
                  [--plugin MODULE[:NAME]] [--reports DIR] [--no-report]
    mgbench report RESULTS_DIR [--out DIR]
    mgbench compare MODULE:NAME [--against dice,lvc,loaded,maml] [--quick]
    mgbench figures STUDY [--quick] [--jobs N]
    mgbench bench [--quick] [--json FILE]
    mgbench list

Bad input of any kind ends with one line `mgbench: error: <field>: <what was expected>` on
stderr and exit code 2.

Every subcommand is one row of `SUBCOMMANDS` below: its help line, the function adding its
options and its handler, all in `benchmark.cli.commands`. A handler imports the modules it
runs inside its body, so `mgbench list` or `mgbench --help` imports neither pandas nor
matplotlib. Adding a subcommand is one row here and two functions in `commands.py`.
Nothing in the package imports `benchmark.cli`; it sits on top of everything.
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from typing import Callable, NoReturn, Sequence

from benchmark.cli import commands


@dataclass(frozen=True)
class Subcommand:
    """`mgbench <name>`: `arguments(parser)` adds its options, `run(args)` returns the exit code."""

    name: str
    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


SUBCOMMANDS: dict[str, Subcommand] = {command.name: command for command in (
    Subcommand("sweep", "run a sweep (resumable) and write <out>/<name>/results.{sqlite,csv}",
               commands.sweep_arguments, commands.sweep_command),
    Subcommand("report", "write an HTML report of a sweep: bound verdicts, figures, results",
               commands.report_arguments, commands.report_command),
    Subcommand("compare", "run the bound-checking suite for a new estimator beside the baselines",
               commands.compare_arguments, commands.compare_command),
    Subcommand("figures", "run the sweeps of a published study (resuming) and draw its figures and HTML page",
               commands.figures_arguments, commands.figures_command),
    Subcommand("bench", "measure throughput, memory and scaling of the estimators on fixed reference cells",
               commands.bench_arguments, commands.bench_command),
    Subcommand("list", "list registered estimators (with parameters) and preset sweeps",
               commands.list_arguments, commands.list_command),
)}

PROG = "mgbench"


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
    """The parser with every subcommand of `SUBCOMMANDS`."""
    parser = _Parser(prog=PROG, description="Bias and variance of meta-gradient estimators against exact targets.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in SUBCOMMANDS.values():
        command.arguments(subparsers.add_parser(command.name, help=command.help, description=command.help))
    return parser


def _print_error(message: str) -> None:
    print(f"{PROG}: error: {' '.join(str(message).split())}", file=sys.stderr)
