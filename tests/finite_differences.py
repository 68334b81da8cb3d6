"""Central finite differences for checking closed forms (test helper)."""
from __future__ import annotations

from typing import Callable

import numpy as np


def central_difference(function: Callable[[np.ndarray], np.ndarray | float], point: np.ndarray,
                       step: float = 1e-5) -> np.ndarray:
    """Jacobian of `function` at `point` by central differences, shape `(*out, *point.shape)`."""
    point = np.asarray(point, dtype=float)
    columns = []
    for index in np.ndindex(point.shape):
        offset = np.zeros_like(point)
        offset[index] = step
        columns.append((np.asarray(function(point + offset)) - np.asarray(function(point - offset))) / (2 * step))
    jacobian = np.stack(columns, axis=-1)
    return jacobian.reshape(*np.shape(columns[0]), *point.shape)


def relative_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """‖estimate - reference‖ / ‖reference‖ (Frobenius)."""
    return float(np.linalg.norm(np.asarray(estimate) - reference) / np.linalg.norm(reference))
