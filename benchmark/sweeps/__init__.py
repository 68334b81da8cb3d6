"""Declarative sweeps: a TOML file becomes a validated, frozen `Sweep` and its grid of `Cell`s.

A sweep file (the schema is a contract; unknown keys are refused):

```toml
name = "comp-sample"          # results go to <out>/<name>/  (letters, digits, . _ -)
description = "one line"      # optional, shown by `mgbench list`
seed = 0                      # sampling seed; cell seeds derive from (seed, cell key)
repetitions = 2000            # R >= 2 independent estimates per cell
target = "ideal"              # or "practical"
meta_parameter = "init"       # or "intrinsic" (tabular only)

[problem]
kind = "tabular"              # or "gaussian_toy" (fields theta, sigma, c), or "ipd" (fields gamma,
                              # horizon, rollout_length, critic "none" | "exact" | "learned", theta
                              # "zeros" | "random" (one seeded point per problem seed) | "training"
                              # (the pair after mdp_seeds exact LOLA updates); target "ideal" only)
preset = "liu2022"            # optional; explicit fields override the preset's:
# n_states, n_actions, gamma, horizon (int; absent = infinite), concentration,
# reward ("uniform" | "normal" | "bernoulli"), initial ("first" | "uniform" | "dirichlet"),
# rollout_length, critic ("none" | "exact" | "noisy"), critic_noise, reference_repetitions
# (target "practical" only: the sf estimates of its reference when the paths are too many
# to enumerate; default 20000)
n_mdps = 10                   # problem seeds 0..n-1 (or mdp_seeds = [...]); default 1

[grid]                        # every value is an axis; the grid is their product
estimator = ["maml", "dice"]
split = ["lee"]
steps = [2]                   # K (tabular and ipd, required)
lr = [3.0]                    # alpha (tabular and ipd, required)
batch = [2, 4, 8]             # |tau| for each sampled part
# N = [1, 2, 4]               # sample count (gaussian_toy, required)
# lambda_ = [0.5, 1.0]        # any estimator parameter is an axis too
# critic_noise = [0.5, 1, 2]  # tabular, optional: the noisy critic's scale as an axis (σ_in swept alone)

[estimator_params.loaded]     # optional fixed parameters of one estimator
lambda_ = 0.9
```

A bandit sweep (Vuorio et al.'s learned learning-rate schedule, `docs/methods.md`):

```toml
target = "practical"          # or "ideal" (exact inner steps) or "fd" (their finite differences)
meta_parameter = "lr_schedule"
[problem]
kind = "bandit"               # fields (defaults: their setting): n_arms = 30,
# arm_law ("exp_uniform" | "uniform" | "normal"), low = -100, high = 1, noise = 2 (reward σ),
# lifetime = 80, cutoff (default lifetime // 10), pulls = 10 (per inner step),
# objective ("lifetime" | "final"), task_count = 0 (a fresh task per repetition; M > 0: a fixed
# set of M tasks drawn from the problem seed), reference_runs, fd_runs, fd_epsilon (the targets)
[grid]
estimator = ["truncated", "dice", "es"]
eta0 = [0.5, 1.5, 2.5]        # the schedule η (problem axes, required)
eta1 = [0.5, 1.5, 2.5]
window = [2, 80]              # estimator parameters as usual
```

Rules:
- A scalar in `[grid]` is a one-element axis (`steps = 2` is `steps = [2]`).
- `steps`, `lr` (tabular, ipd) and `N` (toy) are axes of the problem, and so is `critic_noise`
  (tabular, optional: it replaces `problem.critic_noise`, which needs `critic = "noisy"`); every other axis is an
  estimator parameter and multiplies only the cells of the estimators that take it: with
  `estimator = ["maml", "es"]` and `split = ["lee", "lll"]`, `maml` gets two cells per
  point and `es` one, whose `split` is empty. An axis that no estimator of the grid takes
  is an error (most likely a typo).
- A cell is one estimator, one value of each axis that applies to it and one problem seed
  (`mdp_seed`: tabular, and ipd with `theta = "random"` or `"training"`). Its `cell_id` is a hash of its canonical key (problem
  settings, target, meta-parameter, estimator, parameter values, problem seed) and so
  does not depend on the order of the grid; `repetitions` and `seed` are not part of it.
- A suite is a file holding only `name`, `description` and `sweeps = [...]` (sweep files
  relative to it, or preset names); `load_sweeps` returns its sweeps, run one after another
  (the `default` preset is one).
- Parsing checks structure and types (and refuses integers of 2**63 or more, a value
  repeated in an axis as `1` and `1.0`, `steps` above 1000); checks that need the
  estimator registry (unknown estimator names, parameters an estimator does not take,
  parameter values refused by the estimator's `validate`, the practical target's need
  for critic `none` and an inner batch) run in `Sweep.check()`, called by `load_sweep`
  unless `check_estimators=False` and by `run_sweep`, so that a preset naming an
  estimator not written yet can still be listed. `Sweep.cells()` checks names and
  parameters only.

The modules of this package:
- `vocabulary`: `SweepError`, the vocabulary (keys, choices, defaults, axis names) and the
  value checks behind the one-line errors;
- `records`: `ProblemSettings`, `Cell`, `Sweep` (grid expansion, `quick()`, hashes,
  canonical TOML);
- `parsing`: plain data -> validated `Sweep` (`sweep_from_dict`);
- `loading`: TOML text, files, presets (`presets/*.toml`) and suites (`parse_sweep`,
  `load_sweep`, `load_sweeps`, `available_presets`, ...);
- `cells`: evaluating one cell (problem, target, estimates, statistics);
- `store`: the SQLite store of a sweep's results and its CSV export;
- `runner`: `run_sweep`, resuming, in parallel (joblib or Dask).
"""
