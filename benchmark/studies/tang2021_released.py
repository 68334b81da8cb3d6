"""Numbers of the released code of Tang et al. (2021), run on this machine (data only, no code of theirs).

github.com/robintyh1/neurips2021-meta-gradient-offpolicy-evaluation, commit 873cce3: `main.py`
unchanged but for ε, the number of MDPs (`independent_trials`) and a global `np.random.seed`
before its loop, with jax 0.10.2 (float32, its default; `jit` as in `main.py`). Hessian and gradient
correlation per MDP, by their names: nocritic = step-wise IS, loadeddice = doubly robust,
truncated = V-trace, firstorder = TayPO-1, secondorder = TayPO-2 as released. Kept apart from
`tang2021.py` so that filling it in does not invalidate the stored simulation units.
"""
from __future__ import annotations

# {ε: {their name: ([Hessian corr per MDP], [gradient corr per MDP])}}
RELEASED_RUN: dict[float, dict[str, tuple[list[float], list[float]]]] = {}
