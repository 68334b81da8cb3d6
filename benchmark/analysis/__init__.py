"""Statistics of the estimates: per-cell statistics with bootstrap intervals (`statistics`),
the theoretical bounds with slope fits and verdicts (`bounds`), and aggregation over problem
instances (`aggregation`). Imports no other part of `benchmark`."""
