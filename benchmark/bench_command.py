"""`mgbench bench [--quick] [--json FILE]`: run the reference cells of `benchmark.bench`, print the tables.

Wiring (in `benchmark/cli.py`), either with plain argparse:

    from benchmark.bench_command import add_bench_command
    add_bench_command(subparsers)            # adds `bench`, sets args.run = run_bench_command

or with the subcommand registry:

    subcommand("bench", help=HELP, arguments=add_bench_arguments)(run_bench_command)

Exit code 0 when every cell was measured, 1 when some could not be (listed in the report).
Targets missed are reported, never an error: speed is measured, not asserted.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

HELP = "measure throughput, memory and scaling of the estimators on fixed reference cells"


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `mgbench bench`."""
    parser.add_argument("--quick", action="store_true",
                        help="short timing windows and one scaling study (under 2 minutes)")
    parser.add_argument("--json", metavar="FILE", default=None,
                        help="also write every measurement and the machine description as JSON to FILE")


def add_bench_command(subparsers) -> argparse.ArgumentParser:
    """Add `bench` to an argparse subparsers action; `args.run` is set to `run_bench_command`."""
    parser = subparsers.add_parser("bench", help=HELP, description=HELP)
    add_bench_arguments(parser)
    parser.set_defaults(run=run_bench_command)
    return parser


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the bench (progress on stderr), print the report on stdout; 0 if every cell was measured."""
    from benchmark.bench import format_report, machine_info, run_bench

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


def main(argv: list[str] | None = None) -> int:
    """`python -m benchmark.bench_command [--quick]`, usable before the command is wired into the CLI."""
    parser = argparse.ArgumentParser(prog="mgbench bench", description=HELP)
    add_bench_arguments(parser)
    return run_bench_command(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
