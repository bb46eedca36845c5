"""ATLAS shower-shape variables (egcalib.core.shower_shapes) on hand-built cell windows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from egcalib.core.shower_shapes import (
    delta_e,
    e_ratio,
    f1,
    f_side,
    hadronic_leakage,
    r_eta,
    r_had,
    r_had1,
    r_phi,
    shower_shapes,
    w_eta2,
    w_s3,
    w_stot,
)

CELL = 0.025


def _middle(n=1):
    return np.zeros((n, 7, 11))


def test_single_cell_deposit_is_fully_contained_and_has_no_width():
    middle = _middle()
    middle[0, 3, 5] = 40.0
    strips = np.zeros((1, 56, 5))
    strips[0, 28, 2] = 10.0
    shapes = shower_shapes({"lr1": strips, "lr2": middle})
    assert shapes["r_eta"][0] == pytest.approx(1.0)
    assert shapes["r_phi"][0] == pytest.approx(1.0)
    assert shapes["w_eta2"][0] == pytest.approx(0.0, abs=1e-12)
    assert shapes["w_s3"][0] == pytest.approx(0.0, abs=1e-12)
    # One strip: no width, nothing beside the core, no second maximum.
    assert shapes["w_stot"][0] == pytest.approx(0.0, abs=1e-12)
    assert shapes["f_side"][0] == pytest.approx(0.0, abs=1e-12)
    assert shapes["delta_e"][0] == 0.0
    assert shapes["e_ratio"][0] == 1.0
    # Without the cluster's layer energies there is no f1 and no R_had.
    assert "f1" not in shapes and "r_had1" not in shapes and "r_had" not in shapes


def test_uniform_window():
    middle = np.ones((2, 7, 11))
    assert np.allclose(r_eta(middle), 3 / 7)  # 3x7 of 7x7
    assert np.allclose(r_phi(middle), 3 / 7)  # 3x3 of 3x7
    # Three equal rows at -1, 0, +1 cells: variance 2/3 cell^2.
    assert np.allclose(w_eta2(middle), CELL * np.sqrt(2 / 3))


def test_gaussian_in_eta_gives_its_integrated_ratios():
    sigma = 0.6  # cells
    edges = np.arange(-3.5, 4.0, 1.0)
    rows = 0.5 * np.diff(erf(edges / (np.sqrt(2) * sigma)))  # (7,) fraction per eta row
    middle = _middle()
    middle[0, :, 5] = 50.0 * rows
    assert r_eta(middle)[0] == pytest.approx(rows[2:5].sum() / rows.sum())
    # The width over the three central rows: sqrt(2 e1 / (2 e1 + e0)) cells.
    expected = CELL * np.sqrt(2 * rows[2] / (2 * rows[2] + rows[3]))
    assert w_eta2(middle)[0] == pytest.approx(expected)
    # A wider Gaussian leaks more outside the 3 central rows: R_eta falls, w_eta2 rises.
    wider = _middle()
    rows_wide = 0.5 * np.diff(erf(edges / (np.sqrt(2) * 1.1 * sigma)))
    wider[0, :, 5] = 50.0 * rows_wide
    assert r_eta(wider)[0] < r_eta(middle)[0]
    assert w_eta2(wider)[0] > w_eta2(middle)[0]


def test_width_uses_the_energy_weighted_mean():
    middle = _middle()
    middle[0, 3, 5] = 10.0
    middle[0, 4, 5] = 10.0  # shared between two rows: mean at +0.5 cell, width 0.5 cell
    assert w_eta2(middle)[0] == pytest.approx(0.5 * CELL)
    # Energy in phi outside the 3x5 block does not enter w_eta2 but does enter R_phi.
    middle[0, 3, 0] = 100.0
    assert w_eta2(middle)[0] == pytest.approx(0.5 * CELL)
    assert r_phi(middle)[0] == pytest.approx(1.0)
    middle[0, 3, 2] = 20.0  # inside 3x7, outside 3x3
    assert r_phi(middle)[0] == pytest.approx(20.0 / 40.0)


def test_strip_width_around_the_hottest_strip():
    strips = np.zeros((1, 56, 5))
    strips[0, 27, :] = 2.0  # hottest strip, spread over phi (summed)
    strips[0, 26, 1] = 5.0
    strips[0, 28, 3] = 5.0
    strips[0, 40, 2] = 50.0  # far from the centre: not the cluster's strip, outside the three
    assert w_s3(strips)[0] == pytest.approx(np.sqrt(10.0 / 20.0))


def test_empty_windows_give_nan_and_bad_shapes_raise():
    assert np.isnan(r_eta(_middle())[0]) and np.isnan(w_eta2(_middle())[0])
    assert np.isnan(w_s3(np.zeros((1, 56, 5)))[0])
    with pytest.raises(ValueError, match="no centred 7 x 7"):
        r_eta(np.ones((1, 5, 11)))


def _strips(energies, n=1, phi=2):
    """(n, 56, 5) strip windows with ``energies`` {strip: GeV} in phi cell ``phi`` of each."""
    strips = np.zeros((n, 56, 5))
    for strip, energy in energies.items():
        strips[:, strip, phi] = energy
    return strips


# Strip 28 is the first of the right half: the central middle cell holds strips 24..31, and its
# centre lies between strips 27 and 28. Strip k's centre sits (k + 0.5) / 8 - 3.5 middle cells
# from the window centre.
TWO_PEAKS = {25: 2.0, 26: 10.0, 27: 3.0, 28: 1.0, 29: 2.5, 30: 4.0, 31: 1.0, 20: 1.5}


def test_two_separated_peaks_give_delta_e_and_e_ratio():
    # Maxima 10 GeV (strip 26) and 4 GeV (strip 30), least strip between them 1 GeV (28); strip
    # 20's 1.5 GeV is a lower local maximum, and the empty strips outside lie lower than the
    # valley but not between the peaks.
    strips = _strips(TWO_PEAKS)
    assert delta_e(strips)[0] == pytest.approx(4.0 - 1.0)
    assert e_ratio(strips)[0] == pytest.approx((10.0 - 4.0) / (10.0 + 4.0))
    # The second peak to the left of the first gives the same.
    mirrored = _strips({52 - k: e for k, e in TWO_PEAKS.items()})
    assert delta_e(mirrored)[0] == pytest.approx(3.0)
    assert e_ratio(mirrored)[0] == pytest.approx(6.0 / 14.0)


def test_without_a_second_maximum_delta_e_is_0_and_e_ratio_1():
    single = _strips({27: 3.0, 28: 10.0, 29: 3.0})
    assert delta_e(single)[0] == 0.0 and e_ratio(single)[0] == 1.0
    # A shoulder (a plateau of two equal strips) is not hotter than both its neighbours.
    shoulder = _strips({27: 3.0, 28: 10.0, 29: 5.0, 30: 5.0})
    assert delta_e(shoulder)[0] == 0.0 and e_ratio(shoulder)[0] == 1.0
    # A negative local maximum (noise) is not a maximum either.
    noise = _strips({28: 10.0, 31: -3.0, 32: -1.0, 33: -3.0})
    assert delta_e(noise)[0] == 0.0 and e_ratio(noise)[0] == 1.0


def test_maxima_are_searched_in_atlas_strip_window():
    # Outside the 40 strips of the central 5 middle cells (strip 7 is 2.56 cells out) a hotter
    # strip is ignored, and so is a peak in a phi cell outside +-0.098 (cell 0 is 4.4 middle cells
    # out); phi cells 1 and 3 (2.2 cells out) are summed in.
    strips = _strips({28: 6.0}, phi=1) + _strips({28: 4.0}, phi=3)  # 10 GeV in strip 28
    strips += _strips({7: 50.0, 48: 30.0}) + _strips({32: 8.0}, phi=0)
    assert delta_e(strips)[0] == 0.0
    assert e_ratio(strips)[0] == 1.0
    strips += _strips({33: 2.0}, phi=3)  # a second peak of 2 GeV, no valley energy
    assert delta_e(strips)[0] == pytest.approx(2.0 - 0.0)
    assert e_ratio(strips)[0] == pytest.approx(8.0 / 12.0)
    # Inside the 40 (strip 47 is 2.44 cells out), a hotter strip is the first maximum.
    strips += _strips({47: 20.0})
    assert e_ratio(strips)[0] == pytest.approx((20.0 - 10.0) / (20.0 + 10.0))


def test_total_strip_width_over_the_20_central_strips():
    # Symmetric about i_max = 28: sum E d^2 = 2 (1 * 2^2 + 2 * 1^2) = 12 over sum E = 10.
    core = {26: 1.0, 27: 2.0, 28: 4.0, 29: 2.0, 30: 1.0}
    assert w_stot(_strips(core))[0] == pytest.approx(np.sqrt(12.0 / 10.0))
    # The 20 strips are 18..37 (centres within 1.25 middle cells of the centre): 0.5 GeV in
    # strips 18 (d = -10) and 37 (d = 9) count, in 17 and 38 they do not.
    edges = {**core, 17: 0.5, 18: 0.5, 37: 0.5, 38: 0.5}
    expected = np.sqrt((12.0 + 0.5 * 10**2 + 0.5 * 9**2) / 11.0)
    assert w_stot(_strips(edges))[0] == pytest.approx(expected)
    # The 20 stay centred on the central middle cell, not on i_max: with i_max = 30, strip 18
    # (d = -12) counts and strip 38 (d = 8) does not.
    shifted = {k + 2: e for k, e in core.items()} | {18: 0.5, 38: 0.5}
    expected = np.sqrt((12.0 + 0.5 * 12**2) / 10.5)
    assert w_stot(_strips(shifted))[0] == pytest.approx(expected)
    # A wider shower is wider.
    wide = {k: 0.5 * e for k, e in core.items()} | {24: 1.0, 32: 1.0}
    assert w_stot(_strips(wide))[0] > w_stot(_strips(core))[0]


def test_f_side_from_known_strip_energies():
    # i_max = 28: E(+-1) = 4 + 10 + 2 = 16; E(+-3) adds 1 + 1.5 + 0.5 + 1 = 4 (strips 25, 26,
    # 30, 31); strips 24 and 32 lie outside the seven.
    strips = _strips(
        {24: 7.0, 25: 1.0, 26: 1.5, 27: 4.0, 28: 10.0, 29: 2.0, 30: 0.5, 31: 1.0, 32: 3.0}
    )
    assert f_side(strips)[0] == pytest.approx(4.0 / 16.0)


def _four_layers(n=1):
    return {
        "lr0": np.zeros((n, 7, 5)),
        "lr1": np.zeros((n, 56, 5)),
        "lr2": np.zeros((n, 7, 11)),
        "lr3": np.zeros((n, 7, 11)),
    }


def test_f1_is_the_strips_share_of_the_cluster():
    # cl_E0 .. cl_E3: presampler 1, strips 6, middle 12, back 1 GeV; an empty cluster has none.
    e_layers = np.array([[1.0, 6.0, 12.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    shares = f1(e_layers)
    assert shares[0] == pytest.approx(6.0 / 20.0) and np.isnan(shares[1])
    cells = _four_layers(2)
    assert shower_shapes(cells, e_layers)["f1"][0] == pytest.approx(6.0 / 20.0)
    with pytest.raises(ValueError, match="cluster layer energies"):
        f1(e_layers[:, :3])


def test_hadronic_leakage_ratios_and_atlas_choice_by_eta():
    e_cluster = np.array([50.0, 20.0, 40.0, 40.0, 10.0, 0.0])
    e_had1 = np.array([0.5, 1.0, -0.2, 0.4, 0.1, 1.0])
    e_had = np.array([1.0, 2.0, 0.1, 0.8, 0.3, 1.0])
    leak1 = r_had1(e_had1, e_cluster)
    leak = r_had(e_had, e_cluster)
    np.testing.assert_allclose(leak1[:5], [0.01, 0.05, -0.005, 0.01, 0.01])
    np.testing.assert_allclose(leak[:5], [0.02, 0.1, 0.0025, 0.02, 0.03])
    assert np.isnan(leak1[5]) and np.isnan(leak[5])  # no cluster energy
    # R_had1 below |eta| 0.8, R_had from 0.8 up to 1.37 (both signs), R_had1 from 1.37 on.
    eta = np.array([0.5, -1.0, 1.37, 0.8, -0.79, np.nan])
    chosen = hadronic_leakage(leak1, leak, eta)
    np.testing.assert_allclose(chosen[:5], [0.01, 0.1, -0.005, 0.02, 0.01])
    assert np.isnan(chosen[5])
    with pytest.raises(ValueError, match="one length"):
        r_had1(e_had1[:3], e_cluster)
    with pytest.raises(ValueError, match="one length"):
        hadronic_leakage(leak1, leak, eta[:2])


def test_shower_shapes_gives_r_had_over_the_cluster_energy():
    cells = _four_layers(2)
    e_layers = np.array([[0.0, 4.0, 16.0, 0.0], [0.0, 4.0, 40.0, 0.0]])  # 20 and 44 GeV
    shapes = shower_shapes(
        cells, e_layers, e_had1=np.array([0.2, 0.44]), e_had=np.array([0.4, 1.1])
    )
    np.testing.assert_allclose(shapes["r_had1"], [0.01, 0.01])
    np.testing.assert_allclose(shapes["r_had"], [0.02, 0.025])
    np.testing.assert_allclose(shapes["f1"], [0.2, 4.0 / 44.0])
    assert list(shapes) == [
        "r_had1",
        "r_had",
        "r_eta",
        "r_phi",
        "w_eta2",
        "f1",
        "w_s3",
        "w_stot",
        "f_side",
        "delta_e",
        "e_ratio",
    ]
    assert "r_had" not in shower_shapes(cells, e_layers, e_had1=np.array([0.2, 0.44]))
    with pytest.raises(ValueError, match="e_layers"):
        shower_shapes(cells, e_had=np.ones(2))


def test_strip_variables_are_per_object():
    # Two peaks, one peak and an empty window in one batch: each row keeps its own answer.
    strips = np.concatenate(
        [_strips(TWO_PEAKS), _strips({27: 3.0, 28: 10.0, 29: 3.0}), _strips({})]
    )
    np.testing.assert_allclose(delta_e(strips), [3.0, 0.0, np.nan])
    np.testing.assert_allclose(e_ratio(strips), [6.0 / 14.0, 1.0, np.nan])
    np.testing.assert_allclose(w_stot(strips)[1], np.sqrt(6.0 / 16.0))
    np.testing.assert_allclose(f_side(strips)[1:], [0.0, np.nan])


def test_empty_windows_give_nan_for_the_photon_variables():
    cells = _four_layers()
    shapes = shower_shapes(cells, np.zeros((1, 4)), e_had1=np.zeros(1), e_had=np.zeros(1))
    for name in ("r_had1", "r_had", "f1", "w_stot", "f_side", "delta_e", "e_ratio"):
        assert np.isnan(shapes[name][0]), name
    with pytest.raises(ValueError, match="strip windows"):
        w_stot(np.zeros((56, 5)))
