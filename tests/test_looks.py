"""One look per estimator (benchmark.present.looks): fixed, distinct, and stable across runs."""
from __future__ import annotations

import os
import subprocess
import sys

from benchmark.present import plotting
from benchmark.present.looks import ESTIMATOR_NAMES, look
from estimators import available_estimators


def test_every_builtin_estimator_has_its_own_look():
    builtin = {spec.name for spec in available_estimators() if spec.function.__module__.startswith("estimators.")}
    assert builtin <= set(ESTIMATOR_NAMES)
    names = sorted(ESTIMATOR_NAMES)
    pairs = [(look(name).colour, look(name).marker) for name in names]
    assert len(set(pairs)) == len(pairs)
    assert len({look(name).colour for name in names}) == len(names)        # even the colours alone differ
    assert look("maml").name == "MAML (naive autodiff)" and look("dice", "lee").name == "DiCE, split lee"


def test_the_colour_does_not_depend_on_what_else_is_drawn():
    alone = plotting.colours(["maml"], estimators=True)
    crowd = plotting.colours(["dice", "sf", "maml", "lsf", "pw", "lvc"], estimators=True)
    assert alone["maml"] == crowd["maml"] == look("maml").colour
    assert plotting.colours(["lsf", "sf"], estimators=True) == {"lsf": look("lsf").colour, "sf": look("sf").colour}


def test_a_split_keeps_the_colour_and_sets_the_line_style():
    assert look("maml", "lll").colour == look("maml", "lee").colour == look("maml").colour
    assert look("maml", "lll").linestyle != look("maml", "lee").linestyle


def test_a_plugin_looks_the_same_in_every_process():
    code = "from benchmark.present.looks import look; l = look('my_plugin'); print(l.colour, l.marker)"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)}
    assert runs == {f"{look('my_plugin').colour} {look('my_plugin').marker}\n"}
