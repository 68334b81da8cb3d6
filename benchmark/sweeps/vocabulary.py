"""The vocabulary of sweep files: the top-level keys, choices, axis names and limits of the schema
documented in `benchmark.sweeps`. What a problem family's `[problem]` table holds (its fields,
defaults, presets, axes) is the family's own (`benchmark.families`); the one-line checks of
values are `benchmark.families.schema`.
"""
from __future__ import annotations

import re

TOP_LEVEL_KEYS = ("name", "description", "seed", "repetitions", "target", "meta_parameter",
                  "problem", "grid", "estimator_params")
TARGETS = ("ideal", "practical", "fd")
META_PARAMETERS = ("init", "intrinsic", "lr_schedule")
SEED_FIELDS = ("n_mdps", "mdp_seeds")
# Repetitions per estimator call: a cell's R repetitions run in blocks of this size (at most;
# see `benchmark.sweeps.cells.block_size`), and `mgbench bench` times calls of this size.
BLOCK_REPETITIONS = 64

ESTIMATOR_AXIS = "estimator"
SPLIT_PATTERN = re.compile(r"^[el]{3}$")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
AXIS_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PRESET_SUFFIX = ".toml"
SUITE_KEY = "sweeps"
SUITE_KEYS = ("name", "description", SUITE_KEY)
DEFAULT_MAX_CELLS = 100_000      # a larger grid is refused before anything runs (--max-cells)
MAX_STEPS = 1000                 # K: each cell costs O(K) exact steps; more is a typo, not a study

AXIS_EXPECTATIONS: dict[str, str] = {
    "estimator": "a non-empty list of estimator names",
    "split": "a non-empty list of three-letter splits of e (exact) and l (sampled) "
             "for inner, Hessian and outer, e.g. \"lee\"",
    "steps": "a non-empty list of positive integers",
    "lr": "a non-empty list of positive numbers",
    "batch": "a non-empty list of positive integers",
    "N": "a non-empty list of positive integers",
    "eta0": "a non-empty list of numbers (the schedule parameter of the first lifetime/10 steps)",
    "eta1": "a non-empty list of numbers (the schedule parameter of the remaining steps)",
    "n_inner": "a non-empty list of positive integers",
    "n_hessian": "a non-empty list of positive integers",
    "n_outer": "a non-empty list of positive integers",
}
GENERIC_EXPECTATION = "a non-empty list of numbers, booleans or strings"
