"""Figures: the drawing functions on synthetic tables, the analyses against closed forms, and
`make_figures("all", quick=True)` end to end (every figure drawn, with data and labels)."""
from __future__ import annotations

import time
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

matplotlib.use("Agg")

from benchmark.present import plotting  # noqa: E402
from benchmark.present.looks import estimator_label
from benchmark.studies import figure_specs, make_figures, STUDIES, study_names  # noqa: E402
from benchmark.analysis.aggregation import seed_summary  # noqa: E402
from benchmark.studies.simulations import run_simulation  # noqa: E402
from benchmark.studies.spec import FigureData  # noqa: E402
from benchmark.sweeps.loading import available_presets, load_sweep  # noqa: E402
from benchmark.present.looks import look  # noqa: E402

QUICK_BUDGET_SECONDS = 300      # `mgbench figures all --quick` on 2 cores (docs/figures.md, Run times)


def _plotted(ax) -> int:
    """Number of drawn data artists with at least one point."""
    lines = [line for line in ax.get_lines() if len(line.get_xdata()) > 0]
    return len(lines) + len(ax.collections)


def _check_figure(figure) -> None:
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert visible, "no axes"
    for ax in visible:
        assert _plotted(ax) > 0, f"empty panel {ax.get_title()!r}"
        assert ax.get_xlabel(), f"panel {ax.get_title()!r} has no x label"
    assert any(ax.get_ylabel() for ax in visible), "no y label"
    assert figure.legends, "no legend"


# ----------------------------------------------------------------------------- plotting

def _synthetic(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for estimator, exponent in (("lsf", -1.0), ("pw", -0.5)):
        for split in ("lee", "lll"):
            for batch in (2, 4, 8, 16):
                bias = batch ** exponent * (1 + 0.05 * rng.standard_normal())
                rows.append({"estimator": estimator, "split": split, "batch": batch, "bias": bias,
                             "bias_lo": 0.0 if batch == 16 else 0.8 * bias, "bias_hi": 1.2 * bias,
                             "variance": 1.0 / batch, "variance_lo": 0.9 / batch, "variance_hi": 1.1 / batch})
    return pd.DataFrame(rows)


def test_metric_vs_axis_draws_lines_bands_bounds_and_labels(tmp_path):
    frame = _synthetic()
    bound = pd.DataFrame({"batch": [2, 16], "bound": [0.6, 0.075], "estimator": "lsf", "label": "fitted C/|τ|"})
    figure = plotting.metric_vs_axis(frame, "batch", "bias", hue="estimator", facet="split", bound=bound,
                                     logx=True, logy=True)
    _check_figure(figure)
    first = figure.axes[0]
    assert first.get_xscale() == "log" and first.get_yscale() == "log"
    assert first.get_xlabel() == "batch size |τ| (trajectories)"
    assert first.get_ylabel() == plotting.METRIC_LABELS["bias"]
    assert [ax.get_title() for ax in figure.axes] == ["split lee", "split lll"]
    texts = [text.get_text() for text in figure.legends[0].get_texts()]
    assert {"LSF", "PW", "fitted C/|τ|"} <= set(texts)
    dashed = [line for line in first.get_lines() if line.get_linestyle() == "--"]
    assert len(dashed) == 1 and dashed[0].get_color() == look("lsf").colour
    from matplotlib.collections import PolyCollection
    assert sum(isinstance(c, PolyCollection) for c in first.collections) == 2      # one band per estimator
    # batch 16 is unresolved (bias_lo = 0): not on the trend line, an upper limit at bias_hi instead
    solid = [line for line in first.get_lines() if line.get_linestyle() == "-" and len(line.get_xdata()) > 1]
    assert solid and all(16 not in list(line.get_xdata()) for line in solid)
    hollow = [line for line in first.get_lines() if line.get_markerfacecolor() == "white"]
    lsf16 = frame[(frame.estimator == "lsf") & (frame.split == "lee") & (frame.batch == 16)]["bias_hi"].item()
    assert any(list(line.get_xdata()) == [16] and np.isclose(line.get_ydata()[0], lsf16) for line in hollow)
    paths = plotting.save_figure(figure, tmp_path, "synthetic")
    assert [path.suffix for path in paths] == [".png", ".pdf"] and all(path.stat().st_size > 1000 for path in paths)


def test_metric_vs_axis_several_metrics_one_row_each():
    figure = plotting.metric_vs_axis(_synthetic(), "batch", ["bias", "variance"], hue="estimator",
                                     logx=True, logy=[True, True])
    _check_figure(figure)
    assert [ax.get_ylabel() for ax in figure.axes] == [plotting.METRIC_LABELS["bias"], plotting.METRIC_LABELS["variance"]]


def test_frontier_and_optimisation_curves_draw_what_they_are_given():
    frame = _synthetic()
    frame["family"] = frame["split"]
    highlight = frame.iloc[:1].assign(label="ES")
    figure = plotting.frontier(frame, hue="family", order="batch", annotate="batch", facet="estimator",
                               highlight=highlight, reference=[(0.01, "target standard error")])
    _check_figure(figure)
    assert "ES" in [text.get_text() for text in figure.legends[0].get_texts()]
    curves = pd.DataFrame({"estimator": "sf", "iteration": np.arange(5), "objective": -np.arange(5.0)[::-1],
                           "objective_lo": -np.arange(5.0)[::-1] - 0.1, "objective_hi": -np.arange(5.0)[::-1] + 0.1})
    figure = plotting.optimisation_curves(curves, optimum=pd.DataFrame({"value": [0.0], "label": ["maximum"]}))
    _check_figure(figure)


def test_frontier_labels_several_points_of_one_estimator_and_keeps_their_colour_off_the_curves():
    """ES at four windows: one legend entry, each point labelled with its window, points
    drawn on top of each other share one label (`L=41, 61`); no curve takes ES's colour."""
    curves = pd.DataFrame({"family": np.repeat(["a", "b", "c", "d", "e", "f", "g"], 2), "lambda_c": [0.0, 1.0] * 7,
                           "variance": np.tile([1e-3, 1.0], 7), "bias": np.tile([1e-2, 1e-1], 7),
                           "bias_lo": 1e-3, "bias_hi": 1.0})
    es = pd.DataFrame({"variance": [100.0, 20.0, 6.0, 7.0], "bias": [0.5, 0.2, 0.15, 0.16], "bias_lo": 0.1,
                       "bias_hi": [0.4, 0.3, 0.2, 0.2], "label": "ES", "look": "es",
                       "note": ["L=2", "L=21", "L=61", "L=41"]})
    figure = plotting.frontier(curves, hue="family", order="lambda_c", highlight=es, highlight_annotate="note")
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert sorted(texts) == ["L=2", "L=21", "L=41, 61"]
    assert [text.get_text() for text in figure.legends[0].get_texts()].count("ES") == 1
    drawn = {matplotlib.colors.to_hex(line.get_color()) for line in figure.axes[0].get_lines()
             if line.get_linestyle() == "-"}
    assert look("es").colour not in drawn and len(drawn) == 7


def test_frontier_draws_a_point_without_upper_limits_with_arrows_instead_of_dropping_it():
    """A bias not resolved from 0 and without an upper limit ([0, ∞], e.g. DiCE on Vuorio et al.'s
    bandit, whose estimates have no variance) is a hollow marker at its estimate with arrows both
    ways; a resolved bias or a variance without upper limit gets an arrow, not a missing whisker."""
    curve = pd.DataFrame({"variance": [1e-3, 5e-3], "variance_lo": [8e-4, 4e-3], "variance_hi": [1.2e-3, np.inf],
                          "bias": [0.03, 0.021], "bias_lo": [0.02, 0.016], "bias_hi": [0.04, np.inf],
                          "lambda_c": [0.0, 1.0], "family": ["mg", "mg"]})
    dice = pd.DataFrame({"variance": [18.8], "variance_lo": [5.0], "variance_hi": [np.inf], "bias": [0.036],
                         "bias_lo": [0.0], "bias_hi": [np.inf], "label": ["DiCE"], "look": ["dice"]})
    figure = plotting.frontier(curve, x="variance", y="bias", hue="family", order="lambda_c", highlight=dice)
    ax = figure.axes[0]
    hollow = [line for line in ax.get_lines() if line.get_markerfacecolor() == "white"]
    assert any(list(line.get_xdata()) == [18.8] and np.isclose(line.get_ydata()[0], 0.036) for line in hollow)
    from matplotlib.markers import CARETDOWNBASE, CARETRIGHTBASE, CARETUPBASE
    carets = [line.get_marker() for line in ax.get_lines()]
    # DiCE up and down and to the right; the open-ended point up and to the right
    assert (carets.count(CARETUPBASE), carets.count(CARETDOWNBASE), carets.count(CARETRIGHTBASE)) == (2, 1, 2)


def test_estimator_labels_follow_the_papers():
    assert estimator_label("maml") == "MAML (naive autodiff)"
    assert estimator_label("loaded") == "Loaded DiCE"
    assert estimator_label("truncated", window=8, lambda_c=0.0, jacobian="dice", steps=8) == "DiCE"
    assert estimator_label("truncated", window=2, lambda_c=0.5, steps=8) == "truncated (L=2, λ_c=0.5)"
    assert estimator_label("dice", split="lll") == "DiCE, split lll"


# ----------------------------------------------------------------------------- analyses

def test_seed_summary_means_with_bootstrap_over_seeds_or_the_cell_interval():
    frame = pd.DataFrame({"estimator": "maml", "batch": [2, 2, 2, 4], "mdp_seed": [0, 1, 2, 0],
                          "corr": [0.2, 0.4, 0.6, 0.9], "corr_lo": [np.nan] * 4, "corr_hi": [np.nan] * 4,
                          "bias": [1.0, 2.0, 3.0, 5.0], "bias_lo": [0.5, 1.5, 2.5, 4.0], "bias_hi": [1.5, 2.5, 3.5, 6.0]})
    summary = seed_summary(frame, ["estimator", "batch"], ["corr", "bias"]).set_index("batch")
    assert summary.loc[2, "corr"] == pytest.approx(0.4) and summary.loc[2, "n_mdps"] == 3
    assert 0.2 <= summary.loc[2, "corr_lo"] < 0.4 < summary.loc[2, "corr_hi"] <= 0.6
    assert (summary.loc[4, "bias_lo"], summary.loc[4, "bias_hi"]) == (4.0, 6.0)
    again = seed_summary(frame, ["estimator", "batch"], ["corr", "bias"]).set_index("batch")
    assert again.loc[2, "corr_lo"] == summary.loc[2, "corr_lo"]          # seeded bootstrap


def test_seed_summary_averages_bias_as_squares_so_noise_stays_unresolved():
    """Unresolved cells (bias2 around 0, bias clipped positive) must not average to a resolved bias."""
    noise = pd.DataFrame({"estimator": "sf", "batch": 1, "mdp_seed": range(6), "target_norm": 2.0,
                          "bias2": [-0.01, 0.012, -0.008, 0.009, -0.011, 0.008]})
    noise["bias"] = np.sqrt(noise["bias2"].clip(lower=0))
    noise["rel_bias"] = noise["bias"] / noise["target_norm"]
    noise["bias_lo"], noise["bias_hi"] = 0.0, 0.2
    summary = seed_summary(noise, ["estimator", "batch"], ["bias", "rel_bias"]).iloc[0]
    assert summary["bias"] == 0.0 and summary["bias_lo"] == 0.0 < summary["bias_hi"]
    assert noise["bias"].mean() > 0.04           # what a plain mean would have drawn
    positive = noise.assign(bias2=noise["bias2"].abs())   # every cell's noise positive, none resolved
    assert seed_summary(positive, ["estimator", "batch"], ["bias"]).iloc[0]["bias_lo"] == 0.0
    biased = noise.assign(bias2=noise["bias2"] + 0.25, bias_lo=0.4, bias_hi=0.6)
    summary = seed_summary(biased, ["estimator", "batch"], ["bias", "rel_bias"]).iloc[0]
    assert summary["bias"] == pytest.approx(np.sqrt(0.25 + noise["bias2"].mean()))
    assert summary["rel_bias"] == pytest.approx(summary["bias"] / 2.0)
    assert 0 < summary["bias_lo"] < summary["bias"] < summary["bias_hi"]


def _closed_form_toy_cells() -> pd.DataFrame:
    """Cells of the tang-toy sweep with the exact moments (θ = 0.5, σ = 1, c = 1)."""
    from estimators import ToyProblem
    from estimators.gaussian_toy.gradients import sf_variance
    from mdps import GaussianToy

    rows = []
    for n in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
        problem = ToyProblem(GaussianToy(1.0, 1.0), theta=0.5, n_samples=n)
        for estimator, bias, variance in (("lsf", 2 * 0.5 / n, 1.0 / n), ("sf", 0.0, sf_variance(problem)),
                                          ("pw", 0.0, 4.0 / n)):
            rows.append({"estimator": estimator, "N": n, "mdp_seed": pd.NA, "bias": bias, "bias_lo": 0.98 * bias,
                         "bias_hi": 1.02 * bias + 1e-4, "variance": variance, "variance_lo": 0.98 * variance,
                         "variance_hi": 1.02 * variance, "preset": "tang-toy"})
    return pd.DataFrame(rows)


def test_tang_comparison_reads_the_closed_form_rates():
    from benchmark.studies import tang2022

    data = FigureData(_closed_form_toy_cells(), {"tang-toy": load_sweep("tang-toy")}, quick=False)
    comparison = tang2022.compare_bias_variance(data)
    # LSF bias 1/N (slides): tight; 1/√N (abstract): a looser upper bound, consistent;
    # LSF variance 1/N: tight; SF variance N/16 + 3.5 + 15/N on N >= 32 grows slower than N
    # over the range (slope < 1, exact data): consistent with O(N).
    assert [row["verdict"] for row in comparison.details] == ["tight", "consistent", "tight", "consistent"]
    # each slope with its cells: the closed-form cells are all resolved
    assert comparison.details[0]["slope [95%] (cells)"].endswith("(11 resolved, 0 censored, 0 excluded)")
    assert "(11 resolved, 0 censored, 0 excluded) vs the bound's exponent -1" in comparison.text
    assert comparison.verdict == "agrees"
    _check_figure(tang2022.draw_bias_variance(data))


def test_tang_optimisation_settles_at_the_predicted_fixed_points(tmp_path):
    """LSF's mean drift −2(θ − c) − 2θ/N vanishes at θ = cN/(N + 1); PW's at θ = c."""
    from benchmark.studies import tang2022

    run = run_simulation(tang2022.OPTIMISATION_SIMULATION, quick=True, results_dir=tmp_path, jobs=1)
    runs, settings = run.table, run.settings
    assert run.computed == len(tang2022.optimisation_units(True)) and run.stored == 0
    tail = runs[runs["iteration"] >= 80]
    for n in settings["N"].split(", "):
        n = int(n)
        lsf = tail[(tail["estimator"] == "lsf") & (tail["N"] == n)]["theta"].mean()
        pw = tail[(tail["estimator"] == "pw") & (tail["N"] == n)]["theta"].mean()
        assert lsf == pytest.approx(n / (n + 1), abs=0.1 if n == 1 else 0.05)
        assert pw == pytest.approx(1.0, abs=0.05)
    fresh = pd.concat([function(**kwargs) for function, kwargs in tang2022.optimisation_units(True).values()],
                      ignore_index=True)
    pd.testing.assert_frame_equal(runs, fresh, check_exact=True)    # seeded through SeedSequence; stored exactly
    again = run_simulation(tang2022.OPTIMISATION_SIMULATION, quick=True, results_dir=tmp_path, jobs=2)
    assert again.computed == 0 and again.stored == run.computed
    pd.testing.assert_frame_equal(again.table, runs, check_exact=True)
    parallel = run_simulation(tang2022.OPTIMISATION_SIMULATION, quick=True, results_dir=tmp_path / "p", jobs=2)
    assert parallel.computed == run.computed
    pd.testing.assert_frame_equal(parallel.table, runs, check_exact=True)   # any number of workers
    data = FigureData(runs, {}, quick=True, settings=settings)
    _check_figure(tang2022.draw_optimisation(data))
    assert tang2022.compare_optimisation(data).text


def test_every_figure_names_existing_presets():
    presets = available_presets()
    for study in STUDIES:
        for spec in figure_specs(study):
            assert spec.reproduces and spec.claim and spec.filename
            for preset in spec.sweeps:
                assert preset in presets, f"{study}/{spec.filename}: no preset {preset!r}"
                load_sweep(preset)          # valid against the estimator registry
    assert study_names("all") == STUDIES
    with pytest.raises(ValueError, match="study"):
        study_names("liu")


# ----------------------------------------------------------------------------- end to end

@pytest.mark.slow
def test_make_figures_all_quick_draws_every_figure(tmp_path, monkeypatch):
    drawn = {}
    save = plotting.save_figure

    def checked_save(figure, directory, stem, **kwargs):
        _check_figure(figure)
        drawn[f"{Path(directory).name}/{stem}"] = True
        return save(figure, directory, stem, **kwargs)

    monkeypatch.setattr(plotting, "save_figure", checked_save)
    full_page = tmp_path / "reports" / "tang2022.html"          # a full run's page: a quick run leaves it alone
    full_page.parent.mkdir(parents=True)
    full_page.write_text("full run", encoding="utf-8")
    start = time.perf_counter()
    paths = make_figures("all", quick=True, jobs=2, results_dir=tmp_path / "results", reports_dir=tmp_path / "reports")
    elapsed = time.perf_counter() - start
    print(f"make_figures('all', quick=True, jobs=2): {elapsed:.1f} s")
    assert elapsed < QUICK_BUDGET_SECONDS
    expected = {f"{study}-quick/{spec.filename}" for study in STUDIES for spec in figure_specs(study)}
    assert set(drawn) == expected
    for name in expected:
        for suffix in (".png", ".pdf"):
            path = tmp_path / "reports" / "figures" / f"{name}{suffix}"
            assert path in paths and path.stat().st_size > 1000
    for study in STUDIES:
        page = (tmp_path / "reports" / f"{study}-quick.html").read_text(encoding="utf-8")
        for spec in figure_specs(study):
            assert f"figures/{study}-quick/{spec.filename}.png" in page
            assert "Published claim" in page and "Our numbers" in page and "Not drawn" not in page
        assert "Quick run" in page and "256 estimates per cell" in page     # banner; the settings actually run
        assert not (tmp_path / "reports" / "figures" / study).exists()
        simulated = [spec for spec in figure_specs(study) if spec.simulation is not None]
        assert ("rows simulated</td>" in page) == bool(simulated)         # a simulation's rows are not cells
    assert full_page.read_text(encoding="utf-8") == "full run"
    assert (tmp_path / "reports" / "all-quick.html").exists() and not (tmp_path / "reports" / "all.html").exists()
    # a second call resumes: nothing is recomputed
    start = time.perf_counter()
    make_figures("tang2022", quick=True, jobs=2, results_dir=tmp_path / "results", reports_dir=tmp_path / "again")
    assert time.perf_counter() - start < elapsed


def test_seed_summary_gives_no_across_instance_interval_for_two_instances():
    """A '95% interval' over 2 MDPs would be the range of two numbers: the cells' own are pooled instead."""
    frame = pd.DataFrame({"estimator": "maml", "batch": 2, "mdp_seed": [0, 1], "bias2": [1.0, 4.0],
                          "bias": [1.0, 2.0], "bias_lo": [0.5, 1.0], "bias_hi": [1.5, 3.0],
                          "variance": [1.0, 3.0], "variance_lo": [0.8, 2.0], "variance_hi": [1.2, 4.0]})
    row = seed_summary(frame, ["estimator", "batch"], ["bias", "variance"]).iloc[0]
    assert row["interval"] == "cells' own" and row["n_mdps"] == 2
    assert row["bias"] == pytest.approx(np.sqrt(2.5))
    assert (row["bias_lo"], row["bias_hi"]) == pytest.approx((np.sqrt(0.625), np.sqrt(5.625)))
    assert (row["variance_lo"], row["variance_hi"]) == pytest.approx((1.4, 2.6))
