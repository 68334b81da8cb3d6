"""The plug-in registry: one function + one line, entry points, clear errors."""
from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import estimators.registry as registry
from estimators import MetaProblem, available_estimators, get_estimator, load_estimator, register


@pytest.fixture
def clean_registry():
    saved = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(saved)


def test_every_estimator_of_the_three_studies_is_registered():
    tabular = {spec.name for spec in available_estimators("tabular")}
    assert {"dice", "loaded", "lvc", "maml", "first_order", "exact", "sf", "sampling_correction", "lsf",
            "truncated", "es", "fd", "off_policy", "hessian_bias"} <= tabular
    assert {"sf", "lsf", "pw"} <= {spec.name for spec in available_estimators("gaussian_toy")}
    assert get_estimator("loaded").parameters["lambda_"] == 1.0


def test_unknown_names_and_parameters_are_clear_errors():
    with pytest.raises(ValueError, match=r"estimator: unknown tabular estimator 'nope' \(expected one of: .*dice"):
        get_estimator("nope")
    with pytest.raises(ValueError, match=r"window: not a parameter of estimator 'dice'"):
        get_estimator("dice")(None, 1, np.random.default_rng(0), window=2)


def test_one_function_and_one_line_register_an_estimator(clean_registry):
    @register("zero_test", problem="tabular", description="always zero")
    def zero(problem: MetaProblem, repetitions, rng, *, scale: float = 1.0):
        return np.zeros((repetitions, *problem.shape)) * scale

    spec = get_estimator("zero_test")
    assert spec.parameters == {"scale": 1.0} and spec.description == "always zero"
    with pytest.raises(ValueError, match="estimator: 'zero_test' is already registered"):
        register("zero_test", problem="tabular", description="again")(lambda p, r, g: None)


def test_loading_a_plugin_file_twice_registers_it_once(tmp_path, clean_registry):
    plugin = tmp_path / "plugin_twice.py"
    plugin.write_text(textwrap.dedent('''
        from estimators import register

        @register("twice_test", problem="gaussian_toy", description="twice")
        def twice(problem, repetitions, rng):
            return rng.standard_normal((repetitions, 1))
    '''))
    added = load_estimator(str(plugin))
    assert [spec.name for spec in added] == ["twice_test"]
    assert load_estimator(f"{plugin}:twice") == added        # not executed again, same spec
    with pytest.raises(ValueError, match="estimator module: cannot import 'no_such_module_xyz'"):
        load_estimator("no_such_module_xyz")


def test_entry_point_plugins_are_discovered(tmp_path, monkeypatch, clean_registry):
    """An installed package declaring `[mgbench.estimators]` is found without any import by the user."""
    (tmp_path / "mgbench_entry_plugin.py").write_text(textwrap.dedent('''
        from estimators import register

        @register("entry_point_test", problem="gaussian_toy", description="from an entry point")
        def entry(problem, repetitions, rng):
            return rng.standard_normal((repetitions, 1))
    '''))
    info = tmp_path / "mgbench_entry_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mgbench-entry-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[mgbench.estimators]\nexample = mgbench_entry_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_ENTRY_POINTS_LOADED", False)
    monkeypatch.delitem(sys.modules, "mgbench_entry_plugin", raising=False)
    assert "entry_point_test" in {spec.name for spec in available_estimators("gaussian_toy")}


def test_the_code_hash_covers_the_modules_an_estimate_runs_through():
    """`dice` runs through the split, the compiled kernels and the exact MDP maths, whatever
    package hub they are imported from; modules it never calls (the toy, the IPD's LOLA) are
    not part of it, so editing them recomputes nothing."""
    files = get_estimator("dice").source_files()
    assert {"estimators.tabular.split", "estimators.tabular.fused", "estimators.tabular.kernels", "estimators.tabular.surrogates",
            "mdps.tabular", "mdps.meta", "mdps.sampling"} <= set(files)
    assert not {"estimators", "mdps", "estimators.gaussian_toy.gradients", "estimators.ipd.lola", "estimators.ipd.kernels"} & set(files)
    assert all(path.is_file() for path in files.values())


def test_an_estimators_code_hash_covers_only_its_own_family_and_the_core():
    """An edit of another family's estimators or problem recomputes nothing: LOLA-DiCE runs through no
    module of the tabular or bandit estimators, the toy's SF through no module of the IPD, tabular or
    bandit problems or estimators (the family subpackages of `estimators/`)."""
    lola = set(get_estimator("lola_dice", "ipd").source_files())
    assert "estimators.ipd.lola" in lola
    assert not [name for name in lola if name.startswith(("estimators.tabular", "estimators.bandit"))]
    toy = set(get_estimator("sf", "gaussian_toy").source_files())
    assert "estimators.gaussian_toy.gradients" in toy and "mdps.gaussian_toy" in toy
    foreign = ("estimators.tabular", "estimators.bandit", "estimators.ipd", "mdps.ipd", "mdps.tabular",
               "mdps.bandits", "mdps.meta", "mdps.sampling", "mdps.ipd_sampling")
    assert not [name for name in toy if name.startswith(foreign)]
    truncated = set(get_estimator("truncated", "tabular").source_files())
    assert not [name for name in truncated if name.startswith(("estimators.bandit", "estimators.ipd"))]


def test_editing_a_module_the_plugin_imports_changes_its_hash(tmp_path, monkeypatch, clean_registry):
    """A plug-in package whose estimator calls a helper module: an edit of the helper changes
    the hash (the cells would be computed again), an edit of a module it never imports does not."""
    package = tmp_path / "hashed_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("SCALE = 1.0\n")
    (package / "unrelated.py").write_text("X = 1\n")
    (package / "plugin.py").write_text(textwrap.dedent('''
        from estimators import register
        from hashed_pkg.helper import SCALE

        @register("hashed_test", problem="gaussian_toy", description="hashed")
        def hashed(problem, repetitions, rng):
            return SCALE * rng.standard_normal((repetitions, 1))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    [spec] = load_estimator("hashed_pkg.plugin")
    assert set(spec.source_files()) >= {"hashed_pkg.plugin", "hashed_pkg.helper", "estimators.registry"}
    before = spec.source_hash()
    (package / "unrelated.py").write_text("X = 2\n")
    assert spec.source_hash() == before
    (package / "helper.py").write_text("SCALE = 2.0   # edited\n")
    assert spec.source_hash() != before


def test_hashing_the_code_imports_no_kernel():
    """The hashes are computed in the parent process of every sweep: reading the imports of the
    compiled kernels must not import them (numba costs ~1.5 s to import)."""
    import subprocess
    from pathlib import Path

    code = ("import sys\nfrom estimators import available_estimators\n"
            "for kind in ('tabular', 'gaussian_toy', 'ipd', 'bandit'):\n"
            "    for spec in available_estimators(kind):\n"
            "        assert len(spec.source_hash()) == 16\n"
            "print(sorted(name for name in ('numba', 'estimators.tabular.kernels', 'estimators.ipd.kernels')"
            " if name in sys.modules))\n")
    repository = str(Path(__file__).resolve().parents[1])
    process = subprocess.run([sys.executable, "-c", code], cwd=repository, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stderr
    assert process.stdout.strip() == "[]"
