"""Sweep files: strict validation with one-line errors naming the key, stable cell ids,
axes that multiply only the estimators taking them, presets, `quick`, canonical TOML."""
from __future__ import annotations

import pytest

from benchmark.sweeps.loading import available_presets, load_sweep, load_sweeps, parse_sweep, preset_description
from benchmark.families.schema import SweepError
from tests.conftest import tabular_sweep_text, toy_sweep_text

TOY = toy_sweep_text()
TABULAR = tabular_sweep_text()


def replace_line(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new)


BAD_SWEEPS = [
    # (description, text, expected start of the message)
    ("unknown top-level key", TOY.replace("seed = 0", "seed = 0\nrepetitons = 3"), "repetitons: unknown key"),
    ("repetitions of wrong type", TOY.replace("repetitions = 500", 'repetitions = "many"'), "repetitions: expected"),
    ("repetitions < 2", TOY.replace("repetitions = 500", "repetitions = 1"), "repetitions: expected an integer >= 2"),
    ("boolean as integer", TOY.replace("repetitions = 500", "repetitions = true"), "repetitions: expected"),
    ("missing name", TOY.replace('name = "toy"', ""), "name: expected"),
    ("name with a slash", TOY.replace('name = "toy"', 'name = "a/b"'), "name: expected"),
    ("bad target", TOY.replace("seed = 0", 'seed = 0\ntarget = "best"'), "target: expected 'ideal' or 'practical'"),
    ("empty axis", replace_line(TABULAR, "batch = [4, 16]", "batch = []"),
     "grid.batch: expected a non-empty list of positive integers, got []"),
    ("zero n_inner", replace_line(TABULAR, "batch = [4, 16]", "batch = [4, 16]\nn_inner = 0"),
     "grid.n_inner: expected a non-empty list of positive integers, got 0"),
    ("negative batch", replace_line(TABULAR, "batch = [4, 16]", "batch = [4, -1]"), "grid.batch: expected"),
    ("repeated axis value", replace_line(TABULAR, "batch = [4, 16]", "batch = [4, 4]"), "grid.batch: expected"),
    ("nested list", TOY.replace("N = [1, 4, 16]", "N = [[1, 2]]"), "grid.N: expected"),
    ("N on a tabular problem", TABULAR + "N = [2]\n", "grid.N: not an axis of tabular problems"),
    ("split on the toy", TOY + 'split = ["lee"]\n', "grid.split: not an axis of gaussian_toy problems"),
    ("steps on the toy", TOY + "steps = [1]\n", "grid.steps: not an axis of gaussian_toy problems"),
    ("intrinsic on the toy", TOY.replace("seed = 0", 'seed = 0\nmeta_parameter = "intrinsic"'), "meta_parameter:"),
    ("invalid split letters", replace_line(TABULAR, 'split = ["lll", "lee"]', 'split = ["lxe"]'), "grid.split: expected"),
    ("split too long", replace_line(TABULAR, 'split = ["lll", "lee"]', 'split = ["llll"]'), "grid.split: expected"),
    ("missing steps on tabular", replace_line(TABULAR, "steps = [1, 2]", ""), "grid.steps: expected"),
    ("missing N on the toy", TOY.replace("N = [1, 4, 16]", ""), "grid.N: expected"),
    ("missing estimator", TOY.replace('estimator = ["sf", "lsf", "pw"]', ""), "grid.estimator: expected"),
    ("unknown estimator", TOY.replace('"pw"', '"pathwise"'), "grid.estimator: unknown gaussian_toy estimator 'pathwise'"),
    ("toy estimator on a tabular problem", replace_line(TABULAR, '"test_plain"', '"test_noisy_toy"'),
     "grid.estimator: unknown tabular estimator 'test_noisy_toy'"),
    ("unknown problem key", TOY.replace("theta = 0.5", "theta = 0.5\nthetta = 1"), "problem.thetta: unknown key"),
    ("tabular key on the toy", TOY.replace("theta = 0.5", "theta = 0.5\nn_states = 3"), "problem.n_states: unknown key"),
    ("bad problem kind", TOY.replace('kind = "gaussian_toy"', 'kind = "toy"'), "problem.kind: expected"),
    ("bad gamma", replace_line(TABULAR, "gamma = 0.7", "gamma = 1.0"), "problem.gamma: expected a number in [0, 1)"),
    ("bad critic", replace_line(TABULAR, "gamma = 0.7", 'gamma = 0.7\ncritic = "oracle"'), "problem.critic: expected"),
    ("unknown preset", replace_line(TABULAR, "gamma = 0.7", 'gamma = 0.7\npreset = "liu2021"'), "problem.preset: expected"),
    ("n_mdps and mdp_seeds", replace_line(TABULAR, "n_mdps = 2", "n_mdps = 2\nmdp_seeds = [1]"), "problem.mdp_seeds:"),
    ("negative mdp seed", replace_line(TABULAR, "n_mdps = 2", "mdp_seeds = [-1]"), "problem.mdp_seeds: expected"),
    ("missing n_states", replace_line(TABULAR, "n_states = 3", ""), "problem.n_states: expected"),
    ("axis no estimator takes", TOY + "window = [1, 2]\n", "grid.window: not a parameter of any estimator"),
    ("parameter of the wrong type", TOY.replace('"pw"]', '"test_noisy_toy"]') + 'scale = ["big"]\n',
     "grid.scale: expected numbers"),
    ("boolean parameter given a number", TOY.replace('"pw"]', '"test_noisy_toy"]') + "bad = [1]\n",
     "grid.bad: expected booleans"),
    ("fixed parameters of an estimator not in the grid", TOY + "\n[estimator_params.dice]\nlambda_ = 0.5\n",
     "estimator_params.dice: expected an estimator of grid.estimator"),
    ("fixed parameter the estimator does not take", TOY + "\n[estimator_params.sf]\nscale = 2.0\n",
     "estimator_params.sf.scale: not a parameter of estimator 'sf'"),
    ("fixed parameter that is also an axis",
     TOY.replace('"pw"]', '"test_noisy_toy"]') + "scale = [1.0]\n[estimator_params.test_noisy_toy]\nscale = 2.0\n",
     "estimator_params.test_noisy_toy.scale: expected a parameter that is not also a grid axis"),
    ("grid not a table", TOY.replace("seed = 0", "seed = 0\ngrid = 3").split("[grid]")[0], "grid: expected a table"),
    ("not TOML", "name = ", "sweep:"),
]


@pytest.mark.parametrize("description, text, message", BAD_SWEEPS, ids=[case[0] for case in BAD_SWEEPS])
def test_bad_sweeps_are_refused_with_one_line_naming_the_key(write_sweep, description, text, message):
    with pytest.raises(SweepError) as error:
        load_sweep(write_sweep(text))
    assert str(error.value).startswith(message), str(error.value)
    assert "\n" not in str(error.value)


def test_the_valid_sweeps_of_these_tests_load(write_sweep):
    toy = load_sweep(write_sweep(TOY))
    tabular = load_sweep(write_sweep(TABULAR, "tab.toml"))
    assert len(toy.cells()) == 9
    assert tabular.problem.mdp_seeds == (0, 1)


def test_a_scalar_is_a_one_element_axis():
    sweep = parse_sweep(TABULAR)
    assert sweep.axes["lr"] == (0.5,)
    assert parse_sweep(TABULAR.replace("lr = 0.5", "lr = [0.5]")).sweep_hash == sweep.sweep_hash


def test_cell_ids_do_not_depend_on_the_order_of_the_grid():
    original = parse_sweep(TABULAR)
    reordered = parse_sweep(TABULAR
                            .replace('estimator = ["test_noisy_split", "test_plain"]',
                                     'batch = [16, 4]\nestimator = ["test_plain", "test_noisy_split"]')
                            .replace("batch = [4, 16]\n", "")
                            .replace('split = ["lll", "lee"]', 'split = ["lee", "lll"]')
                            .replace("steps = [1, 2]", "steps = [2, 1]"))
    first = {cell.cell_id: cell.key for cell in original.cells()}
    second = {cell.cell_id: cell.key for cell in reordered.cells()}
    assert first == second
    assert len(first) == len(original.cells())  # ids are unique


def test_cell_ids_change_with_what_changes_the_numbers():
    base = {cell.cell_id for cell in parse_sweep(TABULAR).cells()}
    for old, new in [("gamma = 0.7", "gamma = 0.75"), ("lr = 0.5", "lr = 0.6"), ("n_mdps = 2", "mdp_seeds = [5, 6]")]:
        changed = {cell.cell_id for cell in parse_sweep(TABULAR.replace(old, new)).cells()}
        assert not base & changed, old
    same = {cell.cell_id for cell in parse_sweep(TABULAR.replace("repetitions = 200", "repetitions = 300")).cells()}
    assert same == base  # R and the seed are not part of the key


def test_axes_multiply_only_the_estimators_that_take_them():
    cells = parse_sweep(TABULAR).cells()
    by_estimator: dict[str, list] = {}
    for cell in cells:
        by_estimator.setdefault(cell.estimator, []).append(cell)
    # test_noisy_split takes split and batch: 2 splits x 2 steps x 2 batches x 2 MDPs
    assert len(by_estimator["test_noisy_split"]) == 16
    # test_plain takes batch only: split does not multiply its cells and is absent from its key
    assert len(by_estimator["test_plain"]) == 8
    assert all("split" not in cell.key and "split" not in cell.parameters for cell in by_estimator["test_plain"])
    assert {cell.key["split"] for cell in by_estimator["test_noisy_split"]} == {"lll", "lee"}


def test_fixed_estimator_parameters_reach_the_cells_and_their_ids():
    text = TABULAR + "\n[estimator_params.test_noisy_split]\nlambda_ = 0.5\n"
    cells = [cell for cell in parse_sweep(text).cells() if cell.estimator == "test_noisy_split"]
    assert all(cell.parameters["lambda_"] == 0.5 and cell.key["lambda_"] == 0.5 for cell in cells)
    plain = {cell.cell_id for cell in parse_sweep(TABULAR).cells()}
    assert not {cell.cell_id for cell in cells} & plain


def test_integers_for_float_parameters_are_the_same_cells():
    text = TABULAR + "lambda_ = [1.0]\n"
    as_int = parse_sweep(text.replace("lambda_ = [1.0]", "lambda_ = [1]")).cells()
    assert [cell.cell_id for cell in as_int] == [cell.cell_id for cell in parse_sweep(text).cells()]
    assert all(isinstance(cell.parameters["lambda_"], float) for cell in as_int if "lambda_" in cell.parameters)


def test_preset_problem_fields_and_overrides():
    text = TABULAR.replace("n_states = 3\nn_actions = 2\ngamma = 0.7\nrollout_length = 4\n",
                           'preset = "liu2022"\ngamma = 0.9\n')
    sweep = parse_sweep(text)
    values = sweep.problem.values
    assert (values["n_states"], values["n_actions"], values["gamma"], values["concentration"]) == (20, 5, 0.9, 0.001)
    assert sweep.problem.label == "liu2022(gamma=0.9)"


def test_toml_round_trip_keeps_the_sweep():
    for text in (TOY, TABULAR + "\n[estimator_params.test_noisy_split]\nlambda_ = 0.5\n"):
        sweep = parse_sweep(text)
        again = parse_sweep(sweep.to_toml())
        assert again.sweep_hash == sweep.sweep_hash
        assert [cell.cell_id for cell in again.cells()] == [cell.cell_id for cell in sweep.cells()]


def test_quick_shrinks_every_axis():
    text = toy_sweep_text(repetitions=5000, N=tuple(2**k for k in range(11)))
    sweep = parse_sweep(text)
    quick = sweep.quick()
    assert quick.name == "toy-quick"
    assert quick.axes["N"] == (1, 32, 1024)
    assert quick.axes["estimator"] == sweep.axes["estimator"]
    assert quick.repetitions == 256
    tabular = parse_sweep(TABULAR.replace("batch = [4, 16]", "batch = [2, 4, 8, 16, 32]")
                          .replace("n_mdps = 2", "n_mdps = 10")).quick()
    assert tabular.axes["batch"] == (2, 4, 8)
    assert tabular.problem.mdp_seeds == (0, 1)
    assert quick.quick().name == "toy-quick"


@pytest.mark.parametrize("name", sorted(available_presets()))
def test_every_preset_parses_and_has_a_description(name):
    sweeps = load_sweeps(name, check_estimators=False)
    assert preset_description(name)
    if len(sweeps) == 1:
        assert sweeps[0].name == name
    assert all(sweep.quick().repetitions <= 256 for sweep in sweeps)


def test_presets_whose_estimators_exist_validate_fully():
    from estimators import available_estimators

    registered = {(spec.problem, spec.name) for spec in available_estimators()}
    checked = 0
    for name in available_presets():
        for sweep in load_sweeps(name, check_estimators=False):
            if all((sweep.problem.kind, estimator) in registered for estimator in sweep.estimators):
                sweep.check()
                assert sweep.cells()
                checked += 1
    assert checked >= 2  # at least the toy presets


def test_suites_name_their_sweeps(write_sweep, tmp_path):
    assert [sweep.name for sweep in load_sweeps("default", check_estimators=False)] == ["default"]   # one sweep
    write_sweep(TOY, "member.toml")
    suite = write_sweep('name = "s"\nsweeps = ["member.toml", "tang-toy"]\n', "suite.toml")
    assert [sweep.name for sweep in load_sweeps(suite)] == ["toy", "tang-toy"]
    with pytest.raises(SweepError, match="^sweep: '.*suite.toml' is a suite of sweeps"):
        load_sweep(suite)
    for text, message in [('name = "s"\nsweeps = []\n', "sweeps: expected a non-empty list"),
                          ('name = "s"\nsweeps = ["nope"]\n', "sweep: expected a TOML file or a preset"),
                          ('name = "s"\nseed = 1\nsweeps = ["member.toml"]\n', "seed: unknown key")]:
        with pytest.raises(SweepError, match=f"^{message}"):
            load_sweeps(write_sweep(text, "bad.toml"))


def test_unknown_preset_or_missing_file_is_a_sweep_error():
    with pytest.raises(SweepError, match="^sweep: expected a TOML file or a preset name"):
        load_sweep("no-such-preset")
    with pytest.raises(SweepError, match="^sweep: no such file"):
        load_sweep("missing/sweep.toml")
