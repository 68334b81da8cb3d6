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
# Run on 2026-12-07: seeds 1 (ε = 0.8, 1 MDP), 2 (3 MDPs at ε = 0.8, 2 at the others) and 3 (2 MDPs at every ε).
RELEASED_RUN: dict[float, dict[str, tuple[list[float], list[float]]]] = {
    0.0: {
        'nocritic': ([0.5343, 0.7231, 0.7177, 0.656], [0.7865, 0.8965, 0.931, 0.878]),
        'loadeddice': ([0.8915, 0.948, 0.9474, 0.94], [0.9747, 0.9885, 0.9932, 0.984]),
        'truncated': ([0.8915, 0.948, 0.9474, 0.94], [0.9747, 0.9885, 0.9932, 0.984]),
        'firstorder': ([0.7658, 0.8755, 0.9017, 0.7914], [0.9747, 0.9885, 0.9932, 0.984]),
        'secondorder': ([0.8392, 0.9273, 0.9095, 0.9145], [0.8603, 0.9616, 0.9523, 0.9422]),
    },
    0.2: {
        'nocritic': ([0.4037, 0.6016, 0.5019, 0.5167], [0.6317, 0.8637, 0.8398, 0.8368]),
        'loadeddice': ([0.795, 0.8619, 0.8233, 0.8911], [0.9511, 0.9747, 0.9819, 0.972]),
        'truncated': ([0.5445, 0.4335, 0.4082, 0.7073], [0.504, -0.0854, 0.1389, 0.7848]),
        'firstorder': ([0.6912, 0.8565, 0.8674, 0.7727], [0.9431, 0.9763, 0.9792, 0.9758]),
        'secondorder': ([0.8125, 0.9175, 0.8889, 0.9119], [0.8319, 0.961, 0.9463, 0.9262]),
    },
    0.5: {
        'nocritic': ([0.1291, 0.2769, 0.2457, 0.3502], [0.3579, 0.7076, 0.3146, 0.5242]),
        'loadeddice': ([0.1512, 0.3546, 0.3469, 0.6217], [0.3612, 0.7897, 0.6358, 0.8324]),
        'truncated': ([0.2786, 0.2368, 0.2411, 0.6258], [0.2002, -0.4957, -0.2402, 0.6571]),
        'firstorder': ([0.4752, 0.8315, 0.7899, 0.7493], [0.733, 0.9211, 0.9011, 0.9151]),
        'secondorder': ([0.6968, 0.8721, 0.8079, 0.8828], [0.8427, 0.9298, 0.8944, 0.8653]),
    },
    0.8: {
        'nocritic': ([-0.0258, 0.2685, 0.3665, 0.585, 0.1019, 0.2494], [-0.0452, 0.4524, 0.5565, 0.7675, -0.0348, 0.1749]),
        'loadeddice': ([0.072, -0.0308, 0.53, 0.1052, 0.3406, 0.3952], [0.087, 0.1046, 0.6244, 0.0814, 0.6106, 0.4108]),
        'truncated': ([0.4968, -0.2296, -0.2907, 0.322, -0.1601, 0.536], [0.4491, -0.3132, -0.5897, 0.408, -0.3541, 0.5304]),
        'firstorder': ([0.6687, 0.2264, 0.7966, 0.5997, 0.6563, 0.7518], [0.6769, 0.2786, 0.8059, 0.6677, 0.6738, 0.8274]),
        'secondorder': ([0.9262, 0.618, 0.8345, 0.5171, 0.7033, 0.7848], [0.9463, 0.7524, 0.8405, 0.5307, 0.7457, 0.7687]),
    },
}
