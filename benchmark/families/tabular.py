"""The tabular family: K inner policy-gradient steps on random tabular MDPs (Liu et al.'s `liu2022`
MDPs and any other), meta-parameters `init` (MAML) and `intrinsic` (LIRPG), the ideal and the
practical target, σ_in of the compositional bound. Estimates have shape `(S, A)`."""
from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable

import numpy as np

from benchmark.families.family import SAMPLE_SIZE_PARAMETERS, CompareSuite, Family, Target, integer_parameter, stable_hash
from benchmark.families.schema import SweepError, expect_choice, expect_int, expect_number, is_int, mdp_field
from estimators import MetaProblem, get_estimator
from estimators.tabular.problem import CRITICS
from mdps import LIU2022_ROLLOUT_LENGTH, liu2022_mdp, random_mdp

REWARD_LAWS = ("uniform", "normal", "bernoulli")
INITIAL_LAWS = ("first", "uniform", "dirichlet")
FIELDS = ("n_states", "n_actions", "gamma", "horizon", "concentration", "reward", "initial",
          "rollout_length", "critic", "critic_noise", "reference_repetitions")
DEFAULTS: dict[str, Any] = {"gamma": 0.9, "horizon": None, "concentration": 1.0, "reward": "uniform",
                            "initial": "first", "rollout_length": 20, "critic": "noisy", "critic_noise": 1.0}
PRESETS: dict[str, dict[str, Any]] = {
    # Liu et al. (2022), their tabular study (docs/methods.md, Problems with exact answers)
    "liu2022": {"n_states": 20, "n_actions": 5, "gamma": 0.8, "horizon": None, "concentration": 0.001,
                "reward": "uniform", "initial": "first", "rollout_length": LIU2022_ROLLOUT_LENGTH,
                "critic": "noisy", "critic_noise": 1.0},
}
SIGMA_IN_REPETITIONS = 4096
SIGMA_IN_STREAM = 2              # the spawn-key stream of σ_in (estimates 0, bootstrap 1: benchmark.sweeps.cells)
STANDARD_INNER_FAMILY = "maml"   # ĝ = Σ_t γᵗ A_t ∇log π_t with the problem's critic
# Repetitions per cell and problem instances of the `compare` suite: enough to resolve the
# baselines' compositional biases on split lee at every |τ| (docs/plugins.md gives the measurement).
COMPARE_REPETITIONS = 5000
COMPARE_INSTANCES = 3
COMPARE_SPLIT = "lee"            # the split the compositional bound speaks of


def tabular_field(name: str, value: Any) -> Any:
    """One `[problem]` field of a tabular problem, checked; a `SweepError` names it."""
    path = f"problem.{name}"
    if name in ("n_states", "n_actions", "rollout_length", "horizon", "gamma"):
        return mdp_field(name, value)
    if name == "reference_repetitions":
        return expect_int(path, value, minimum=2, what="an integer >= 2")
    if name in ("concentration",):
        return expect_number(path, value, positive=True, what="a positive number")
    if name == "critic_noise":
        noise = expect_number(path, value, what="a non-negative number")
        if noise < 0:
            raise SweepError(f"{path}: expected a non-negative number, got {value!r}")
        return noise
    choices = {"reward": REWARD_LAWS, "initial": INITIAL_LAWS, "critic": CRITICS}[name]
    return expect_choice(path, value, choices)


@functools.lru_cache(maxsize=64)
def tabular_mdp(fields: tuple[tuple[str, Any], ...], seed: int):
    """The random MDP of the resolved fields and problem seed (cached per process)."""
    values = dict(fields)
    return random_mdp(values["n_states"], values["n_actions"], seed=seed, gamma=values["gamma"],
                      horizon=values["horizon"], concentration=values["concentration"],
                      reward=values["reward"], initial=values["initial"])


def bench_mdp(cell):
    """The MDP of a tabular bench cell: `liu2022_mdp(0)` when S x A = 20 x 5, else a `random_mdp`
    of the same law (γ = 0.8, Dirichlet(0.001), uniform rewards, first state)."""
    if (cell.n_states, cell.n_actions) == (20, 5):
        return liu2022_mdp(0)
    return random_mdp(cell.n_states, cell.n_actions, seed=0, gamma=0.8, concentration=0.001,
                      reward="uniform", initial="first")


def inner_gradient_family(spec) -> tuple[str, Any]:
    """(surrogate family or `exact`, declared function or None) that forms σ_in for `spec`."""
    from estimators.tabular.surrogates import FAMILIES

    if spec.name in FAMILIES or spec.name == "exact":
        return spec.name, None
    declared = getattr(spec, "inner_gradient", None)
    if callable(declared):
        return "", declared
    if declared is not None:
        if declared not in FAMILIES:
            raise ValueError(f"inner_gradient: estimator {spec.name!r} declares {declared!r}; expected one of "
                             f"{FAMILIES} or a function (problem, repetitions, rng) -> (R, S, A)")
        return declared, None
    return STANDARD_INNER_FAMILY, None


class TabularFamily(Family):
    name = "tabular"
    description = "random tabular MDPs (Liu et al.'s liu2022 and any other): init (MAML) and intrinsic (LIRPG)"
    fields = FIELDS
    presets = PRESETS
    seeds_always_written = True
    meta_parameters = ("init", "intrinsic")
    targets = ("ideal", "practical")
    problem_axes = ("steps", "lr")
    optional_problem_axes = ("critic_noise",)      # σ_in as an axis: the noisy critic's scale, swept alone
    foreign_axes = {"N": "the batch size is grid.batch",
                    "eta0": "the schedule η needs a bandit problem", "eta1": "the schedule η needs a bandit problem"}
    estimate_shape = "(R, S, A): estimates of ∇_φ V(θ_K), φ = θ_0 (init) or η (intrinsic)"
    compare = CompareSuite(
        baselines=("dice", "lvc", "loaded", "maml"), primary="batch",
        axes={"batch": {"steps": 2, "lr": 3.0, "batch": [2, 4, 8, 16, 32, 64]},     # Liu et al.'s comp-* settings
              "lr": {"steps": 2, "lr": [1.0, 2.0, 3.0, 4.0, 5.0], "batch": 16},
              "steps": {"steps": [1, 2, 3, 4, 5], "lr": 3.0, "batch": 16}},
        problem={"kind": "tabular", "preset": "liu2022", "n_mdps": COMPARE_INSTANCES},
        repetitions=COMPARE_REPETITIONS, shared_parameters={"split": COMPARE_SPLIT},
        setting=f"the liu2022 MDPs, ideal target, on split {COMPARE_SPLIT} (sampled inner gradient, exact Hessian "
                f"and outer gradient: the split of the compositional bound)")

    def parse_problem(self, table):
        preset = table.get("preset")
        if preset is not None:
            preset = expect_choice("problem.preset", preset, tuple(PRESETS))
            base = dict(PRESETS[preset])
        else:
            for required in ("n_states", "n_actions"):
                if required not in table:
                    raise SweepError(f"problem.{required}: expected a positive integer "
                                     f"(or problem.preset = \"liu2022\"), got nothing")
            base = dict(DEFAULTS)
        overrides = tuple(name for name in FIELDS if name in table)
        return {**base, **{name: tabular_field(name, table[name]) for name in overrides}}, preset, overrides

    def estimator_setting(self, values):
        return {"critic": values.get("critic")}

    def check_sweep(self, sweep, parameters_of):
        """A `critic_noise` axis needs critic `noisy` and non-negative values; the practical target
        of a tabular problem needs critic `none` and an inner batch size."""
        if "critic_noise" in sweep.axes:
            for value in sweep.axes["critic_noise"]:
                tabular_field("critic_noise", value)
            if sweep.problem.values["critic"] != "noisy":
                raise SweepError(f"grid.critic_noise: expected problem.critic = \"noisy\" (the noise scale of the "
                                 f"noisy critic), got {sweep.problem.values['critic']!r}")
        if sweep.target != "practical":
            return
        critic = sweep.problem.values["critic"]
        if critic != "none":
            raise SweepError(f"problem.critic: expected 'none' with target = \"practical\" (a baseline that "
                             f"depends on the meta-parameter would need its own derivative), got {critic!r}")
        for name in sweep.estimators:
            parameters = {**parameters_of[name], **sweep.fixed_parameters.get(name, {})}
            if not any(size in parameters and (is_int(parameters[size]) or size in sweep.axes)
                       for size in ("n_inner", "batch")):
                raise SweepError(f"grid.estimator: {name!r} cannot be compared with target = \"practical\" "
                                 f"(it draws no inner batch: no 'batch' parameter)")

    def bytes_per_repetition(self, values, parameters, cell):
        """The estimators hold one batch of |τ| x T transitions at a time, about 16 (4 + 2A)
        bytes each (indices, rewards, scores, products; measured ~250 B for liu2022), plus
        K + 2 parameter-sized arrays."""
        transitions = integer_parameter(parameters, SAMPLE_SIZE_PARAMETERS) * int(values["rollout_length"])
        dimension = int(values["n_states"]) * int(values["n_actions"])
        return 2 * (16 * (4 + 2 * int(values["n_actions"])) * transitions
                    + 8 * 4 * dimension * (int(cell.axis("steps", 1)) + 2))

    def build_problem(self, values, cell, meta_parameter, kernel):
        """K inner steps of size α on the MDP of seed `mdp_seed` from θ_0 = 0, sampled with `kernel`."""
        mdp = tabular_mdp(tuple(sorted(values.items())), cell.mdp_seed)
        return MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=int(cell.axis("steps")),
                           lr=float(cell.axis("lr")), meta_parameter=meta_parameter,
                           rollout_length=values["rollout_length"], critic=values["critic"],
                           critic_noise=float(cell.axis("critic_noise", values["critic_noise"])), kernel=kernel)

    def target(self, sweep, cell, problem, parameters):
        """The exact meta-gradient (ideal) or `estimators.tabular.enumeration.practical_target` (practical)."""
        if sweep.target == "ideal":
            return Target(problem.exact_meta_gradient(), None, "exact")
        from estimators.tabular.enumeration import practical_target

        batch = parameters.get("n_inner") or parameters.get("batch")
        if not isinstance(batch, int):
            raise ValueError(f"target: 'practical' needs the inner batch size, but estimator "
                             f"{cell.estimator!r} has no 'batch' parameter")
        key = (tuple(sorted(sweep.problem.values.items())), cell.mdp_seed, int(cell.axis("steps")),
               float(cell.axis("lr")), sweep.meta_parameter, batch, sweep.seed)
        size = sweep.problem.values.get("reference_repetitions")      # else practical_target's default
        options = {} if size is None else {"reference_repetitions": size}
        return _cached_practical_target(key, lambda: practical_target(problem, batch=batch, seed=sweep.seed, **options))

    def sigma_in(self, sweep, cell, problem, spec, parameters):
        """σ_in, the standard deviation (root of the trace of the covariance) of the one-trajectory
        inner-gradient estimate at θ_0.

        How the inner gradient is formed (`inner_gradient_source`): the estimator's own
        surrogate family (dice, loaded, lvc, maml, first_order; `exact`: 0), else what it
        declares through `@register(..., inner_gradient=...)` (a family, or a function
        `(problem, repetitions, rng) -> (R, S, A)`), else the problem's standard inner
        policy-gradient estimate at the same critic, γᵗ A_t ∇log π (the `maml` family's ĝ).

        It depends on the problem instance and that estimate only (not on K, α or the
        batch), so it is drawn from a generator keyed by those alone and cached per process:
        every cell of a grid line gets the same σ_in, as a bound fit along the line needs.
        """
        from estimators.tabular.split import inner_gradient_std

        family, function = inner_gradient_family(spec)
        accepted = inspect.signature(inner_gradient_std).parameters
        chosen = tuple(sorted((name, value) for name, value in parameters.items()
                              if name in accepted and name not in ("problem", "family", "rng", "repetitions")))
        key = (sweep.seed, tuple(sorted(sweep.problem.canonical().items())), cell.mdp_seed, sweep.meta_parameter,
               cell.estimator, chosen, *((float(cell.axis("critic_noise")),) if "critic_noise" in cell.key else ()))
        value = _SIGMA_CACHE.get(key)
        if value is None:
            seed_key = int(stable_hash(repr(key))[:16], 16)
            rng = np.random.default_rng(np.random.SeedSequence(entropy=sweep.seed,
                                                               spawn_key=(seed_key, SIGMA_IN_STREAM)))
            if function is not None:
                gradients = np.asarray(function(problem, SIGMA_IN_REPETITIONS, rng), dtype=float)
                gradients = gradients.reshape(SIGMA_IN_REPETITIONS, -1)
                value = float(np.sqrt(gradients.var(axis=0, ddof=1).sum()))
            else:
                value = float(inner_gradient_std(problem, family, rng, repetitions=SIGMA_IN_REPETITIONS,
                                                 **dict(chosen)))
            if not math.isfinite(value):
                raise ValueError(f"sigma_in: the inner-gradient estimate of {cell.estimator!r} "
                                 f"({self.inner_gradient_source(spec)}) is not finite")
            if len(_SIGMA_CACHE) > 256:
                _SIGMA_CACHE.clear()
            _SIGMA_CACHE[key] = value
        return value

    def inner_gradient_source(self, spec) -> str:
        family, function = inner_gradient_family(spec)
        if family == spec.name:
            return f"its own {family} inner gradient" if family != "exact" else "exact inner steps (σ_in = 0)"
        if function is not None:
            return f"the inner-gradient function it declares ({getattr(function, '__name__', 'function')})"
        if getattr(spec, "inner_gradient", None) is not None:
            return f"the {family} inner gradient it declares"
        return ("the problem's standard inner policy-gradient estimate γᵗ A_t ∇log π with the problem's critic "
                "(it declares none)")

    def bench_call(self, cell):
        """The estimator with |τ| = `cell.batch` on `bench_mdp(cell)` from θ_0 = 0."""
        mdp = bench_mdp(cell)
        problem = MetaProblem(mdp, np.zeros((mdp.n_states, mdp.n_actions)), steps=cell.steps, lr=cell.lr,
                              rollout_length=cell.rollout_length, critic=cell.critic, kernel=cell.kernel,
                              meta_parameter=cell.meta_parameter)
        estimator = get_estimator(cell.estimator, self.name)
        return lambda repetitions, rng: estimator(problem, repetitions, rng, batch=cell.batch, **cell.parameters)

    def bench_samplers(self, cell):
        """The sampled transitions R x N x T of both kernels: numpy rollouts (`mdps.sample_trajectories`)
        and compiled batches (`estimators.tabular.fused.draw_compiled_batch`, counted once when drawn,
        however often a shared batch is rolled out again)."""
        from estimators.tabular.fused import draw_compiled_batch
        from mdps import sample_trajectories

        return [(sample_trajectories, lambda rollouts: rollouts.states.size, None, None),
                (draw_compiled_batch, lambda batch: batch.step_uniforms.size // 2, None, None)]

    def bench_samples_per_repetition(self, cell):
        return int(cell.batch) * int(cell.rollout_length)


_PRACTICAL_CACHE: dict[tuple, Target] = {}
_SIGMA_CACHE: dict[tuple, float] = {}


def _cached_practical_target(key: tuple, compute: Callable[[], tuple]) -> Target:
    """One practical target per (problem, batch, seed) and process: every estimator of a grid
    point is compared with the same reference (which may itself be an estimate, of
    `problem.reference_repetitions` sf estimates when the sweep sets it); `compute` gives
    (value, standard error, method) on a miss."""
    target = _PRACTICAL_CACHE.get(key)
    if target is None:
        value, standard_error, method = compute()
        target = Target(np.asarray(value, dtype=float), standard_error, str(method))
        if len(_PRACTICAL_CACHE) > 64:
            _PRACTICAL_CACHE.clear()
        _PRACTICAL_CACHE[key] = target
    return target


FAMILY = TabularFamily()
