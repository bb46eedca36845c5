"""In-situ energy scale of data from Z -> ee: per-|eta| scale factors, as data are calibrated
before their resolution is compared.

Data electrons are measured with a scale E_data = E (1 + alpha_i) in |eta| bin i. The Z peak of
events with electrons in bins i and j then sits at m_MC sqrt((1 + alpha_i)(1 + alpha_j)), so with
beta = log(1 + alpha) the log of the data / MC peak ratio of category (i, j) is
(beta_i + beta_j) / 2: the alphas follow from all categories by weighted least squares. This is
the Z-based calibration of ATLAS (Eur. Phys. J. C 74 (2014) 3071, section 9.1: alpha_i from
m_ee in (eta_i, eta_j) categories), with category medians in place of its lineshape templates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

log = logging.getLogger(__name__)

ITERATIONS = 4  # the median in a fixed window is pulled by a shifted peak: re-centre and repeat
MIN_EVENTS = 20  # per category in data and in MC


def _categories(masses: pd.DataFrame, edges) -> np.ndarray:
    """(n,) category index i * n_bins + j (i <= j) of each event's two |eta| bins; -1 outside."""
    n_bins = len(edges) - 1
    bins = [np.digitize(np.abs(masses[c].to_numpy()), edges) - 1 for c in ("eta1", "eta2")]
    low, high = np.minimum(*bins), np.maximum(*bins)
    inside = (low >= 0) & (high < n_bins)
    return np.where(inside, low * n_bins + high, -1)


def _medians(mass, category, n_categories, window):
    """Median mass [GeV] and count of each category inside ``window``; NaN where empty."""
    keep = (mass > window[0]) & (mass < window[1]) & (category >= 0)
    frame = pd.DataFrame({"c": category[keep], "m": mass[keep]})
    grouped = frame.groupby("c")["m"]
    medians = np.full(n_categories, np.nan)
    counts = np.zeros(n_categories, int)
    medians[grouped.median().index] = grouped.median().to_numpy()
    counts[grouped.size().index] = grouped.size().to_numpy()
    return medians, counts


def scale_factors(
    data: pd.DataFrame,
    mc: pd.DataFrame,
    column: str,
    edges: npt.ArrayLike,
    window: tuple[float, float] = (80.0, 100.0),
) -> np.ndarray:
    """alpha per |eta| bin (len(edges) - 1,) of the data energies in ``column``.

    ``data`` and ``mc`` are Z -> ee events (egcalib.evaluate.masses.dielectron_masses: m_ee [GeV] in
    ``column``, the electrons' eta in eta1 and eta2); ``edges`` are |eta| bin edges. Categories
    with fewer than MIN_EVENTS events in data or MC are left out; a bin that no kept category
    reaches gets alpha 0 (logged). Raises ValueError for edges that are not increasing.
    """
    edges = np.asarray(edges, float)
    if len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"evaluation.insitu_eta_edges: |eta| edges must increase, got {edges.tolist()}"
        )
    n_bins = len(edges) - 1
    n_categories = n_bins * n_bins
    data_category, mc_category = _categories(data, edges), _categories(mc, edges)
    mc_median, mc_count = _medians(mc[column].to_numpy(float), mc_category, n_categories, window)
    i, j = np.divmod(np.arange(n_categories), n_bins)
    data_mass = data[column].to_numpy(float)
    beta = np.zeros(n_bins)
    for _ in range(ITERATIONS):
        shift = np.exp(-(beta[data_category // n_bins] + beta[data_category % n_bins]) / 2)
        median, count = _medians(data_mass * shift, data_category, n_categories, window)
        used = (count >= MIN_EVENTS) & (mc_count >= MIN_EVENTS) & (i <= j)
        design = np.zeros((used.sum(), n_bins))
        rows = np.arange(used.sum())
        np.add.at(design, (rows, i[used]), 0.5)
        np.add.at(design, (rows, j[used]), 0.5)
        # The residual log ratio of the corrected data: the step to add to beta.
        residual = np.log(median[used] / mc_median[used])
        weight = np.sqrt(count[used])
        reached = design.sum(axis=0) > 0
        if not reached.any():
            log.warning(
                "in-situ scale %s: no category with %d events: no correction", column, MIN_EVENTS
            )
            return np.zeros(n_bins)
        step, *_ = np.linalg.lstsq(
            design[:, reached] * weight[:, None], residual * weight, rcond=None
        )
        beta[reached] += step
    if not reached.all():
        log.warning(
            "in-situ scale %s: |eta| bins %s have no category with %d events: alpha 0",
            column,
            np.flatnonzero(~reached).tolist(),
            MIN_EVENTS,
        )
    return np.expm1(beta)


def corrected_masses(
    masses: pd.DataFrame,
    column: str,
    alpha: np.ndarray | Sequence[float],
    edges: npt.ArrayLike,
) -> np.ndarray:
    """m_ee [GeV] of ``column`` with each electron's energy divided by 1 + alpha of its |eta|
    bin (electrons outside the edges are left as they are): m / sqrt((1 + a_1)(1 + a_2))."""
    edges = np.asarray(edges, float)
    factor = np.ones(len(masses))
    for eta in ("eta1", "eta2"):
        index = np.digitize(np.abs(masses[eta].to_numpy()), edges) - 1
        inside = (index >= 0) & (index < len(alpha))
        factor[inside] *= 1.0 + np.asarray(alpha)[index[inside]]
    return masses[column].to_numpy(float) / np.sqrt(factor)
