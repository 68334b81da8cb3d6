"""The tabular driver of the autodiff estimators: a surrogate written in JAX or PyTorch,
differentiated through K inner steps with Liu et al.'s inner / Hessian / outer split.

The same algorithm as `estimators.tabular.split.split_meta_gradient`, with the family's
closed forms replaced by derivatives of the researcher's surrogate L(θ, η; batch):

  forward,  k = 0..K-1:  θ_{k+1} = θ_k + α ∇_θ L(θ_k; inner batch k)      (or exact ∇V_{r+η}(θ_k))
  outer:                 v_K = ∇_θ L(θ_K; outer batch)                     (or exact ∇V_r(θ_K))
  backward, k = K-1..0:  (Ĥ_k v, M_k v) = vjp of (θ, η) ↦ ∇_θ L(θ, η; Hessian batch k) with v
                         (or the same of the exact J(θ, η) = ρᵀ V_{r+η}(θ)),
                         ∇_η += α M_k v (intrinsic);  v ← v + α Ĥ_k v.

Hessians are never formed: one vector-Jacobian product of the gradient gives the
Hessian-vector product and the LIRPG mixed term together. The exact parts are the same
derivatives of the exact value function written once in framework operations
(`time_values`: a Bellman solve, or the backward recursion of a finite horizon), checked
against `mdps` in the tests.

Random stream: the batches are drawn in numpy by `surrogates.draw_batch` in the built-in
order (inner batches 0..K-1, the outer batch, then the Hessian batches K-1..0, each with its
critic noise after its rollouts), so on the same seed a surrogate sees the very batches the
built-in estimators see and their numbers can be compared (equal to rounding when the
surrogate is one of the built-in families: `docs/examples/surrogates_jax.py`,
`surrogates_torch.py`, `tests/test_autodiff.py`). Only the differentiation runs in the
framework, vectorized over the R repetitions (`jax.vmap` under `jax.jit`; `torch.func.vmap`).

How the batch arrays depend on θ and η (the conventions of `estimators.tabular.surrogates`):
log π_θ(a_t|s_t) on θ; rewards r_t + η(s_t, a_t) on η in the inner loop of `intrinsic`
(value-preserving: r_t + (η_t − stop η_t), so the numbers are numpy's exactly); the critic
V̂ is a constant in θ, and in η too unless `detach_critic=False`, when it is V_{r+η} of the
sampling policy (+ the noisy critic's fixed noise) differentiated in η; the advantages are
GAE(λ) of those rewards and that critic.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import product
from typing import Any, Callable

import numpy as np

from estimators.autodiff.contract import SurrogateBatch, SurrogateDriver, check_objective, load_backend
from estimators.problem import positive_int
from estimators.tabular.problem import MetaProblem
from estimators.tabular.surrogates import Batch, draw_batch
from mdps import TabularMDP, random_mdp

SPLITS: tuple[str, ...] = tuple("".join(letters) for letters in product("el", repeat=3))   # as split.SPLITS


@dataclass(frozen=True)
class Setting:
    """What an objective is compiled for (hashable: the key of the compiled functions).

    Attributes:
      surrogate: the researcher's function; options: its keyword arguments, sorted pairs.
      framework: `jax` or `torch`.
      gamma, horizon: the MDP's γ and H (None: infinite).
      length: T; truncated: whether rollouts bootstrap from V̂_T(s_T).
      gae_lambda: λ of the advantages.
      intrinsic: rewards r + η differentiable in η (the inner loop of `intrinsic`).
      critic_derivative: the critic of r + η differentiated in η (`detach_critic=False`, a critic).
    """

    surrogate: Callable[..., Any]
    options: tuple[tuple[str, Any], ...]
    framework: str
    gamma: float
    horizon: int | None
    length: int
    truncated: bool
    gae_lambda: float
    intrinsic: bool
    critic_derivative: bool


def time_values(xp, policy, rewards, transitions, gamma: float, horizon: int | None):
    """V̂_t(s) `(L, S)` of one policy in framework operations `xp` (a backend module): L = 1,
    (I − γP_π)⁻¹ r_π for the infinite horizon; L = H + 1 by the backward recursion (last row 0)."""
    n_states = policy.shape[0]
    if horizon is None:
        step = xp.einsum("sa,sat->st", policy, transitions)
        return xp.solve(xp.eye(n_states) - gamma * step, (policy * rewards).sum(-1))[None]
    rows = [xp.zeros((n_states,))]
    for _ in range(horizon):
        q_values = rewards + gamma * xp.einsum("sat,t->sa", transitions, rows[0])
        rows.insert(0, (policy * q_values).sum(-1))
    return xp.stack(rows)


@functools.lru_cache(maxsize=64)
def exact_objective(framework: str, gamma: float, horizon: int | None) -> Callable[..., Any]:
    """J(θ, η) = ρᵀ V_0 of the MDP with rewards r + η (model `rewards` r, `transitions`, `initial`)."""
    xp = load_backend(framework)

    def objective(theta, eta, data, model):
        policy = xp.exp(xp.log_softmax(theta))
        values = time_values(xp, policy, model["rewards"] + eta, model["transitions"], gamma, horizon)
        return (model["initial"] * values[0]).sum()

    return objective


@functools.lru_cache(maxsize=64)
def sampled_objective(setting: Setting) -> Callable[..., Any]:
    """L(θ, η; batch) of one repetition: the batch's arrays in the framework (module docstring), the surrogate's value."""
    xp = load_backend(setting.framework)
    gamma, length = setting.gamma, setting.length
    later = np.arange(length)[None, :] - np.arange(length)[:, None]                # j − t
    discounting = xp.asarray(np.where(later >= 0, gamma ** np.maximum(later, 0), 0.0).T)             # [j, t]
    decay = gamma * setting.gae_lambda
    tracing = xp.asarray(np.where(later >= 0, decay ** np.maximum(later, 0), 0.0).T)                 # [l, t]
    final_discounts = xp.asarray(gamma ** (length - np.arange(length)))
    value_times = np.arange(length + 1) if setting.horizon is not None else np.zeros(length + 1, dtype=int)
    value_mask = xp.asarray(np.r_[np.ones(length), float(setting.truncated)])
    options = dict(setting.options)
    surrogate = setting.surrogate

    def objective(theta, eta, data, model):
        table = xp.log_softmax(theta)
        states, actions = data["states"], data["actions"]
        rewards, values = data["rewards"], data["values"]
        if setting.intrinsic:
            bonus = eta[states, actions]
            rewards = rewards + (bonus - xp.stop(bonus))
            if setting.critic_derivative:
                critic = time_values(xp, xp.exp(xp.stop(table)), model["rewards"] + eta, model["transitions"],
                                     gamma, setting.horizon)
                read = critic[value_times, data["value_states"]]                      # (N, T + 1)
                values = values + (read - xp.stop(read)) * value_mask
        deltas = rewards + gamma * values[:, 1:] - values[:, :-1]
        batch = SurrogateBatch(logp=table[states, actions], rewards=rewards, advantages=deltas @ tracing,
                               values=values, returns=rewards @ discounting + final_discounts * values[:, -1:],
                               discount=gamma, states=states, actions=actions, final_states=data["final_states"],
                               policy=xp.exp(table))
        return surrogate(batch, **options)

    return objective


def batch_data(xp, batch: Batch) -> dict[str, Any]:
    """The arrays of a numpy `Batch` the objective reads, `(R, ...)` each, in the framework."""
    values = np.concatenate([batch.baselines, batch.bootstrap[..., None]], axis=-1)
    value_states = np.concatenate([batch.states, batch.final_states[..., None]], axis=-1)
    arrays = {"states": batch.states, "actions": batch.actions, "rewards": batch.rewards, "values": values,
              "final_states": batch.final_states, "value_states": value_states}
    return {name: xp.asarray(np.ascontiguousarray(array)) for name, array in arrays.items()}


def model_data(xp, mdp: TabularMDP) -> dict[str, Any]:
    """The MDP's extrinsic rewards r, transitions and initial distribution, in the framework."""
    return {"rewards": xp.asarray(np.asarray(mdp.rewards, float)),
            "transitions": xp.asarray(np.asarray(mdp.transitions, float)),
            "initial": xp.asarray(np.asarray(mdp.initial, float))}


def problem_setting(problem: MetaProblem, surrogate, framework: str, options: tuple, gae_lambda: float,
                    detach_critic: bool) -> Setting:
    mdp = problem.mdp
    length = problem.rollout_length if mdp.horizon is None else min(problem.rollout_length, mdp.horizon)
    intrinsic = problem.meta_parameter == "intrinsic"
    return Setting(surrogate, options, framework, float(mdp.gamma), mdp.horizon, int(length),
                   mdp.horizon is None or length < mdp.horizon, float(gae_lambda), intrinsic,
                   intrinsic and not detach_critic and problem.critic != "none")


# ---------------------------------------------------------------------------- the estimator
def surrogate_meta_gradient(problem: MetaProblem, repetitions: int, rng: np.random.Generator,
                            surrogate: Callable[..., Any], framework: str, *, options: tuple = (), batch: int = 32,
                            split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
                            n_outer: int | None = None, shared: bool = False, gae_lambda: float = 1.0,
                            detach_critic: bool = True) -> np.ndarray:
    """R estimates `(R, S, A)` of ∇_φ V_r(θ_K) from a surrogate, with Liu et al.'s split.

    The arguments and the order of the random draws are those of
    `estimators.tabular.split.split_meta_gradient` (a family's closed forms replaced by the
    surrogate's derivatives: module docstring); `options` are the surrogate's keyword
    arguments as sorted `(name, value)` pairs.
    """
    if not isinstance(problem, MetaProblem):
        raise TypeError(f"problem: expected a MetaProblem, got {type(problem).__name__}")
    if split not in SPLITS:
        raise ValueError(f"split: expected three letters of e (exact) and l (sampled), one of {SPLITS}, got {split!r}")
    if not 0.0 <= float(gae_lambda) <= 1.0:
        raise ValueError(f"gae_lambda: expected a number in [0, 1], got {gae_lambda!r}")
    repetitions = positive_int("repetitions", repetitions)
    n_inner, n_hessian, n_outer = (positive_int(name, batch if size is None else size) for name, size in
                                   (("n_inner", n_inner), ("n_hessian", n_hessian), ("n_outer", n_outer)))
    xp = load_backend(framework)
    setting = problem_setting(problem, surrogate, framework, tuple(options), gae_lambda, detach_critic)
    gradient = xp.gradient_function(sampled_objective(setting))
    products = xp.product_function(sampled_objective(setting))
    exact = exact_objective(framework, setting.gamma, setting.horizon)
    exact_gradient, exact_products = xp.gradient_function(exact), xp.product_function(exact)
    model = model_data(xp, problem.mdp)
    inner_letter, hessian_letter, outer_letter = split
    intrinsic = problem.meta_parameter == "intrinsic"
    share = bool(shared) and inner_letter == "l" and hessian_letter == "l"
    shape = (repetitions, *problem.shape)
    inner_rewards = problem.inner_mdp.rewards
    etas = np.broadcast_to(problem.eta if intrinsic else np.zeros(problem.shape), shape)
    no_eta = np.zeros(shape)

    def draw(thetas: np.ndarray, size: int, rewards: np.ndarray | None) -> dict[str, Any]:
        return batch_data(xp, draw_batch(problem, thetas, size, rng, rewards=rewards))

    # forward: iterates θ_0..θ_K (R, S, A)
    theta = np.broadcast_to(np.asarray(problem.theta0, dtype=float), shape).copy()
    iterates, inner_batches = [theta], []
    for k in range(problem.steps):
        if inner_letter == "e":   # every repetition on the exact path: one row, broadcast
            step = exact_gradient(iterates[k][:1], etas[:1], {}, model)
            iterates.append(iterates[k] + float(problem.lr) * np.broadcast_to(step, shape))
            continue
        inner_batch = draw(iterates[k], n_inner, inner_rewards)
        inner_batches.append(inner_batch if share else None)
        iterates.append(iterates[k] + float(problem.lr) * gradient(iterates[k], etas, inner_batch, model))

    # outer gradient at θ_K (extrinsic reward r)
    if outer_letter == "e":
        vector = exact_gradient(iterates[-1], no_eta, {}, model)
    else:
        vector = gradient(iterates[-1], no_eta, draw(iterates[-1], n_outer, None), model)

    # backward: v ← v + α Ĥ_k v, and the LIRPG mixed term
    meta = np.zeros(shape)
    for k in range(problem.steps - 1, -1, -1):
        if hessian_letter == "e":
            hessian_vector, mixed = exact_products(iterates[k], etas, {}, model, vector)
        else:
            hessian_batch = inner_batches[k] if share else draw(iterates[k], n_hessian, inner_rewards)
            hessian_vector, mixed = products(iterates[k], etas, hessian_batch, model, vector)
        if intrinsic:
            meta = meta + float(problem.lr) * mixed
        vector = vector + float(problem.lr) * hessian_vector
    return meta if intrinsic else vector


def one_trajectory_gradients(problem: MetaProblem, repetitions: int, rng: np.random.Generator,
                             surrogate: Callable[..., Any], framework: str, *, options: tuple = ()) -> np.ndarray:
    """`(R, S, A)` inner gradients ∇_θ L(θ_0; one trajectory) with the inner reward (r + η for
    `intrinsic`): the `inner_gradient=` of a surrogate estimator, for σ_in (as `split.inner_gradient_std` draws)."""
    repetitions = positive_int("repetitions", repetitions)
    xp = load_backend(framework)
    setting = problem_setting(problem, surrogate, framework, tuple(options), 1.0, True)
    shape = (repetitions, *problem.shape)
    thetas = np.broadcast_to(np.asarray(problem.theta0, dtype=float), shape)
    one = draw_batch(problem, thetas, 1, rng, rewards=problem.inner_mdp.rewards)
    etas = np.broadcast_to(problem.eta if problem.meta_parameter == "intrinsic" else np.zeros(problem.shape), shape)
    return xp.gradient_function(sampled_objective(setting))(thetas, etas, batch_data(xp, one), model_data(xp, problem.mdp))


# ---------------------------------------------------------------------------- the check
@functools.lru_cache(maxsize=256)
def check_surrogate(surrogate: Callable[..., Any], framework: str, options: tuple, name: str) -> None:
    """Run the surrogate once on a small batch (3 states, 2 actions, 2 trajectories of 3
    steps, an intrinsic reward and a differentiated critic): a one-line
    `ValueError("surrogate: ...")` unless it returns a 0-d float array of `framework` and
    its gradient is finite. Cached: it runs once per surrogate and options."""
    xp = load_backend(framework)
    mdp = random_mdp(3, 2, seed=0, gamma=0.9)
    problem = MetaProblem(mdp, np.zeros((3, 2)), steps=1, lr=1.0, meta_parameter="intrinsic",
                          intrinsic=np.full((3, 2), 0.1), rollout_length=3, critic="exact")
    setting = problem_setting(problem, surrogate, framework, options, 0.9, False)
    objective = sampled_objective(setting)
    thetas, etas = np.zeros((1, 3, 2)), np.full((1, 3, 2), 0.1)
    data = batch_data(xp, draw_batch(problem, thetas, 2, np.random.default_rng(0), rewards=problem.inner_mdp.rewards))
    model = model_data(xp, mdp)
    check_objective(xp, objective, name, framework,
                    (xp.asarray(thetas[0]), xp.asarray(etas[0]), {key: array[0] for key, array in data.items()}, model),
                    (thetas, etas, data, model), "a test batch")


def _check_parameters(parameters) -> None:
    """The split and GAE(λ) of a tabular surrogate estimator, before any cell runs."""
    if parameters["split"] not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {parameters['split']!r}")
    if not 0.0 <= float(parameters["gae_lambda"]) <= 1.0:
        raise ValueError(f"gae_lambda: expected a number in [0, 1], got {parameters['gae_lambda']!r}")


def _inner_gradient(surrogate: Callable[..., Any], framework: str, options: tuple):
    """σ_in's inner gradient: the surrogate's own one-trajectory gradient at θ_0."""
    def inner_gradient(problem, repetitions, rng):
        return one_trajectory_gradients(problem, repetitions, rng, surrogate, framework, options=options)

    inner_gradient.__name__ = f"{surrogate.__name__} (one-trajectory surrogate gradient)"
    return inner_gradient


# the estimator parameters mgbench adds to every tabular surrogate (those of the built-in families)
DRIVER = SurrogateDriver(
    parameters={"batch": 32, "split": "lll", "n_inner": None, "n_hessian": None, "n_outer": None, "shared": False,
                "gae_lambda": 1.0, "detach_critic": True},
    check=check_surrogate, run=surrogate_meta_gradient, check_parameters=_check_parameters,
    inner_gradient=_inner_gradient)
