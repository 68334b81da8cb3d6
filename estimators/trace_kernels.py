"""Forward and reverse traces as numba kernels (`@njit(cache=True)`), shared by the tabular and the
IPD kernels; the numpy versions are `estimators.scores.forward_trace` / `reverse_trace`.
Imported only when a compiled path runs (numba takes ~1.5 s to import)."""
from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def trace_forward(values, decay, out):
    """out_t = x_t + λ out_{t-1}, as `scores.forward_trace`: cumsum (λ = 1), identity (λ = 0), the recursion otherwise."""
    length = values.shape[0]
    if decay == 0.0:
        for t in range(length):
            out[t] = values[t]
        return
    out[0] = values[0]
    if decay == 1.0:
        for t in range(1, length):
            out[t] = out[t - 1] + values[t]
    else:
        for t in range(1, length):
            out[t] = decay * out[t - 1] + values[t]


@njit(cache=True, nogil=True)
def trace_reverse(values, decay, out):
    """out_k = x_k + λ out_{k+1}, as `scores.reverse_trace`."""
    length = values.shape[0]
    if decay == 0.0:
        for t in range(length):
            out[t] = values[t]
        return
    out[length - 1] = values[length - 1]
    if decay == 1.0:
        for t in range(length - 2, -1, -1):
            out[t] = out[t + 1] + values[t]
    else:
        for t in range(length - 2, -1, -1):
            out[t] = decay * out[t + 1] + values[t]
