"""Statistical assertions shared by the estimator tests (tolerances from the covariance).

`assert_unbiased` accepts when the Mahalanobis distance of the mean is below the χ²
quantile at 1 - 1e-4 (a true null fails once in 10⁴); `assert_biased` demands it exceed the
quantile at 1 - 1e-6.
"""
from __future__ import annotations

import numpy as np
from scipy.stats import chi2

UNBIASED, BIASED = 1e-4, 1e-6


def mahalanobis(samples, truth):
    """(m - g)ᵀ (C/R)⁺ (m - g) on the range of the sample covariance C; its rank; and the
    norm of m - g outside that range (directions of zero variance, which must agree exactly)."""
    samples = samples.reshape(samples.shape[0], -1)
    difference = samples.mean(axis=0) - np.ravel(truth)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(samples, rowvar=False) / samples.shape[0])
    keep = eigenvalues > 1e-10 * eigenvalues.max()
    coordinates = eigenvectors[:, keep].T @ difference
    outside = difference - eigenvectors[:, keep] @ coordinates
    return float(np.sum(coordinates**2 / eigenvalues[keep])), int(keep.sum()), float(np.linalg.norm(outside))


def assert_unbiased(samples, truth):
    statistic, rank, outside = mahalanobis(samples, truth)
    assert statistic < chi2.ppf(1 - UNBIASED, rank), f"Mahalanobis {statistic:.1f} on {rank} dof"
    assert outside < 1e-10


def assert_biased(samples, truth):
    statistic, rank, _ = mahalanobis(samples, truth)
    assert statistic > chi2.ppf(1 - BIASED, rank), f"Mahalanobis {statistic:.1f} on {rank} dof"


def bias_norm(samples, truth):
    """‖m - g‖ and its delta-method standard error sqrt(dᵀ (C/R) d) / ‖d‖."""
    samples = samples.reshape(samples.shape[0], -1)
    difference = samples.mean(axis=0) - np.ravel(truth)
    norm = np.linalg.norm(difference)
    covariance = np.cov(samples, rowvar=False) / samples.shape[0]
    return float(norm), float(np.sqrt(difference @ covariance @ difference) / norm)
