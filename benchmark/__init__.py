"""Sweeps, statistics, bounds, reports and the `mgbench` command: composes `mdps` and `estimators`.

The main entry points are re-exported lazily (so `mgbench --help` does not import pandas):
`load_sweep`, `Sweep`, `SweepError`, `run_sweep`, `RunSummary`, `load_results`.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "load_sweep": "benchmark.sweeps.loading",
    "parse_sweep": "benchmark.sweeps.loading",
    "Sweep": "benchmark.sweeps.records",
    "Cell": "benchmark.sweeps.records",
    "SweepError": "benchmark.sweeps.vocabulary",
    "evaluate_cell": "benchmark.sweeps.cells",
    "run_sweep": "benchmark.sweeps.runner",
    "RunSummary": "benchmark.sweeps.runner",
    "load_results": "benchmark.sweeps.store",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'benchmark' has no attribute {name!r}")
