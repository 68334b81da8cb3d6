"""`register_surrogate`: a surrogate written in JAX or PyTorch becomes an ordinary estimator.

```python
import jax, jax.numpy as jnp
from estimators import register_surrogate

@register_surrogate("my_dice", framework="jax", problem="tabular",
                    description="DiCE written as a surrogate", bounds=("compositional",))
def my_dice(batch):
    cum = jnp.cumsum(batch.logp, axis=-1)                       # (N, T)
    magic = jnp.exp(cum - jax.lax.stop_gradient(cum))
    discounts = batch.discount ** jnp.arange(batch.logp.shape[-1])
    return jnp.mean(jnp.sum(discounts * batch.rewards * magic, axis=-1))
```

The decorator registers an `EstimatorSpec` (`estimators.registry.register`, framework
recorded) whose function `(problem, repetitions, rng, *, batch, split, n_inner, n_hessian,
n_outer, shared, gae_lambda, detach_critic, <the surrogate's keyword-only parameters>)`
returns `(R, S, A)` estimates (`estimators.tabular.autodiff.surrogate_meta_gradient`), so
sweeps, `mgbench compare`, `mgbench list` and the store use it as any estimator. Its
`inner_gradient` is the surrogate's own one-trajectory gradient at θ_0 (σ_in), and its
`validate` runs the surrogate once on a small batch before any cell runs
(`estimators.tabular.autodiff.check_surrogate`). The decorator returns the surrogate unchanged.
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable, Mapping

from estimators.autodiff.contract import check_framework
from estimators.ipd import autodiff as ipd_autodiff
from estimators.registry import register
from estimators.tabular import autodiff as tabular_autodiff

# how a surrogate runs, per problem family (each family's `autodiff.py`)
DRIVERS = {"tabular": tabular_autodiff.DRIVER, "ipd": ipd_autodiff.DRIVER}


def register_surrogate(name: str, *, framework: str, problem: str = "tabular", description: str = "",
                       bounds: tuple[str, ...] | list[str] = (), replace: bool = False):
    """Decorator registering a surrogate `batch -> scalar` (JAX or PyTorch) as estimator `name`.

    Args:
      name: the estimator's name.
      framework: `jax` or `torch` (a one-line error names the extra to install when missing).
      problem: `tabular` (a batch of trajectories, `SurrogateBatch`) or `ipd` (a batch of
        games seen by both players, `estimators.ipd.autodiff.GameSurrogateBatch`: mgbench builds
        LOLA's look-ahead and split from it, as `lola_dice` in closed form).
      description: one line for `mgbench list`.
      bounds: the bounds it claims (as `register`).
      replace: replace an estimator of the same name.
    The surrogate's keyword-only parameters with defaults become estimator parameters too
    (e.g. λ of Loaded DiCE), passed to every call.
    """
    check_framework(framework)
    driver = DRIVERS.get(problem)
    if driver is None:
        raise ValueError(f"problem: surrogate estimators serve {tuple(DRIVERS)}, got {problem!r}")
    fixed, check, run = driver.parameters, driver.check, driver.run

    def decorate(surrogate: Callable[..., Any]) -> Callable[..., Any]:
        options = _keyword_defaults(surrogate)
        clash = sorted(set(options) & set(fixed))
        if clash:
            raise ValueError(f"surrogate: {name}'s parameter {clash[0]!r} is one mgbench sets ({', '.join(fixed)})")

        def own(parameters: Mapping[str, Any]) -> tuple[tuple[str, Any], ...]:
            return tuple(sorted((key, parameters[key]) for key in options))

        @functools.wraps(surrogate)
        def estimator(problem, repetitions, rng, **parameters):
            settings = {key: parameters[key] for key in fixed}
            check(surrogate, framework, own(parameters), name)
            return run(problem, repetitions, rng, surrogate, framework, options=own(parameters), **settings)

        def validate(parameters: Mapping[str, Any], setting: Mapping[str, Any]) -> None:
            driver.check_parameters(parameters)
            check(surrogate, framework, own(parameters), name)

        inner_gradient = (None if driver.inner_gradient is None           # σ_in: where the bound applies
                          else driver.inner_gradient(surrogate, framework, own(options)))
        register(name, problem=problem, description=description or f"{framework} surrogate {surrogate.__name__}",
                 parameters={**fixed, **options}, replace=replace, validate=validate,
                 bounds=bounds, inner_gradient=inner_gradient, framework=framework)(estimator)
        return surrogate

    return decorate


def _keyword_defaults(function: Callable[..., Any]) -> dict[str, Any]:
    return {key: parameter.default for key, parameter in inspect.signature(function).parameters.items()
            if parameter.kind is inspect.Parameter.KEYWORD_ONLY and parameter.default is not inspect.Parameter.empty}
