"""Sweeps, statistics, bounds, reports and the `mgbench` command: composes `mdps` and `estimators`.

The main entry points are re-exported lazily (so `mgbench --help` does not import pandas):
`load_sweep`, `Sweep`, `SweepError`, `run_sweep`, `RunSummary`, `load_results`.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_sweep": "benchmark.schema",
    "parse_sweep": "benchmark.schema",
    "Sweep": "benchmark.schema",
    "Cell": "benchmark.schema",
    "SweepError": "benchmark.schema",
    "evaluate_cell": "benchmark.cells",
    "run_sweep": "benchmark.runner",
    "RunSummary": "benchmark.runner",
    "load_results": "benchmark.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
