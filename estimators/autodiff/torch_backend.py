"""The PyTorch backend of the autodiff estimators: tensors, and the derivatives vectorized over
repetitions (`torch.func.vmap` of `torch.func.grad` / `torch.func.vjp`: one batched graph,
no loop over repetitions).

Every surrogate call runs with float64 as torch's default dtype (`call_scope`, restored
after the call), so `gamma ** torch.arange(T)` in a surrogate is float64 as mgbench's numbers
are. `product_function` is one vector-Jacobian product of θ, η ↦ ∇_θ L(θ, η) with v, which is
(Ĥv, ∂_η(ĝ·v)) at once (reverse over reverse; never a Hessian matrix).
"""
from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable

import numpy as np
import torch
from torch.func import grad, vjp, vmap

NAME = "torch"
ARRAY_NAME = "torch.Tensor"   # in the one-line errors


def asarray(values: np.ndarray) -> Any:
    """A torch tensor of the numpy array (float64 / int64 kept)."""
    return torch.from_numpy(np.require(values, requirements=("C", "W")))   # copies a read-only array


def to_numpy(values: Any) -> np.ndarray:
    return values.detach().cpu().numpy().astype(float)


@contextlib.contextmanager
def call_scope():
    """float64 as torch's default dtype while a surrogate runs (the caller's default restored)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def is_scalar(value: Any) -> bool:
    """True for a 0-d floating-point torch tensor."""
    return isinstance(value, torch.Tensor) and value.dim() == 0 and value.is_floating_point()


# the array operations the framework-generic objectives use
einsum = torch.einsum
stack = torch.stack
exp = torch.exp


def stop(values: Any) -> Any:
    return values.detach()


def log_softmax(logits: Any) -> Any:
    return torch.log_softmax(logits, dim=-1)


def log_sigmoid(logits: Any) -> Any:
    return torch.nn.functional.logsigmoid(logits)


def solve(matrix: Any, right: Any) -> Any:
    return torch.linalg.solve(matrix, right)


def eye(size: int) -> Any:
    return torch.eye(size, dtype=torch.float64)


def zeros(shape: tuple[int, ...]) -> Any:
    return torch.zeros(shape, dtype=torch.float64)


Objective = Callable[[Any, Any, dict, dict], Any]


@functools.lru_cache(maxsize=64)
def gradient_function(objective: Objective) -> Callable[..., np.ndarray]:
    """(thetas (R, S, A), etas (R, S, A), data {(R, ...)}, model) -> ∇_θ objective `(R, S, A)` (numpy)."""
    batched = vmap(grad(objective), in_dims=(0, 0, 0, None))

    def run(thetas, etas, data, model):
        with call_scope():
            return to_numpy(batched(asarray(thetas), asarray(etas), data, model))

    return run


@functools.lru_cache(maxsize=64)
def product_function(objective: Objective) -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """(thetas, etas, data, model, vectors (R, S, A)) -> (Ĥv, ∂_η(∇_θ objective · v)) `(R, S, A)` each (numpy)."""
    gradient = grad(objective)

    def products(theta, eta, data, model, vector):
        _, pullback = vjp(lambda th, et: gradient(th, et, data, model), theta, eta)
        return pullback(vector)

    batched = vmap(products, in_dims=(0, 0, 0, None, 0))

    def run(thetas, etas, data, model, vectors):
        with call_scope():
            hessian_vector, mixed = batched(asarray(thetas), asarray(etas), data, model, asarray(vectors))
        return to_numpy(hessian_vector), to_numpy(mixed)

    return run
