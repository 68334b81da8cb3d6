"""`mgbench figures STUDY [--quick] [--jobs N] [--out results] [--reports reports] [--overwrite]`.

`benchmark.cli` imports `benchmark.figures` (in its `SUBCOMMAND_MODULES`), whose import
registers this subcommand through `benchmark.cli.subcommand`; `add_figures_command` adds the
same parser to any other argparse subparsers object. Keep this module light: the heavy
imports happen in `run_figures_command`.
"""
from __future__ import annotations

import argparse
import sys

from benchmark.cli import positive_int

STUDY_CHOICES = ("liu2022", "tang2022", "vuorio2022", "beyond", "all")
HELP = "run the sweeps of a published study (resuming) and draw its figures and HTML page"


def figures_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench figures`."""
    parser.add_argument("study", choices=STUDY_CHOICES, metavar="STUDY",
                        help=f"one of {', '.join(STUDY_CHOICES)} (beyond: the estimators against both targets)")
    parser.add_argument("--quick", action="store_true",
                        help="the quick version of every sweep (results under <out>/<name>-quick/), minutes in total")
    parser.add_argument("--jobs", type=positive_int, default=None, metavar="N",
                        help="parallel workers for the sweeps (default: all cores)")
    parser.add_argument("--out", default="results", metavar="DIR", help="sweep results directory (default: results)")
    parser.add_argument("--reports", default="reports", metavar="DIR",
                        help="figures go to DIR/figures/<study>/, pages to DIR/<study>.html (default: reports)")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard stored results of sweeps whose preset has changed")
    parser.add_argument("--quiet", action="store_true", help="print only the written files")


def add_figures_command(subparsers) -> argparse.ArgumentParser:
    """Add `figures` to an argparse subparsers object; the handler is `run_figures_command`."""
    parser = subparsers.add_parser("figures", help=HELP, description=HELP)
    figures_arguments(parser)
    parser.set_defaults(handler=run_figures_command)
    return parser


def run_figures_command(args: argparse.Namespace) -> int:
    """Make the figures; print the written files. Exit code 0, or 1 when a figure was not drawn."""
    from benchmark.figures import FiguresError, make_figures

    progress = None if args.quiet else (lambda message: print(message, file=sys.stderr, flush=True))
    try:
        paths = make_figures(args.study, quick=args.quick, jobs=args.jobs, results_dir=args.out,
                             reports_dir=args.reports, overwrite=args.overwrite, progress=progress)
    except FiguresError as error:
        print(f"mgbench: error: {error}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


def _register() -> None:
    try:
        from benchmark.cli import SUBCOMMANDS, subcommand
    except ImportError:  # pragma: no cover - the CLI module is not there
        return
    if "figures" not in SUBCOMMANDS:
        subcommand("figures", help=HELP, arguments=figures_arguments)(run_figures_command)


_register()
