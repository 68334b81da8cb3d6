"""`mgbench sweep --kernel`: the same sweep gives the same numbers with the compiled kernel and
the numpy path (`run_sweep(kernel=...)`, the CLI flag), and a bad kernel name is one clear error.

Tolerance: the estimates agree bit for bit with critic `none` and to ~1e-14 relative with the
exact and noisy critics (the compiled critic's Bellman solve sums in another order;
`tests/test_fused_kernel.py`). Every reported number is a smooth function of the estimates
(means, variances, their bootstrap intervals on the same resamples), so 1e-9 relative is
a bound with a wide margin, not a guess that could hide a different random stream: a stream
that differed would move the numbers at the scale of their standard errors (~1e-2 here).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark import load_results, run_sweep
from benchmark.cli import main
from benchmark.sweeps.loading import parse_sweep
from benchmark.families.schema import SweepError

SWEEP = """
name = "{name}"
seed = 5
repetitions = 150

[problem]
kind = "tabular"
n_states = 3
n_actions = 2
gamma = 0.8
rollout_length = 4
critic = "{critic}"
n_mdps = 1

[grid]
estimator = {estimators}
steps = [1, 2]
lr = 0.5
batch = 3
"""


def _run(tmp_path, monkeypatch, name: str, critic: str, names: str, kernel: str) -> pd.DataFrame:
    """Run in this process (jobs = 1) and check which path drew the batches."""
    from estimators.tabular import inner_paths, split

    compiled_draws = []
    for module in (split, inner_paths):
        def counting(*args, original=module.draw_compiled_batch, **kwargs):
            compiled_draws.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(module, "draw_compiled_batch", counting)
    sweep = parse_sweep(SWEEP.format(name=name, critic=critic, estimators=names))
    run_sweep(sweep, tmp_path / kernel, jobs=1, quiet=True, kernel=kernel)
    assert bool(compiled_draws) == (kernel == "compiled")
    monkeypatch.undo()
    frame = load_results(tmp_path / kernel / name)
    assert (frame.status == "ok").all(), frame.error.tolist()
    return frame.drop(columns=["seconds", "finished_at"]).sort_values("cell_id").reset_index(drop=True)


@pytest.mark.parametrize("critic, estimators", [("noisy", '["loaded", "dice", "lvc"]'), ("none", '["sf", "lsf"]')])
def test_the_same_sweep_gives_the_same_numbers_on_either_kernel(tmp_path, monkeypatch, critic, estimators):
    compiled = _run(tmp_path, monkeypatch, f"kernels-{critic}", critic, estimators, "compiled")
    numpy = _run(tmp_path, monkeypatch, f"kernels-{critic}", critic, estimators, "numpy")
    numeric = [column for column in compiled.columns if pd.api.types.is_float_dtype(compiled[column])]
    assert len(numeric) > 5
    pd.testing.assert_frame_equal(compiled.drop(columns=numeric), numpy.drop(columns=numeric))
    np.testing.assert_allclose(compiled[numeric].to_numpy(float), numpy[numeric].to_numpy(float),
                               rtol=1e-9, atol=1e-12, equal_nan=True)


def test_a_bad_kernel_is_one_clear_error(tmp_path, capsys):
    sweep = parse_sweep(SWEEP.format(name="bad", critic="none", estimators='["sf"]'))
    with pytest.raises(SweepError, match="kernel"):
        run_sweep(sweep, tmp_path, jobs=1, quiet=True, kernel="fortran")
    assert main(["sweep", "default", "--kernel", "fortran", "--out", str(tmp_path)]) == 2
    assert "--kernel" in capsys.readouterr().err
