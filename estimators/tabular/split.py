"""Liu et al.'s split of the meta-gradient into inner, Hessian and outer parts (eee ... lll).

K inner steps θ_{k+1} = θ_k + α ĝ_k from θ_0; the meta-gradient w.r.t. φ is accumulated
in reverse with one vector per repetition:

  init (MAML, φ = θ_0):       v_K = ĝ_out(θ_K);  v_k = v_{k+1} + α Ĥ_k v_{k+1};  ∇_φ = v_0
  intrinsic (LIRPG, φ = η):   as above, and ∇_η = Σ_k α ∂_η(ĝ_k · v_{k+1})  (mixed term)

Each part is exact (`e`) or sampled (`l`) with the estimator's surrogate family; the three
letters of `split` are, in order, the inner gradient ĝ_k (batch `n_inner` at θ_k, reward
r + η for `intrinsic`), the Jacobian I + α Ĥ_k with the mixed term (batch `n_hessian` at
θ_k, reward r + η) and the outer gradient (batch `n_outer` at θ_K, reward r). Batches are
independent unless `shared` (then the Hessian batch of step k is its inner batch: the
semantics of differentiating through one sampled loss with autodiff). Every repetition
has its own batches, so its iterates θ_k diverge from the others once a step is sampled.

Everything is vectorized over the R repetitions; the only Python loops are over K steps
(and over T inside the sampler). Reference: Liu et al. (2022), arXiv 2112.15400, Sec. 5.
"""
from __future__ import annotations

from itertools import product
from typing import Callable

import numpy as np

from estimators.tabular.problem import MetaProblem

from estimators.problem import positive_int
from estimators.registry import register
from estimators.tabular.fused import DrawnBatch, compiled_exact, compiled_products, draw_compiled_batch
from estimators.problem import use_compiled
from estimators.tabular.surrogates import FAMILIES, Batch, Family, Surrogate, draw_batch, family_rule
from mdps import TabularMDP

SPLITS: tuple[str, ...] = tuple("".join(letters) for letters in product("el", repeat=3))

# (step k, iterates θ_k (R, S, A), the step's inner batch, its on-policy gradient) -> ĝ_k (R, S, A)
InnerGradient = Callable[[int, np.ndarray, Batch, np.ndarray], np.ndarray]


# ---------------------------------------------------------------------------- exact parts
def _exact_gradient(mdp: TabularMDP, thetas: np.ndarray, compiled: bool) -> np.ndarray:
    """∇V(θ_r) `(R, S, A)` at iterates that differ across repetitions; in the kernel when
    `compiled` and the horizon is infinite (the same numbers to ~1e-15)."""
    if compiled and mdp.horizon is None:
        return compiled_exact(mdp, thetas, False)[0]
    return mdp.batch_values_and_gradients(thetas)[2]


def _exact_products(mdp: TabularMDP, thetas: np.ndarray, vectors: np.ndarray, common: bool,
                    compiled: bool) -> tuple[np.ndarray, np.ndarray]:
    """(H v_r, ∂occ/∂θ v_r) `(R, S, A)` each; R directions at one θ when `common`; in the
    kernel when `compiled` and the horizon is infinite (the same numbers to ~1e-15)."""
    if compiled and mdp.horizon is None:
        _, products, occupancy = compiled_exact(mdp, thetas, common, vectors)
        return products, occupancy
    if common:
        return mdp.tangents(thetas[0], vectors)
    products, occupancy = mdp.batch_tangents(thetas, vectors[:, None])
    return products[:, 0], occupancy[:, 0]


# ---------------------------------------------------------------------------- the split
def split_meta_gradient(problem: MetaProblem, repetitions: int, rng: np.random.Generator, family: Family, *,
                        lambda_: float = 1.0, batch: int = 32, split: str = "lll", n_inner: int | None = None,
                        n_hessian: int | None = None, n_outer: int | None = None, shared: bool = False,
                        inner_gradient: InnerGradient | None = None, gae_lambda: float = 1.0,
                        detach_critic: bool = True) -> np.ndarray:
    """R independent estimates of ∇_φ V_r(θ_K) with Liu et al.'s inner / Hessian / outer split.

    Forward, k = 0..K-1: θ_{k+1} = θ_k + α ĝ_k (exact ∇V_{r+η}(θ_k) or the family's ĝ on the
    inner batch drawn at θ_k). Outer: v_K = ∇V_r(θ_K) or ĝ on the outer batch at θ_K.
    Backward, k = K-1..0: (intrinsic) ∇_η += α M_k v_{k+1}; v_k = v_{k+1} + α Ĥ_k v_{k+1},
    with (Ĥ_k, M_k) exact at θ_k (`inner_mdp.tangents`) or the family's Hessian-vector
    product and mixed term on the Hessian batch at θ_k.

    The sampled parts run in one compiled kernel per batch (`estimators.tabular.fused`) unless
    `problem.kernel` is `numpy` or an `inner_gradient` hook is given (it reads a numpy
    `Batch`); both paths draw the same numbers from `rng` and give the same estimates. On
    that path the exact parts of an infinite-horizon MDP at iterates that differ across
    repetitions run in the kernel too (`fused.compiled_exact`, one LU per policy: LAPACK's
    numbers to ~1e-15).

    Random draws, in order: inner batch 0, ..., inner batch K-1, outer batch, then the
    Hessian batches K-1, ..., 0 (drawn during the backward pass, so that only one is alive
    at a time), each with its critic noise after its rollouts.

    Args:
      problem: the `MetaProblem` (K, α, meta-parameter, rollout length, critic).
      repetitions: R.
      rng: the only source of randomness.
      family: surrogate family of the sampled parts (see `estimators.tabular.surrogates`).
      lambda_: λ of `loaded`.
      batch: default size of every batch.
      split: three letters in {e, l}: inner, Hessian, outer.
      n_inner, n_hessian, n_outer: batch sizes (default `batch`).
      shared: use the inner batch of step k as its Hessian batch (only when both parts are
        sampled; ignored otherwise).
      inner_gradient: optional hook replacing the sampled inner gradient (used by
        `estimators.tabular.liu_probes.off_policy`); it receives (k, θ_k, inner batch, on-policy ĝ_k).
      gae_lambda: GAE(λ) advantages in every sampled part (1 = R_t − b_t; `estimators.tabular.advantages`).
      detach_critic: hold the critic fixed in η in the LIRPG mixed term (False: the critic of
        r + η is differentiated, as Liu et al.'s LIRPG code does by default). Both run in the
        compiled kernel too (GAE in its per-trajectory buffers; the critic state weights
        accumulated there, their one transposed solve per repetition in numpy).
    Returns:
      `(R, S, A)` estimates of ∇_{θ_0} (init) or ∇_η (intrinsic).
    """
    if not isinstance(problem, MetaProblem):
        raise TypeError(f"problem: expected a MetaProblem, got {type(problem).__name__}")
    if family not in FAMILIES:
        raise ValueError(f"family: expected one of {FAMILIES}, got {family!r}")
    if split not in SPLITS:
        raise ValueError(f"split: expected three letters of e (exact) and l (sampled), one of {SPLITS}, got {split!r}")
    repetitions = positive_int("repetitions", repetitions)
    n_inner, n_hessian, n_outer = (positive_int(name, batch if size is None else size) for name, size in
                                   (("n_inner", n_inner), ("n_hessian", n_hessian), ("n_outer", n_outer)))
    inner_letter, hessian_letter, outer_letter = split
    intrinsic = problem.meta_parameter == "intrinsic"
    inner_mdp, lr = problem.inner_mdp, float(problem.lr)
    inner_rewards = inner_mdp.rewards
    share = bool(shared) and inner_letter == "l" and hessian_letter == "l"
    needs_hessian_batch = hessian_letter == "l" and (intrinsic or family != "first_order")
    if not 0.0 <= float(gae_lambda) <= 1.0:
        raise ValueError(f"gae_lambda: expected a number in [0, 1], got {gae_lambda!r}")
    critic_mdp = None if detach_critic else problem.mdp     # the critic of r + η differentiated in η
    compiled = use_compiled(problem.kernel) and inner_gradient is None   # the hook reads a numpy Batch
    if compiled:
        draw, products = _compiled_batches(problem, family, lambda_, float(gae_lambda), critic_mdp)
    else:
        draw, products = _numpy_batches(problem, family, lambda_, float(gae_lambda), critic_mdp)

    # forward: iterates θ_0..θ_K, (R, S, A) each; `common` while every repetition shares θ_k
    theta = np.broadcast_to(np.asarray(problem.theta0, dtype=float), (repetitions, *problem.shape)).copy()
    iterates, common, inner_batches = [theta], [True], []
    if inner_letter == "e":
        iterates = [np.broadcast_to(step, theta.shape).copy() for step in problem.exact_iterates]
        common = [True] * len(iterates)
    else:
        for k in range(problem.steps):
            inner_batch = draw(iterates[k], n_inner, rng, inner_rewards)
            gradient = products(inner_batch)[0]
            if inner_gradient is not None:
                gradient = inner_gradient(k, iterates[k], inner_batch, gradient)
            inner_batches.append(inner_batch if share else None)
            iterates.append(iterates[k] + lr * gradient)
            common.append(False)

    # outer gradient at θ_K (extrinsic reward r)
    if outer_letter == "e" and common[-1]:          # θ_K is the exact iterate: ∇V_r(θ_K) computed once
        vector = np.broadcast_to(problem.exact_outer_gradient, theta.shape).copy()
    elif outer_letter == "e":
        vector = _exact_gradient(problem.mdp, iterates[-1], compiled)
    else:
        vector = products(draw(iterates[-1], n_outer, rng, None))[0]

    # backward: v ← v + α Ĥ_k v, and the LIRPG mixed term
    meta = np.zeros_like(vector)
    for k in range(problem.steps - 1, -1, -1):
        if hessian_letter == "e":
            hessian_vector, mixed = _exact_products(inner_mdp, iterates[k], vector, common[k], compiled)
        elif not needs_hessian_batch:
            hessian_vector, mixed = np.zeros_like(vector), None
        else:
            hessian_batch = inner_batches[k] if share else draw(iterates[k], n_hessian, rng, inner_rewards)
            _, hessian_vector, mixed = products(hessian_batch, gradient=False, vectors=vector, hessian=True,
                                                mixed=intrinsic)
        if intrinsic:
            meta = meta + lr * mixed
        vector = vector + lr * hessian_vector
    return meta if intrinsic else vector


# (batch, gradient=True, vectors=None, hessian=False, mixed=False) -> (ĝ, Ĥv, ∂_η(ĝ·v)), None where not asked
Products = Callable[..., tuple]


def _numpy_batches(problem: MetaProblem, family: Family, lambda_: float, gae_lambda: float = 1.0,
                   critic_mdp: TabularMDP | None = None) -> tuple[Callable, Products]:
    """(draw, products) of the numpy path: `draw_batch` and the `Surrogate` methods."""
    def draw(thetas: np.ndarray, size: int, rng: np.random.Generator, rewards: np.ndarray | None) -> Batch:
        return draw_batch(problem, thetas, size, rng, rewards=rewards, needs_critic=family != "dice")

    def products(batch: Batch, *, gradient: bool = True, vectors: np.ndarray | None = None, hessian: bool = False,
                 mixed: bool = False) -> tuple:
        surrogate = Surrogate(batch, family, lambda_=lambda_, gae_lambda=gae_lambda, critic_mdp=critic_mdp)
        return (surrogate.gradient() if gradient else None,
                surrogate.hessian_vector_product(vectors) if hessian else None,
                surrogate.mixed_vector_product(vectors) if mixed else None)

    return draw, products


def _compiled_batches(problem: MetaProblem, family: Family, lambda_: float, gae_lambda: float = 1.0,
                      critic_mdp: TabularMDP | None = None) -> tuple[Callable, Products]:
    """(draw, products) of the compiled path (`estimators.tabular.fused`): the same draws and numbers."""
    rule = family_rule(family, lambda_)
    mdp = problem.mdp
    length = problem.rollout_length if mdp.horizon is None else min(problem.rollout_length, mdp.horizon)

    def draw(thetas: np.ndarray, size: int, rng: np.random.Generator, rewards: np.ndarray | None) -> DrawnBatch:
        return draw_compiled_batch(mdp, thetas, size, length, rng, rewards=rewards, critic=problem.critic,
                                   critic_noise=problem.critic_noise, needs_critic=rule.uses_critic)

    def products(batch: DrawnBatch, **requests) -> tuple:
        return compiled_products(batch, rule, gae_lambda=gae_lambda, critic_mdp=critic_mdp, **requests)

    return draw, products


def inner_gradient_std(problem: MetaProblem, family: str, rng: np.random.Generator, repetitions: int = 10_000,
                       *, lambda_: float = 1.0) -> float:
    """σ_in = sqrt(tr Cov[ĝ]) of the one-trajectory inner-gradient estimate at θ_0.

    The σ_in of Liu et al.'s compositional-bias bound O(K α^K σ_in |τ|^{-1/2}), estimated
    from `repetitions` independent one-trajectory batches (each with its own critic noise)
    with the inner reward (r + η for `intrinsic`); unbiased sample covariance (ddof = 1).

    Args:
      problem: the `MetaProblem`.
      family: a surrogate family, or `exact` (σ_in = 0).
      rng: the only source of randomness.
      repetitions: number of one-trajectory estimates (>= 2).
      lambda_: λ of `loaded`.
    Returns:
      σ_in (a float).
    """
    if family == "exact":
        return 0.0
    if family not in FAMILIES:
        raise ValueError(f"family: expected 'exact' or one of {FAMILIES}, got {family!r}")
    repetitions = positive_int("repetitions", repetitions)
    if repetitions < 2:
        raise ValueError(f"repetitions: expected at least 2, got {repetitions}")
    thetas = np.broadcast_to(np.asarray(problem.theta0, dtype=float), (repetitions, *problem.shape))
    one_trajectory = draw_batch(problem, thetas, 1, rng, rewards=problem.inner_mdp.rewards)
    gradients = Surrogate(one_trajectory, family, lambda_=lambda_).gradient().reshape(repetitions, -1)
    return float(np.sqrt(gradients.var(axis=0, ddof=1).sum()))


# ---------------------------------------------------------------------------- registered
_SPLIT_HELP = "split = inner/Hessian/outer letters, e exact or l sampled (Liu et al.)"


@register("dice", problem="tabular", description=f"DiCE surrogate (no critic); {_SPLIT_HELP}")
def dice(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32, split: str = "lll",
         n_inner: int | None = None, n_hessian: int | None = None, n_outer: int | None = None,
         shared: bool = False) -> np.ndarray:
    """DiCE: L = Σ_t γᵗ r_t [](Σ_{k≤t} log π_k); unbiased ĝ and Ĥ (untruncated rollouts). `(R, S, A)`."""
    return split_meta_gradient(problem, repetitions, rng, "dice", batch=batch, split=split, n_inner=n_inner,
                               n_hessian=n_hessian, n_outer=n_outer, shared=shared)


@register("loaded", problem="tabular", description=f"Loaded DiCE(lambda_) with critic baseline; {_SPLIT_HELP}")
def loaded(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, lambda_: float = 1.0,
           batch: int = 32, split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
           n_outer: int | None = None, shared: bool = False, gae_lambda: float = 1.0,
           detach_critic: bool = True) -> np.ndarray:
    """Loaded DiCE: L = Σ_t γᵗ A_t ([](w_t) - [](w_{t-1})), w_t = Σ_{k≤t} λ^{t-k} log π_k. `(R, S, A)`."""
    return split_meta_gradient(problem, repetitions, rng, "loaded", lambda_=lambda_, batch=batch, split=split,
                               n_inner=n_inner, n_hessian=n_hessian, n_outer=n_outer, shared=shared,
                               gae_lambda=gae_lambda, detach_critic=detach_critic)


@register("lvc", problem="tabular", description=f"low-variance curvature (ProMP) surrogate; {_SPLIT_HELP}")
def lvc(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32, split: str = "lll",
        n_inner: int | None = None, n_hessian: int | None = None, n_outer: int | None = None,
        shared: bool = False, gae_lambda: float = 1.0,
        detach_critic: bool = True) -> np.ndarray:
    """LVC: L = Σ_t γᵗ A_t π_t / stop(π_t). `(R, S, A)`."""
    return split_meta_gradient(problem, repetitions, rng, "lvc", batch=batch, split=split, n_inner=n_inner,
                               n_hessian=n_hessian, n_outer=n_outer, shared=shared,
                               gae_lambda=gae_lambda, detach_critic=detach_critic)


@register("maml", problem="tabular", description=f"naive autodiff of Σ γ^t A_t log π_t (MAML); {_SPLIT_HELP}")
def maml(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32, split: str = "lll",
         n_inner: int | None = None, n_hessian: int | None = None, n_outer: int | None = None,
         shared: bool = False, gae_lambda: float = 1.0,
        detach_critic: bool = True) -> np.ndarray:
    """MAML: L = Σ_t γᵗ A_t log π_t (Ĥ misses the score outer products: biased). `(R, S, A)`."""
    return split_meta_gradient(problem, repetitions, rng, "maml", batch=batch, split=split, n_inner=n_inner,
                               n_hessian=n_hessian, n_outer=n_outer, shared=shared,
                               gae_lambda=gae_lambda, detach_critic=detach_critic)


@register("first_order", problem="tabular", description=f"first-order MAML: sampled Hessian = 0; {_SPLIT_HELP}")
def first_order(problem: MetaProblem, repetitions: int, rng: np.random.Generator, *, batch: int = 32,
                split: str = "lll", n_inner: int | None = None, n_hessian: int | None = None,
                n_outer: int | None = None, shared: bool = False, gae_lambda: float = 1.0,
        detach_critic: bool = True) -> np.ndarray:
    """First-order MAML: ĝ of maml, Ĥ = 0 (the LIRPG mixed term is kept). `(R, S, A)`."""
    return split_meta_gradient(problem, repetitions, rng, "first_order", batch=batch, split=split,
                               n_inner=n_inner, n_hessian=n_hessian, n_outer=n_outer, shared=shared,
                               gae_lambda=gae_lambda, detach_critic=detach_critic)


@register("exact", problem="tabular", description="the exact (ideal-target) meta-gradient, R copies (split eee)")
def exact(problem: MetaProblem, repetitions: int, rng: np.random.Generator) -> np.ndarray:
    """`problem.exact_meta_gradient()` repeated R times, `(R, S, A)`; draws nothing from `rng`."""
    repetitions = positive_int("repetitions", repetitions)
    return np.broadcast_to(problem.exact_meta_gradient(), (repetitions, *problem.shape)).copy()
