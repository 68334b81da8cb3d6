"""Multisets of batches: what exact enumeration over every path of sampled batches counts with
(a batch of |τ| draws from n kinds is a multiset; its probability carries the multinomial coefficient)."""
from __future__ import annotations

from itertools import combinations_with_replacement
from math import lgamma, log

import numpy as np


def enumerate_batches(n_types: int, batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Every multiset of `batch` trajectories drawn from `n_types` kinds.

    Returns:
      counts `(B, n_types)` and the log multinomial coefficients log(n! / Π c_j!) `(B,)`.
    """
    combos = np.array(list(combinations_with_replacement(range(n_types), batch)))
    counts = np.zeros((len(combos), n_types), dtype=int)
    np.add.at(counts, (np.arange(len(combos))[:, None], combos), 1)
    log_coefficient = lgamma(batch + 1) - np.array([sum(lgamma(c + 1) for c in row) for row in counts])
    return counts, log_coefficient


def log_multiset_count(n_types: int, batch: int) -> float:
    """log C(n + |τ| − 1, |τ|) = Σ_{i<|τ|} log(n + i) − log |τ|!, exact for any Python int n
    (`math.log` takes integers beyond 2^64 and beyond the float range)."""
    return sum(log(n_types + i) for i in range(batch)) - lgamma(batch + 1)
