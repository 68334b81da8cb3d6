"""Shared fixtures of the sweep tests: small sweep files and cheap estimators with known answers.

The estimators below are registered on import of this module; sweeps that run them in
worker processes pass `plugins=(PLUGIN,)` so that the workers import it too.
"""
from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from estimators import MetaProblem, ToyProblem, register

PLUGIN = "tests.conftest"


@register("test_noisy_toy", problem="gaussian_toy", replace=True,
          description="test: exact gradient + offset + scale·N(0, 1), or NaN when bad")
def noisy_toy(problem: ToyProblem, repetitions: int, rng: np.random.Generator, *,
              scale: float = 1.0, offset: float = 0.0, bad: bool = False) -> np.ndarray:
    """Known bias `offset` and variance `scale²`; `bad` makes every estimate NaN."""
    estimates = problem.exact_gradient() + offset + scale * rng.standard_normal((repetitions, 1))
    return np.full_like(estimates, np.nan) if bad else estimates


@register("test_noisy_split", problem="tabular", replace=True,
          description="test: exact meta-gradient + bias (1 - lambda_) + N(0, 1/batch) per coordinate")
def noisy_split(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *,
                batch: int = 8, split: str = "lll", lambda_: float = 1.0) -> np.ndarray:
    """A cheap tabular estimator taking the split estimators' parameters."""
    exact = problem.exact_meta_gradient()
    noise = rng.standard_normal((repetitions, *exact.shape)) / np.sqrt(batch)
    return exact + (1.0 - lambda_) + (split.count("l") / 3) * noise


@register("test_plain", problem="tabular", replace=True,
          description="test: exact meta-gradient + N(0, 1/batch), no split")
def plain(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 8) -> np.ndarray:
    """A tabular estimator without `split` or `lambda_`."""
    exact = problem.exact_meta_gradient()
    return exact + rng.standard_normal((repetitions, *exact.shape)) / np.sqrt(batch)


TOY_SWEEP = """
name = "{name}"
seed = {seed}
repetitions = {repetitions}

[problem]
kind = "gaussian_toy"
theta = 0.5

[grid]
estimator = {estimators}
N = {N}
"""

TABULAR_SWEEP = """
name = "{name}"
seed = 3
repetitions = 200

[problem]
kind = "tabular"
n_states = 3
n_actions = 2
gamma = 0.7
rollout_length = 4
n_mdps = 2

[grid]
estimator = ["test_noisy_split", "test_plain"]
split = ["lll", "lee"]
steps = [1, 2]
lr = 0.5
batch = [4, 16]
"""


def toy_sweep_text(name: str = "toy", *, seed: int = 0, repetitions: int = 500,
                   estimators: tuple[str, ...] = ("sf", "lsf", "pw"), N: tuple[int, ...] = (1, 4, 16)) -> str:
    """A small Gaussian-toy sweep file."""
    return TOY_SWEEP.format(name=name, seed=seed, repetitions=repetitions,
                            estimators=_toml_list(estimators), N=_toml_list(N))


def tabular_sweep_text(name: str = "tab") -> str:
    """A small tabular sweep with the test estimators (2 MDPs, 3 x 2 states-actions)."""
    return TABULAR_SWEEP.format(name=name)


def _toml_list(values) -> str:
    return "[" + ", ".join(f'"{v}"' if isinstance(v, str) else repr(v) for v in values) + "]"


@pytest.fixture
def write_sweep(tmp_path: Path):
    """`write_sweep(text, file_name="sweep.toml") -> Path` writes a sweep file under tmp_path."""

    def write(text: str, file_name: str = "sweep.toml") -> Path:
        path = tmp_path / file_name
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write
