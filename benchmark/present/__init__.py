"""Drawing only: figures from tidy, already-computed data (`plotting`). Computes no statistics
and imports no other part of `benchmark`."""
