"""DiCE, Loaded DiCE, LVC and MAML written as JAX surrogates (docs/plugins.md).

Each is the built-in family of `estimators.tabular.surrogates` as a researcher would write it:
a scalar L(θ; batch) of one batch of N trajectories of T steps. mgbench differentiates it
through the K inner steps with Liu et al.'s split, and on the same seed the numbers equal the
built-in closed forms (`get_estimator("dice")`, ...) to rounding (`tests/test_autodiff.py`).

    mgbench list --plugin docs/examples/surrogates_jax.py
    mgbench compare docs/examples/surrogates_jax.py:jax_dice --quick
"""
import jax
import jax.numpy as jnp

from estimators import register_surrogate


def magic_box(x):
    """DiCE's [](x) = exp(x − stop(x)): 1 in value, the derivative of exp(x)."""
    return jnp.exp(x - jax.lax.stop_gradient(x))


def discounts(batch):
    return batch.discount ** jnp.arange(batch.logp.shape[-1])


@register_surrogate("jax_dice", framework="jax", problem="tabular",
                    description="DiCE written as a JAX surrogate", bounds=("compositional",))
def jax_dice(batch):
    """L = (1/N) Σ_n Σ_t γᵗ r_t [](Σ_{k≤t} log π_k)."""
    cumulative = jnp.cumsum(batch.logp, axis=-1)                                   # (N, T)
    return jnp.mean(jnp.sum(discounts(batch) * batch.rewards * magic_box(cumulative), axis=-1))


@register_surrogate("jax_loaded", framework="jax", problem="tabular",
                    description="Loaded DiCE(lambda_) written as a JAX surrogate", bounds=("compositional",))
def jax_loaded(batch, *, lambda_: float = 1.0):
    """L = (1/N) Σ_n Σ_t γᵗ A_t ([](w_t) − [](w_{t−1})), w_t = Σ_{k≤t} λ^{t−k} log π_k, [](w_{−1}) = 1."""
    length = batch.logp.shape[-1]
    lags = jnp.arange(length)[:, None] - jnp.arange(length)[None, :]              # t − k
    weights = jnp.where(lags >= 0, lambda_ ** jnp.maximum(lags, 0), 0.0)           # λ^{t−k}, k ≤ t
    traced = batch.logp @ weights.T                                                # w_t (N, T)
    boxes = magic_box(traced)
    previous = jnp.concatenate([jnp.ones_like(boxes[:, :1]), boxes[:, :-1]], axis=-1)
    return jnp.mean(jnp.sum(discounts(batch) * batch.advantages * (boxes - previous), axis=-1))


@register_surrogate("jax_lvc", framework="jax", problem="tabular",
                    description="LVC (ProMP) written as a JAX surrogate", bounds=("compositional",))
def jax_lvc(batch):
    """L = (1/N) Σ_n Σ_t γᵗ A_t π_t / stop(π_t)."""
    return jnp.mean(jnp.sum(discounts(batch) * batch.advantages * magic_box(batch.logp), axis=-1))


@register_surrogate("jax_maml", framework="jax", problem="tabular",
                    description="MAML's naive surrogate written in JAX", bounds=("compositional",))
def jax_maml(batch):
    """L = (1/N) Σ_n Σ_t γᵗ A_t log π_t."""
    return jnp.mean(jnp.sum(discounts(batch) * batch.advantages * batch.logp, axis=-1))


@register_surrogate("jax_lola_dice", framework="jax", problem="ipd",
                    description="DiCE-LOLA's surrogate with the critic's baseline, in JAX")
def jax_lola_dice(batch):
    """L = (1/N) Σ_n Σ_t [γᵗ r_t [](Σ_{k≤t} l_k) + (1 − [](l_t)) γᵗ b_t], l_t = log π_own + log π_other."""
    logp = batch.logp_own + batch.logp_other                                       # (N, T), both players
    discounted = batch.discount ** jnp.arange(logp.shape[-1])
    dependencies = magic_box(jnp.cumsum(logp, axis=-1))
    baseline = (1.0 - magic_box(logp)) * discounted * batch.baselines
    return jnp.mean(jnp.sum(discounted * batch.rewards * dependencies + baseline, axis=-1))
