"""DiCE, Loaded DiCE, LVC and MAML written as PyTorch surrogates (docs/plugins.md).

The PyTorch twins of `surrogates_jax.py`: `.detach()` is the stop-gradient, tensors are
float64 (mgbench runs every surrogate call with float64 as torch's default dtype). On the
same seed the numbers equal the built-in closed forms to rounding (`tests/test_autodiff.py`).

    mgbench compare docs/examples/surrogates_torch.py:torch_dice --quick
"""
import torch

from estimators import register_surrogate


def magic_box(x):
    """DiCE's [](x) = exp(x − stop(x)): 1 in value, the derivative of exp(x)."""
    return torch.exp(x - x.detach())


def discounts(batch):
    return batch.discount ** torch.arange(batch.logp.shape[-1], dtype=torch.float64)


@register_surrogate("torch_dice", framework="torch", problem="tabular",
                    description="DiCE written as a PyTorch surrogate", bounds=("compositional",))
def torch_dice(batch):
    """L = (1/N) Σ_n Σ_t γᵗ r_t [](Σ_{k≤t} log π_k)."""
    cumulative = torch.cumsum(batch.logp, dim=-1)                                  # (N, T)
    return torch.mean(torch.sum(discounts(batch) * batch.rewards * magic_box(cumulative), dim=-1))


@register_surrogate("torch_loaded", framework="torch", problem="tabular",
                    description="Loaded DiCE(lambda_) written as a PyTorch surrogate", bounds=("compositional",))
def torch_loaded(batch, *, lambda_: float = 1.0):
    """L = (1/N) Σ_n Σ_t γᵗ A_t ([](w_t) − [](w_{t−1})), w_t = Σ_{k≤t} λ^{t−k} log π_k, [](w_{−1}) = 1."""
    length = batch.logp.shape[-1]
    lags = torch.arange(length)[:, None] - torch.arange(length)[None, :]          # t − k
    weights = torch.where(lags >= 0, lambda_ ** lags.clamp(min=0).double(), 0.0)   # λ^{t−k}, k ≤ t
    traced = batch.logp @ weights.T                                                # w_t (N, T)
    boxes = magic_box(traced)
    previous = torch.cat([torch.ones_like(boxes[:, :1]), boxes[:, :-1]], dim=-1)
    return torch.mean(torch.sum(discounts(batch) * batch.advantages * (boxes - previous), dim=-1))


@register_surrogate("torch_lvc", framework="torch", problem="tabular",
                    description="LVC (ProMP) written as a PyTorch surrogate", bounds=("compositional",))
def torch_lvc(batch):
    """L = (1/N) Σ_n Σ_t γᵗ A_t π_t / stop(π_t)."""
    return torch.mean(torch.sum(discounts(batch) * batch.advantages * magic_box(batch.logp), dim=-1))


@register_surrogate("torch_maml", framework="torch", problem="tabular",
                    description="MAML's naive surrogate written in PyTorch", bounds=("compositional",))
def torch_maml(batch):
    """L = (1/N) Σ_n Σ_t γᵗ A_t log π_t."""
    return torch.mean(torch.sum(discounts(batch) * batch.advantages * batch.logp, dim=-1))


@register_surrogate("torch_lola_dice", framework="torch", problem="ipd",
                    description="DiCE-LOLA's surrogate with the critic's baseline, in PyTorch")
def torch_lola_dice(batch):
    """L = (1/N) Σ_n Σ_t [γᵗ r_t [](Σ_{k≤t} l_k) + (1 − [](l_t)) γᵗ b_t], l_t = log π_own + log π_other."""
    logp = batch.logp_own + batch.logp_other                                       # (N, T), both players
    discounted = batch.discount ** torch.arange(logp.shape[-1], dtype=torch.float64)
    dependencies = magic_box(torch.cumsum(logp, dim=-1))
    baseline = (1.0 - magic_box(logp)) * discounted * batch.baselines
    return torch.mean(torch.sum(discounted * batch.rewards * dependencies + baseline, dim=-1))
