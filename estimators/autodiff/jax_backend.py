"""The JAX backend of the autodiff estimators: arrays, and the derivatives vectorized over
repetitions (`jax.vmap` under `jax.jit`).

Importing this module imports jax and turns on float64 (`jax_enable_x64`, a process-wide
switch of jax: mgbench's numbers are float64 throughout). A surrogate's derivatives:
`gradient_function` ∇_θ L per repetition; `product_function` one vector-Jacobian product of
θ, η ↦ ∇_θ L(θ, η) with the vector v, which is (Ĥv, ∂_η(ĝ·v)) at once (reverse over reverse;
never a Hessian matrix). Compiled functions are cached by the objective they differentiate,
so a cell's blocks and the cells of a sweep with the same shapes compile once.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)

NAME = "jax"
ARRAY_NAME = "jax.Array"   # in the one-line errors


def asarray(values: np.ndarray) -> Any:
    """A jax array of the numpy array (float64 / int64 kept)."""
    return jnp.asarray(values)


def to_numpy(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=float)


def call_scope():
    """The context a surrogate runs in (nothing for jax: float64 is on for the process)."""
    return contextlib.nullcontext()


def is_scalar(value: Any) -> bool:
    """True for a 0-d float jax array (a tracer inside a transformation)."""
    return isinstance(value, jax.Array) and value.shape == () and jnp.issubdtype(value.dtype, jnp.floating)


# the array operations the framework-generic objectives use
stop = jax.lax.stop_gradient
einsum = jnp.einsum
stack = jnp.stack
exp = jnp.exp


def log_softmax(logits: Any) -> Any:
    return jax.nn.log_softmax(logits, axis=-1)


def log_sigmoid(logits: Any) -> Any:
    return jax.nn.log_sigmoid(logits)


def solve(matrix: Any, right: Any) -> Any:
    return jnp.linalg.solve(matrix, right)


def eye(size: int) -> Any:
    return jnp.eye(size)


def zeros(shape: tuple[int, ...]) -> Any:
    return jnp.zeros(shape)


# the derivatives; an objective is (theta (S, A), eta (S, A), data {name: array}, model {name: array}) -> scalar
Objective = Callable[[Any, Any, dict, dict], Any]


@functools.lru_cache(maxsize=64)
def gradient_function(objective: Objective) -> Callable[..., np.ndarray]:
    """(thetas (R, S, A), etas (R, S, A), data {(R, ...)}, model) -> ∇_θ objective `(R, S, A)` (numpy)."""
    compiled = jax.jit(jax.vmap(jax.grad(objective), in_axes=(0, 0, 0, None)))

    def run(thetas, etas, data, model):
        return to_numpy(compiled(asarray(thetas), asarray(etas), data, model))

    return run


@functools.lru_cache(maxsize=64)
def product_function(objective: Objective) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """(thetas, etas, data, model, vectors (R, S, A)) -> (Ĥv, ∂_η(∇_θ objective · v)) `(R, S, A)` each (numpy)."""
    gradient = jax.grad(objective)

    def products(theta, eta, data, model, vector):
        _, pullback = jax.vjp(lambda th, et: gradient(th, et, data, model), theta, eta)
        return pullback(vector)

    compiled = jax.jit(jax.vmap(products, in_axes=(0, 0, 0, None, 0)))

    def run(thetas, etas, data, model, vectors):
        hessian_vector, mixed = compiled(asarray(thetas), asarray(etas), data, model, asarray(vectors))
        return to_numpy(hessian_vector), to_numpy(mixed)

    return run


def compile_cost(objective: Objective, *arguments) -> None:
    """Compile `gradient_function(objective)` for these arguments without running it (the bench)."""
    jax.jit(jax.vmap(jax.grad(objective), in_axes=(0, 0, 0, None))).lower(*arguments).compile()
