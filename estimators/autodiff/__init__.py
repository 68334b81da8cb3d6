"""Autodiff estimators: a researcher's surrogate written in JAX or PyTorch, differentiated by mgbench.

`contract.py` the batch a surrogate receives (`SurrogateBatch`), the frameworks and their
loading, the check of a surrogate before any cell runs; `register.py` `register_surrogate`
(exported by `estimators`); `jax_backend.py` and `torch_backend.py` the only modules of
`estimators` that import a framework (each on first use): array conversion and the
vectorized derivatives (gradient; Hessian- and mixed-vector products as one vector-Jacobian
product of the gradient). The per-family drivers (what is sampled, the K inner steps and
Liu et al.'s split) live with their family: `estimators/tabular/autodiff.py`,
`estimators/ipd/autodiff.py` (LOLA from a two-player surrogate).
"""
