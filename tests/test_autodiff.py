"""Autodiff estimators (`estimators.register_surrogate`): surrogates written in JAX and PyTorch,
differentiated through K inner steps by mgbench.

The proof that the machinery is right: DiCE, Loaded DiCE(λ), LVC and MAML written as
surrogates (`docs/examples/surrogates_jax.py`, `surrogates_torch.py`) give the numbers of
the built-in closed forms (`get_estimator("dice")`, ...) on the same seed. Both paths draw
the same batches from the same stream (numpy's `draw_batch`), so the only differences are
floating-point rounding of two computations of the same sums (closed forms with cumulative
sums and `np.bincount` against autodiff; GAE by a filter against a matrix product; the exact
parts by LAPACK's and the framework's solves): ~1e-14 relative measured, so 1e-9 relative
(to the largest entry) leaves five orders of margin and still catches any wrong term (a
missing score product changes estimates at the 1e-2 level: `test_the_comparison_can_fail`).
"""
from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import mdps
from benchmark.cli import main
from estimators import get_estimator, load_estimator, register_surrogate
from estimators.autodiff import contract
from estimators.tabular import autodiff as tabular_autodiff
from estimators.tabular.problem import MetaProblem
from estimators.tabular.split import SPLITS
from estimators.tabular.surrogates import Surrogate, draw_batch

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
FRAMEWORKS = ("jax", "torch")
FAMILIES = {"dice": {}, "loaded": {"lambda_": 0.7}, "lvc": {}, "maml": {}}
RELATIVE = 1e-9

for _framework in FRAMEWORKS:
    load_estimator(str(EXAMPLES / f"surrogates_{_framework}.py"))


def small_problem(*, steps=2, critic="noisy", meta_parameter="init", horizon=None, length=4, kernel="numpy"):
    mdp = mdps.random_mdp(3, 2, seed=0, gamma=0.9, horizon=horizon, reward="uniform")
    theta0 = np.random.default_rng(1).normal(size=(3, 2)) * 0.5
    eta = np.random.default_rng(3).normal(size=(3, 2))
    return MetaProblem(mdp, theta0, steps=steps, lr=1.0, meta_parameter=meta_parameter,
                       intrinsic=eta if meta_parameter == "intrinsic" else None, rollout_length=length,
                       critic=critic, kernel=kernel)


def relative_error(built_in: np.ndarray, autodiff: np.ndarray) -> float:
    return float(np.max(np.abs(built_in - autodiff)) / np.max(np.abs(built_in)))


def mismatches(framework: str, family: str, cases) -> list[str]:
    """Each case `(problem, parameters)`: the built-in and the surrogate on the same seed; the failures."""
    failures = []
    for problem, parameters in cases:
        parameters = {**FAMILIES[family], **parameters}
        if family == "dice":
            parameters = {key: value for key, value in parameters.items() if key not in ("gae_lambda", "detach_critic")}
        built_in = get_estimator(family)(problem, 3, np.random.default_rng(11), batch=3, **parameters)
        autodiff = get_estimator(f"{framework}_{family}")(problem, 3, np.random.default_rng(11), batch=3, **parameters)
        assert autodiff.shape == built_in.shape == (3, 3, 2)
        error = relative_error(built_in, autodiff)
        if not error <= RELATIVE:
            failures.append(f"K={problem.steps} {problem.meta_parameter} critic={problem.critic} "
                            f"H={problem.mdp.horizon} {parameters}: relative error {error:.2e}")
    return failures


LIRPG = {"gae_lambda": 0.9, "detach_critic": False}   # LIRPG: GAE 0.9, the critic of r + η differentiated


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_every_split_equals_the_built_in_for_both_meta_parameters(framework, family):
    """K = 2, every split (shared Hessian batch too): `init` with the exact critic, `intrinsic`
    (LIRPG) with the noisy critic, GAE 0.9 and the differentiated critic."""
    init = small_problem(critic="exact")
    lirpg = small_problem(critic="noisy", meta_parameter="intrinsic")
    cases = [(init, {"split": split}) for split in SPLITS]
    cases += [(lirpg, {"split": split, **LIRPG}) for split in SPLITS]
    cases += [(problem, {"split": "lll", "shared": True, **extra}) for problem, extra in ((init, {}), (lirpg, LIRPG))]
    assert not mismatches(framework, family, cases)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_k_1_to_3_every_critic_and_finite_horizons_equal_the_built_in(framework, family):
    """K = 1 with critics none / exact / noisy for both meta-parameters (split lll), K = 3
    (splits lel and lll), and a finite horizon (truncated rollouts and whole episodes)."""
    cases = []
    for critic in ("none", "exact", "noisy"):
        cases.append((small_problem(steps=1, critic=critic), {"split": "lll"}))
        cases.append((small_problem(steps=1, critic=critic, meta_parameter="intrinsic"),
                      {"split": "lll", **(LIRPG if critic != "none" else {})}))
    cases.append((small_problem(steps=3, critic="exact"), {"split": "lel"}))
    cases.append((small_problem(steps=3, critic="noisy", meta_parameter="intrinsic"), {"split": "lll", **LIRPG}))
    # H = 3: truncated at T = 2 (bootstrapped with V_2), and whole episodes at T = 3
    cases.append((small_problem(critic="noisy", horizon=3, length=2), {"split": "lll"}))
    cases.append((small_problem(critic="noisy", meta_parameter="intrinsic", horizon=3, length=3),
                  {"split": "lll", **LIRPG}))
    assert not mismatches(framework, family, cases)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_same_stream_as_the_compiled_built_in_on_liu2022(framework):
    """Liu et al.'s setting (S = 20, A = 5, T = 20, noisy critic) with the default compiled
    kernel: the surrogate sees the batches the numba path draws."""
    mdp = mdps.liu2022_mdp(0)
    problem = MetaProblem(mdp, np.zeros((20, 5)), steps=1, lr=10.0, rollout_length=20, critic="noisy")
    built_in = get_estimator("dice")(problem, 4, np.random.default_rng(2), batch=8, split="lll")
    autodiff = get_estimator(f"{framework}_dice")(problem, 4, np.random.default_rng(2), batch=8, split="lll")
    assert relative_error(built_in, autodiff) <= RELATIVE


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_comparison_can_fail(framework):
    """MAML and LVC share ĝ and differ in Ĥ: a surrogate's missing score products show at ≫ 1e-9."""
    problem = small_problem(critic="exact")
    lvc = get_estimator("lvc")(problem, 3, np.random.default_rng(11), batch=3, split="lll")
    maml = get_estimator(f"{framework}_maml")(problem, 3, np.random.default_rng(11), batch=3, split="lll")
    assert relative_error(lvc, maml) > 1e-3
    other_seed = get_estimator(f"{framework}_lvc")(problem, 3, np.random.default_rng(12), batch=3, split="lll")
    assert relative_error(lvc, other_seed) > 1e-3


# ---------------------------------------------------------------------------- the IPD (LOLA)
def lola_problem(*, steps=2, critic="learned", kernel="numpy"):
    from estimators import LolaProblem
    from mdps import IteratedPrisonersDilemma

    return LolaProblem(IteratedPrisonersDilemma(gamma=0.96), np.random.default_rng(0).normal(size=5),
                       np.random.default_rng(1).normal(size=5), steps=steps, lr=0.3, rollout_length=6,
                       critic=critic, kernel=kernel)


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_lola_dice_as_a_two_player_surrogate_equals_the_closed_form(framework):
    """DiCE-LOLA with the critic's baseline as a surrogate: every split at K = 1 and 2 (critic
    `learned`), critics none / exact, a shared Hessian batch, and the compiled built-in's stream."""
    cases = [(lola_problem(steps=steps), {"split": split}) for steps in (1, 2) for split in SPLITS]
    cases += [(lola_problem(critic=critic), {"split": "lll"}) for critic in ("none", "exact")]
    cases += [(lola_problem(), {"split": "lll", "shared": True}), (lola_problem(kernel="compiled"), {"split": "lll"})]
    failures = []
    for problem, parameters in cases:
        built_in = get_estimator("lola_dice", "ipd")(problem, 3, np.random.default_rng(4), batch=4, **parameters)
        autodiff = get_estimator(f"{framework}_lola_dice", "ipd")(problem, 3, np.random.default_rng(4), batch=4,
                                                                  **parameters)
        assert autodiff.shape == built_in.shape == (3, 2, 5)
        error = relative_error(built_in, autodiff)
        if not error <= RELATIVE:
            failures.append(f"K={problem.steps} critic={problem.critic} {parameters}: {error:.2e}")
    assert not failures
    assert get_estimator(f"{framework}_lola_dice", "ipd").framework == framework


# ---------------------------------------------------------------------------- exact parts
@pytest.mark.parametrize("horizon", [None, 4])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_the_framework_value_function_and_its_derivatives_are_mdps(framework, horizon):
    """J, ∇J, Hv and ∂_η(∇J·v) = (∂occ/∂θ) v of the framework's exact value against `mdps` (≤ 1e-12)."""
    xp = contract.load_backend(framework)
    mdp = mdps.random_mdp(4, 3, seed=2, gamma=0.8, horizon=horizon, initial="uniform")
    rng = np.random.default_rng(0)
    thetas, vectors, eta = rng.normal(size=(2, 4, 3)), rng.normal(size=(2, 4, 3)), rng.normal(size=(4, 3))
    inner = mdp.with_rewards(mdp.rewards + eta)
    objective = tabular_autodiff.exact_objective(framework, mdp.gamma, horizon)
    model = tabular_autodiff.model_data(xp, mdp)
    etas = np.broadcast_to(eta, thetas.shape)
    gradients = xp.gradient_function(objective)(thetas, etas, {}, model)
    products, mixed = xp.product_function(objective)(thetas, etas, {}, model, vectors)
    for r in range(2):
        np.testing.assert_allclose(gradients[r], inner.gradient(thetas[r]), rtol=0, atol=1e-12)
        exact_products, exact_occupancy = inner.tangents(thetas[r], vectors[r][None])
        np.testing.assert_allclose(products[r], exact_products[0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(mixed[r], exact_occupancy[0], rtol=0, atol=1e-12)
        with xp.call_scope():
            values = tabular_autodiff.time_values(xp, xp.asarray(mdps.softmax_policy(thetas[r])),
                                                  xp.asarray(inner.rewards), xp.asarray(mdp.transitions),
                                                  mdp.gamma, horizon)
        np.testing.assert_allclose(xp.to_numpy(values), inner.time_state_values(thetas[r]), rtol=0, atol=1e-12)


@pytest.mark.parametrize("meta_parameter", ["init", "intrinsic"])
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_sigma_in_uses_the_surrogates_own_one_trajectory_gradient(framework, meta_parameter):
    problem = small_problem(critic="exact", meta_parameter=meta_parameter)
    spec = get_estimator(f"{framework}_lvc")
    gradients = spec.inner_gradient(problem, 50, np.random.default_rng(4))
    thetas = np.broadcast_to(problem.theta0, (50, 3, 2))
    batch = draw_batch(problem, thetas, 1, np.random.default_rng(4), rewards=problem.inner_mdp.rewards)
    np.testing.assert_allclose(gradients, Surrogate(batch, "lvc").gradient(), rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- registration and checks
def test_the_spec_records_the_framework_and_hashes_the_researchers_file():
    for framework in FRAMEWORKS:
        spec = get_estimator(f"{framework}_dice")
        assert spec.framework == framework and spec.bounds == ("compositional",)
        files = spec.source_files()
        assert files[f"surrogates_{framework}"] == EXAMPLES / f"surrogates_{framework}.py"
        assert {"estimators.tabular.autodiff", "estimators.autodiff.register", f"estimators.autodiff.{framework}_backend",
                "estimators.tabular.surrogates"} <= set(files)
        assert spec.parameters["split"] == "lll"
    assert get_estimator("jax_loaded").parameters["lambda_"] == 1.0
    assert get_estimator("dice").framework == "numpy"
    found = load_estimator(f"{EXAMPLES / 'surrogates_jax.py'}:jax_lvc")
    assert [spec.name for spec in found] == ["jax_lvc"]


def test_torch_surrogates_run_in_float64_and_leave_the_default_dtype_alone():
    import torch

    assert torch.get_default_dtype() == torch.float32
    get_estimator("torch_dice")(small_problem(), 2, np.random.default_rng(0), batch=2)
    assert torch.get_default_dtype() == torch.float32


@pytest.fixture
def scratch_registry():
    """The registry as it was before the test (the bad surrogates it registers are removed)."""
    from estimators import registry

    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def bad_surrogates(framework: str):
    """(surrogate, the words its error must contain)."""
    if framework == "jax":
        import jax.numpy as jnp

        return [(lambda batch: jnp.sum(batch.logp, axis=-1), "jax.Array of shape (2,)"),
                (lambda batch: np.sum(np.asarray(batch.rewards)), "numpy.float64"),
                (lambda batch: batch.nonexistent, "AttributeError")]
    import torch

    return [(lambda batch: torch.sum(batch.logp, dim=-1), "torch.Tensor of shape (2,)"),
            (lambda batch: float(batch.rewards.sum()), "builtins.float")]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_a_bad_surrogate_gets_one_line_before_any_cell_runs(framework, scratch_registry):
    for index, (function, words) in enumerate(bad_surrogates(framework)):
        register_surrogate(f"test_bad_{framework}_{index}", framework=framework, replace=True)(function)
        spec = get_estimator(f"test_bad_{framework}_{index}")
        with pytest.raises(ValueError, match="^surrogate: ") as caught:
            spec.check({}, {"kind": "tabular"})
        assert words in str(caught.value) and "\n" not in str(caught.value)


def test_the_wrong_framework_and_a_missing_framework_are_one_line(monkeypatch, scratch_registry):
    import jax.numpy as jnp

    @register_surrogate("test_jax_in_torch", framework="torch", replace=True)
    def jax_code(batch):
        return jnp.mean(jnp.asarray(batch.rewards.detach().numpy()))

    with pytest.raises(ValueError, match=r"^surrogate: .*jax\.Array.*expected a scalar, a 0-d float torch\.Tensor"):
        get_estimator("test_jax_in_torch").check({}, {"kind": "tabular"})
    monkeypatch.setattr(contract.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ValueError, match=r"^framework: jax is not installed; pip install 'mgbench\[jax\]'"):
        register_surrogate("test_missing", framework="jax")
    with pytest.raises(ValueError, match=r"^framework: expected one of \('jax', 'torch'\), got 'numpy'"):
        register_surrogate("test_missing", framework="numpy")


BAD_PLUGIN = '''
import jax.numpy as jnp
from estimators import register_surrogate

@register_surrogate("vector_surrogate", framework="jax", bounds=("compositional",))
def vector_surrogate(batch):
    return jnp.mean(batch.rewards * batch.logp, axis=0)
'''

FAILING_PLUGIN = '''
import jax.numpy as jnp
from estimators import register_surrogate

@register_surrogate("big_batch_fails", framework="jax")
def big_batch_fails(batch):
    if batch.logp.shape[0] > 2:
        raise RuntimeError("only two trajectories, please")
    return jnp.mean(batch.rewards * batch.logp)
'''


def test_compare_refuses_a_non_scalar_surrogate_with_exit_2_before_any_cell(tmp_path, capsys, scratch_registry):
    plugin = tmp_path / "vector_plugin.py"
    plugin.write_text(BAD_PLUGIN, encoding="utf-8")
    code = main(["compare", f"{plugin}:vector_surrogate", "--quick", "--quiet", "--jobs", "1",
                 "--out", str(tmp_path / "results"), "--reports", str(tmp_path / "reports")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert "surrogate: vector_surrogate returned jax.Array of shape (3,)" in err
    assert not list((tmp_path / "results").glob("*/results.csv"))


@pytest.mark.slow
def test_compare_quick_runs_a_surrogate_plugin_end_to_end(tmp_path, capsys):
    """`mgbench compare docs/examples/surrogates_torch.py:torch_lvc --quick`, as for a closed-form plug-in."""
    code = main(["compare", f"{EXAMPLES / 'surrogates_torch.py'}:torch_lvc", "--quick", "--quiet", "--against", "lvc",
                 "--out", str(tmp_path / "results"), "--reports", str(tmp_path / "reports"), "--jobs", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "comparison report:" in out and "torch_lvc is" in out
    report = tmp_path / "reports" / "compare-torch_lvc-quick"
    text = (report / "index.html").read_text(encoding="utf-8")
    assert "the inner-gradient function it declares" in text and "not finite" not in text
    import pandas as pd

    cells = pd.read_csv(tmp_path / "results" / "compare-torch_lvc-batch-quick" / "results.csv")
    assert set(cells.estimator) == {"torch_lvc", "lvc"} and (cells.status == "ok").all()
    assert np.isfinite(cells.sigma_in).all()


def test_a_surrogate_failing_in_a_cell_gives_failed_cells_with_the_reason(tmp_path, write_sweep, scratch_registry):
    from benchmark.sweeps.loading import load_sweep
    from benchmark.sweeps.runner import run_sweep
    from benchmark.sweeps.store import load_results

    plugin = tmp_path / "failing_plugin.py"
    plugin.write_text(FAILING_PLUGIN, encoding="utf-8")
    load_estimator(str(plugin))
    sweep = load_sweep(write_sweep(textwrap.dedent('''
        name = "surrogate_failures"
        seed = 1
        repetitions = 20
        [problem]
        kind = "tabular"
        n_states = 3
        n_actions = 2
        rollout_length = 3
        n_mdps = 1
        [grid]
        estimator = ["big_batch_fails"]
        batch = [2, 4]
        steps = 1
        lr = 0.5
        ''')))
    summary = run_sweep(sweep, tmp_path / "results", jobs=1, quiet=True, plugins=(str(plugin),))
    frame = load_results(summary.directory).sort_values("batch")
    assert list(frame.status) == ["ok", "failed"]
    assert "only two trajectories, please" in frame.error.iloc[1]


def test_list_shows_the_framework(capsys):
    code = main(["list", "--plugin", str(EXAMPLES / "surrogates_torch.py")])
    out = capsys.readouterr().out
    assert code == 0
    line = out.splitlines().index(next(line for line in out.splitlines() if line.strip().startswith("torch_dice")))
    assert "framework: torch" in out.splitlines()[line + 2]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


SWEEP_OF_LVC = '''
    name = "{name}"
    seed = 3
    repetitions = 64
    [problem]
    kind = "tabular"
    n_states = 4
    n_actions = 2
    rollout_length = 4
    critic = "noisy"
    n_mdps = 1
    [grid]
    estimator = ["lvc"]
    split = ["lll", "lee"]
    batch = [2, 4]
    steps = 2
    lr = 0.5
    '''


@pytest.mark.slow
@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_in_a_sweep_a_surrogate_gives_the_built_ins_numbers(framework, tmp_path, write_sweep, scratch_registry):
    """The done-when of the autodiff issue, in a sweep run as a user would: LVC written as a JAX
    or PyTorch surrogate gives every statistic of the built-in `lvc`'s cells within 1e-9 relative, on the same
    seed. A cell's random stream is keyed by its key, the estimator's name included, so the
    surrogate stands in under the built-in's name (registered with `replace=True`)."""
    import inspect

    from benchmark.sweeps.loading import load_sweep
    from benchmark.sweeps.runner import run_sweep
    from benchmark.sweeps.store import load_results

    def run(name: str):
        sweep = load_sweep(write_sweep(SWEEP_OF_LVC.format(name=name), f"{name}.toml"))
        return load_results(run_sweep(sweep, tmp_path / "results", jobs=1, quiet=True).directory).sort_values(
            ["split", "batch"]).reset_index(drop=True)

    built_in = run("built_in")
    (spec,) = load_estimator(f"{EXAMPLES / f'surrogates_{framework}.py'}:{framework}_lvc")
    register_surrogate("lvc", framework=framework, problem="tabular", replace=True)(inspect.unwrap(spec.function))
    assert get_estimator("lvc").framework == framework
    surrogate = run("surrogate")
    assert (built_in.status == "ok").all() and (surrogate.status == "ok").all() and len(built_in) == 4
    for column in ("bias2", "bias", "variance", "mse", "corr", "std_sum", "cosine", "bias_lo", "variance_hi"):
        np.testing.assert_allclose(surrogate[column], built_in[column], rtol=1e-9, atol=1e-12, err_msg=column)
