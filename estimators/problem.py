"""The problem protocol: what every problem an estimator is given has in common, the one-line
check of a positive integer field, and the kernel choice (how sampled parts are computed, not
what: `compiled` runs a family's numba kernels, each family's `kernels.py`, imported on the
first compiled call and cached on disk; `numpy` the vectorized reference; both give the same
numbers on the same random stream). Each family's problem lives in its subpackage:
`estimators.tabular.problem.MetaProblem`, `estimators.ipd.problem.LolaProblem`,
`estimators.bandit.problem.BanditLifetimeProblem`, `estimators.gaussian_toy.problem.ToyProblem`."""
from __future__ import annotations

import importlib.util
from typing import Literal, Protocol

import numpy as np


class Problem(Protocol):
    """An estimator's problem: `shape` is the shape of the meta-parameter and of one estimate
    (an estimator returns `(R, *shape)` for R repetitions)."""

    @property
    def shape(self) -> tuple[int, ...]: ...


def positive_int(field: str, value) -> int:
    """`value` as an int when it is a positive integer (not a bool); else a one-line `ValueError` naming `field`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{field}: expected a positive integer, got {value!r}")
    return int(value)


Kernel = Literal["compiled", "numpy"]

AVAILABLE = importlib.util.find_spec("numba") is not None   # numba itself is imported on first use (~1.5 s)

KERNELS: tuple[str, ...] = ("compiled", "numpy")   # the values of a problem's `kernel`


def check_kernel(kernel: str) -> str:
    """`kernel` if it is one of `KERNELS`, else a ValueError naming the field."""
    if kernel not in KERNELS:
        raise ValueError(f"kernel: expected one of {KERNELS}, got {kernel!r}")
    return kernel


def use_compiled(kernel: str) -> bool:
    """True when `kernel` is `compiled` and numba is installed (else the numpy path runs)."""
    return check_kernel(kernel) == "compiled" and AVAILABLE
