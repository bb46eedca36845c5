"""Photon-ID metrics and figures (egcalib.photon_id.evaluation, egcalib.photon_id.plotting): the
ROC curve and its AUC against a brute-force pair count, working points on constructed scores,
Clopper-Pearson intervals, the working-point table and the data/MC scale factor."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import beta

from egcalib.photon_id.evaluation import (
    TABLE_METRICS,
    background_at_efficiency,
    bin_masks,
    binomial_interval,
    data_mc_efficiency,
    efficiency_at_background,
    roc_auc,
    roc_curve,
    working_point_table,
)
from egcalib.photon_id.plotting import efficiency_figure, roc_figure


def _brute_force_auc(scores, labels, weights):
    """Weighted fraction of (signal, background) pairs ordered right, ties 1/2."""
    s, b = labels == 1, labels == 0
    diff = scores[s][:, None] - scores[b][None, :]
    pair = weights[s][:, None] * weights[b][None, :]
    return ((diff > 0) * pair + 0.5 * (diff == 0) * pair).sum() / pair.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_is_the_mann_whitney_probability(seed):
    rng = np.random.default_rng(seed)
    n = 60
    labels = rng.integers(0, 2, n)
    scores = (rng.integers(0, 8, n) + labels).astype(float)  # ties within and across classes
    weights = rng.uniform(0.2, 3.0, n)
    assert roc_auc(scores, labels) == pytest.approx(_brute_force_auc(scores, labels, np.ones(n)))
    assert roc_auc(scores, labels, weights) == pytest.approx(
        _brute_force_auc(scores, labels, weights)
    )


def test_roc_curve_points():
    scores = np.array([0.9, 0.8, 0.8, 0.3, 0.1])
    labels = np.array([1, 1, 0, 1, 0])
    sig, bkg, thresholds = roc_curve(scores, labels)
    np.testing.assert_array_equal(thresholds, [np.inf, 0.9, 0.8, 0.3, 0.1])  # one per score
    np.testing.assert_allclose(sig, [0, 1 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(bkg, [0, 0, 0.5, 0.5, 1])
    assert roc_auc(scores, labels) == pytest.approx(4.5 / 6)  # pairs: 2 + (1 + 1/2) + 1 of 6
    assert roc_auc(np.arange(4.0), np.array([0, 0, 1, 1])) == 1.0
    assert roc_auc(np.arange(4.0), np.array([1, 1, 0, 0])) == 0.0
    with pytest.raises(ValueError, match="no background"):
        roc_curve(scores, np.ones(5, int))
    with pytest.raises(ValueError, match="non-finite"):
        roc_curve(np.array([0.1, np.nan]), np.array([0, 1]))


def test_working_points_on_constructed_scores():
    # Background scores 0..99, signal 50.5..149.5: no ties.
    labels = np.repeat([0, 1], 100)
    scores = np.r_[np.arange(100.0), np.arange(50.0, 150.0) + 0.5]
    # At most 10 % background: background 90..99 passes; the loosest such cut is at 89.5,
    # passing signal 89.5..149.5.
    sig, threshold = efficiency_at_background(scores, labels, 0.10)
    assert threshold == 89.5 and sig == pytest.approx(0.61)
    # 10.5 % is not a reachable point: the same cut.
    assert efficiency_at_background(scores, labels, 0.105) == (sig, threshold)
    # No background at all: the signal above the background, 99.5..149.5.
    sig, threshold = efficiency_at_background(scores, labels, 0.0)
    assert sig == pytest.approx(0.51) and threshold == 99.5
    # 60 % of the signal: the cut at 90.5, passing background 91..99.
    bkg, threshold = background_at_efficiency(scores, labels, 0.60)
    assert bkg == pytest.approx(0.09) and threshold == 90.5
    assert background_at_efficiency(scores, labels, 0.595) == (bkg, threshold)
    assert background_at_efficiency(scores, labels, 1.0) == (pytest.approx(0.49), 50.5)
    # Weights: signal above 100 counted three times (50 objects: 150 of 200).
    weights = np.where((labels == 1) & (scores > 100), 3.0, 1.0)
    sig, _ = efficiency_at_background(scores, labels, 0.0, weights)
    assert sig == pytest.approx(151 / 200)
    with pytest.raises(ValueError, match="outside"):
        efficiency_at_background(scores, labels, 1.5)


def test_binomial_interval_is_clopper_pearson():
    low, high = binomial_interval(7, 10)
    assert float(low) == pytest.approx(beta.ppf(0.1585, 7, 4))
    assert float(high) == pytest.approx(beta.ppf(0.8415, 8, 3))
    low, high = binomial_interval(np.array([0, 10, 3, 0]), np.array([10, 10, 10, 0]), cl=0.95)
    assert low[0] == 0 and high[1] == 1
    assert high[0] == pytest.approx(1 - 0.025 ** (1 / 10))  # closed form for k = 0
    assert low[2] < 0.3 < high[2]
    assert np.isnan(low[3]) and np.isnan(high[3])
    with pytest.raises(ValueError):
        binomial_interval(11, 10)


def test_bin_masks():
    masks = bin_masks(np.array([5.0, 10.0, 19.9, 20.0, np.nan, 45.0]), [10, 20, 40], "et")
    assert list(masks) == ["et_10_20", "et_20_40"]
    np.testing.assert_array_equal(masks["et_10_20"], [0, 1, 1, 0, 0, 0])
    np.testing.assert_array_equal(masks["et_20_40"], [0, 0, 0, 1, 0, 0])
    assert list(bin_masks(np.zeros(1), [0, 0.6, 1.37], "abs_eta")) == [
        "abs_eta_0_0.6",
        "abs_eta_0.6_1.37",
    ]
    with pytest.raises(ValueError, match="increasing"):
        bin_masks(np.zeros(1), [1, 0], "et")


def _toy(n=600, seed=3):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.5).astype(int)
    scores = rng.normal(size=n) + 2 * labels
    # A menu that uses half the information: noisier than the classifier.
    menu = scores + rng.normal(size=n) > 1.5
    return labels, scores, menu, rng


def test_working_point_table():
    labels, scores, menu, rng = _toy()
    n = len(labels)
    et = rng.uniform(10, 50, n)
    groups = {
        "inclusive": np.ones(n, bool),
        "signal_only": labels == 1,
        "empty": np.zeros(n, bool),
        **bin_masks(et, [10, 30, 50], "et"),
    }
    table = working_point_table(scores, labels, menu, groups)
    assert list(table["group"]) == list(groups)
    row = table.set_index("group").loc["inclusive"]
    assert row["n_signal"] == labels.sum() and row["n_background"] == n - labels.sum()
    menu_sig = menu[labels == 1].mean()
    menu_bkg = menu[labels == 0].mean()
    assert row["menu_signal_eff"] == pytest.approx(menu_sig)
    assert row["menu_background_eff"] == pytest.approx(menu_bkg)
    assert row["menu_signal_eff_low"] < menu_sig < row["menu_signal_eff_high"]
    assert row["menu_rejection"] == pytest.approx(1 / menu_bkg)
    assert row["id_signal_eff"] == pytest.approx(
        efficiency_at_background(scores, labels, menu_bkg)[0]
    )
    assert row["gain_points"] == pytest.approx(100 * (row["id_signal_eff"] - menu_sig))
    assert row["gain_points"] > 0  # the classifier sees the score without the menu's noise
    assert 0 < row["id_signal_eff_error"] < 0.1 and 0 < row["gain_points_error"] < 10
    assert row["id_background_eff"] <= menu_bkg
    assert row["auc"] == pytest.approx(roc_auc(scores, labels))
    for name, note in (("signal_only", "no background"), ("empty", "no signal and no background")):
        empty = table.set_index("group").loc[name]
        assert empty[list(TABLE_METRICS)].isna().all() and empty["note"] == note
    # Where the menu keeps no photon (a region it has no cuts for, as the crack), there is no
    # working point: not a 100-point gain.
    outside = working_point_table(scores, labels, np.zeros(n, bool), {"crack": np.ones(n, bool)})
    assert outside[list(TABLE_METRICS)].isna().all(axis=None)
    assert outside.loc[0, "note"] == "the menu keeps no signal"
    assert table.set_index("group").loc["et_10_30", TABLE_METRICS[0]] > 0
    again = working_point_table(scores, labels, menu, groups)  # fixed bootstrap seed
    assert again.equals(table)
    with pytest.raises(ValueError, match="mask"):
        working_point_table(scores, labels, menu, {"bad": np.ones(3, bool)})


def test_data_mc_efficiency_scale_factor():
    data = np.arange(200) < 160  # 80 %
    mc = np.arange(400) < 360  # 90 %
    out = data_mc_efficiency(data, mc)
    assert out["eff_data"] == pytest.approx(0.8) and out["eff_mc"] == pytest.approx(0.9)
    err = {}
    for kind, k, n in (("data", 160, 200), ("mc", 360, 400)):
        low, high = beta.ppf(0.1585, k, n - k + 1), beta.ppf(0.8415, k + 1, n - k)
        assert out[f"eff_{kind}_low"] == pytest.approx(low, rel=1e-6)
        assert out[f"eff_{kind}_high"] == pytest.approx(high, rel=1e-6)
        err[kind] = 0.5 * (high - low)
    sf = 0.8 / 0.9
    assert out["sf"] == pytest.approx(sf)
    expected = sf * np.sqrt((err["data"] / 0.8) ** 2 + (err["mc"] / 0.9) ** 2)
    assert out["sf_error"] == pytest.approx(expected, rel=1e-6)
    # Near the binomial errors sqrt(0.16 / 200) and sqrt(0.09 / 400); Clopper-Pearson is wider.
    binomial = sf * np.hypot(np.sqrt(0.16 / 200) / 0.8, np.sqrt(0.09 / 400) / 0.9)
    assert binomial < out["sf_error"] < 1.15 * binomial
    # Weighted MC: the weights change the efficiency.
    weights = np.where(mc, 1.0, 9.0)  # 360 vs 40 * 9 = 360: 50 %
    assert data_mc_efficiency(data, mc, weights)["eff_mc"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="MC efficiency 0"):
        data_mc_efficiency(data, np.zeros(10, bool))
    with pytest.raises(ValueError, match="data"):
        data_mc_efficiency(np.zeros(0, bool), mc)


def test_figures_written(tmp_path):
    labels, scores, menu, rng = _toy()
    n = len(labels)
    groups = {
        "inclusive": np.ones(n, bool),
        **bin_masks(rng.uniform(10, 50, n), [10, 20, 30, 50], "et"),
        "et_50_60": np.zeros(n, bool),  # an empty bin: a NaN row, left out
        **bin_masks(rng.uniform(0, 2.37, n), [0, 1.37, 2.37], "abs_eta"),
    }
    table = working_point_table(scores, labels, menu, groups)
    sig, bkg, _ = roc_curve(scores, labels)
    inclusive = table.set_index("group").loc["inclusive"]
    roc_figure(
        {"BDT": (sig, bkg), "noisy": roc_curve(scores + rng.normal(size=n), labels)[:2]},
        {"tight": (inclusive["menu_signal_eff"], inclusive["menu_background_eff"])},
        tmp_path / "roc.png",
    )
    efficiency_figure(table, "et", tmp_path / "et.png")
    efficiency_figure(table, "abs_eta", tmp_path / "eta.png")
    for name in ("roc.png", "et.png", "eta.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="mu"):
        efficiency_figure(table, "mu", tmp_path / "mu.png")
