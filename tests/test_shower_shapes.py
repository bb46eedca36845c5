"""ATLAS shower-shape variables (egcalib.core.shower_shapes) on hand-built cell windows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from egcalib.core.shower_shapes import r_eta, r_phi, shower_shapes, w_eta2, w_s3

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
