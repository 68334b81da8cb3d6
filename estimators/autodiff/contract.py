"""The surrogate contract: what a surrogate receives (`SurrogateBatch`), which frameworks
exist and how they are loaded, and the check of a surrogate before any cell runs.

A tabular surrogate is a function `batch -> scalar` written in JAX or PyTorch: the surrogate loss
L(θ; batch) of ONE sampled batch of N trajectories of T steps, whose gradient at the
sampling point is the policy-gradient estimate ĝ and whose Hessian is the Hessian estimate
Ĥ (the convention of `estimators.tabular.surrogates`). mgbench samples the batches, runs
the K inner steps, applies Liu et al.'s split and differentiates back to the meta-parameter.
(The IPD's two-player batch is `estimators.ipd.autodiff.GameSurrogateBatch`.)
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

FRAMEWORKS: tuple[str, ...] = ("jax", "torch")
EXTRAS = {"jax": "pip install 'mgbench[jax]'  (jax, jaxlib: CPU build)",
          "torch": "pip install 'mgbench[torch]'  (torch==2.13.0, CPU build)"}


@dataclass(frozen=True, eq=False)
class SurrogateBatch:
    """One sampled batch of N trajectories of T steps, as arrays of the surrogate's framework
    (float64; integer indices as int64), at one repetition's sampling policy π_θ.

    Attributes:
      logp: `(N, T)` log π_θ(a_t|s_t), differentiable in θ (the softmax logits `(S, A)`).
      rewards: `(N, T)` r_t of the rewards the batch was drawn with (r + η in the inner loop
        of the `intrinsic` meta-parameter, differentiable in η there; constants otherwise).
      advantages: `(N, T)` A_t as the built-in families read them: GAE(λ) with the problem's
        critic (λ = `gae_lambda`, an estimator parameter; λ = 1: R_t − V̂_t(s_t), the return
        bootstrapped with V̂_T(s_T) when the rollout is truncated); zero critic for `none`.
        Constant in θ; in η through the rewards, and through the critic of r + η when
        `detach_critic=False`.
      values: `(N, T + 1)` the critic's V̂_t(s_t), t < T, and V̂_T(s_T) in the last column
        (0 when the episode ends at T or the critic is `none`). Constant in θ.
      returns: `(N, T)` R_t = Σ_{j≥t} γ^{j−t} r_j + γ^{T−t} V̂_T(s_T).
      discount: γ (a Python float).
      states: `(N, T)` int s_t.
      actions: `(N, T)` int a_t.
      final_states: `(N,)` int s_T.
      policy: `(S, A)` π_θ(a|s) = exp of the log-policy table, differentiable in θ.
    """

    logp: Any
    rewards: Any
    advantages: Any
    values: Any
    returns: Any
    discount: float
    states: Any
    actions: Any
    final_states: Any
    policy: Any


@dataclass(frozen=True)
class SurrogateDriver:
    """How mgbench runs a surrogate for one problem family (each family's `autodiff.py` defines one,
    `DRIVER`; `register_surrogate` looks it up by the problem kind).

    Attributes:
      parameters: `{name: default}` of the estimator parameters mgbench adds (batch, split, ...).
      check: `(surrogate, framework, options, name) -> None`, a one-line `ValueError` when the
        surrogate returns what the contract does not allow (checked before any cell runs).
      run: `(problem, repetitions, rng, surrogate, framework, *, options, **parameters) -> estimates`.
      check_parameters: `(parameters) -> None`, a one-line `ValueError` naming a bad parameter.
      inner_gradient: `(surrogate, framework, options) -> function(problem, repetitions, rng)` of
        one-trajectory inner gradients for σ_in, or None where the compositional bound does not apply.
    """

    parameters: Mapping[str, Any]
    check: Callable[..., None]
    run: Callable[..., Any]
    check_parameters: Callable[[Mapping[str, Any]], None]
    inner_gradient: Callable[..., Callable[..., Any]] | None = None


def check_framework(framework: str) -> str:
    """`framework` if it is one of `FRAMEWORKS` and installed, else a one-line ValueError
    naming the extra to install."""
    if framework not in FRAMEWORKS:
        raise ValueError(f"framework: expected one of {FRAMEWORKS}, got {framework!r}")
    if importlib.util.find_spec(framework) is None:
        raise ValueError(f"framework: {framework} is not installed; {EXTRAS[framework]}")
    return framework


def load_backend(framework: str):
    """The backend module of `framework` (imports the framework on first use)."""
    check_framework(framework)
    if framework == "jax":
        from estimators.autodiff import jax_backend
        return jax_backend
    from estimators.autodiff import torch_backend
    return torch_backend


def describe(value: Any) -> str:
    """`type (shape)` of a surrogate's return value, for the one-line errors."""
    package = type(value).__module__.split(".")[0]
    kind = {"jax": "jax.Array", "jaxlib": "jax.Array", "torch": "torch.Tensor"}.get(package,
                                                                                   f"{package}.{type(value).__name__}")
    shape = getattr(value, "shape", None)
    return f"{kind} of shape {tuple(shape)}" if shape is not None else kind


def check_objective(xp, objective: Callable[..., Any], name: str, framework: str, one: tuple, batched: tuple,
                    what: str) -> None:
    """The contract on a test batch, before any cell runs: `objective(*one)` (inside the backend's
    call scope) is a 0-d float of the framework, `xp.gradient_function(objective)(*batched)` exists
    and is finite; otherwise one `ValueError("surrogate: <name> ...")` line naming what is wrong.

    Args:
      xp: the framework backend (`load_backend`).
      objective: the surrogate wrapped as the driver differentiates it.
      one, batched: its arguments for one row and for a batch of rows.
      what: the test batch in words ("a test batch", "a test batch of games").
    """
    try:
        with xp.call_scope():
            value = objective(*one)
    except Exception as error:  # noqa: BLE001 - a researcher's function may fail with anything
        raise ValueError(f"surrogate: {name} failed on {what} ({type(error).__name__}: {_first_line(error)})") from None
    if not xp.is_scalar(value):
        raise ValueError(f"surrogate: {name} returned {describe(value)}; expected a scalar, a 0-d float "
                         f"{xp.ARRAY_NAME} (framework {framework!r})")
    try:
        gradients = xp.gradient_function(objective)(*batched)
    except Exception as error:  # noqa: BLE001
        raise ValueError(f"surrogate: {name} cannot be differentiated by {framework} ({type(error).__name__}: "
                         f"{_first_line(error)})") from None
    if not np.all(np.isfinite(gradients)):
        raise ValueError(f"surrogate: {name} has a non-finite gradient on {what}")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else "no message"
