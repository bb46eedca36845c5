"""Shower-shape variables of ATLAS's electron and photon identification, columnar on the cell
windows of the ntuple contract.

Definitions: ATLAS, Eur. Phys. J. C 79 (2019) 205 (arXiv:1810.05087), Table 1 (and the electron
identification paper, Eur. Phys. J. C 79 (2019) 639, Table 1):

- R_eta = E(3 x 7) / E(7 x 7) in the middle layer, cells eta x phi around the cluster centre;
- R_phi = E(3 x 3) / E(3 x 7) in the middle layer;
- w_eta2 = sqrt(sum E eta^2 / sum E - (sum E eta / sum E)^2) in a 3 x 5 (eta x phi) window of
  the middle layer, eta the cell-centre pseudorapidity;
- w_s3 = sqrt(sum E (i - i_max)^2 / sum E) over the three strips i_max - 1 .. i_max + 1 of the
  first layer around the hottest one, in units of strips.

Windows are (n, n_eta, n_phi) arrays, eta-major (docs/design.md#images), centred on the cluster's
central middle cell as the simulator writes them (odd sizes: the centre is index n // 2). A sum
that is not positive gives NaN (noise-only windows).
"""

from __future__ import annotations

import numpy as np

from egcalib.core.contract import MIDDLE_CELL_ETA


def _centred(window: np.ndarray, n_eta: int, n_phi: int) -> np.ndarray:
    """The n_eta x n_phi block of each (n, N_eta, N_phi) window around its centre cell."""
    _, big_eta, big_phi = window.shape
    if n_eta > big_eta or n_phi > big_phi or n_eta % 2 == 0 or n_phi % 2 == 0:
        raise ValueError(f"no centred {n_eta} x {n_phi} block in a {big_eta} x {big_phi} window")
    e0, p0 = big_eta // 2 - n_eta // 2, big_phi // 2 - n_phi // 2
    return window[:, e0 : e0 + n_eta, p0 : p0 + n_phi]


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def r_eta(middle: np.ndarray) -> np.ndarray:
    """R_eta = E(3 x 7) / E(7 x 7) of (n, n_eta, n_phi) middle-layer windows: (n,)."""
    middle = np.asarray(middle, float)
    return _ratio(_centred(middle, 3, 7).sum(axis=(1, 2)), _centred(middle, 7, 7).sum(axis=(1, 2)))


def r_phi(middle: np.ndarray) -> np.ndarray:
    """R_phi = E(3 x 3) / E(3 x 7) of (n, n_eta, n_phi) middle-layer windows: (n,)."""
    middle = np.asarray(middle, float)
    return _ratio(_centred(middle, 3, 3).sum(axis=(1, 2)), _centred(middle, 3, 7).sum(axis=(1, 2)))


def w_eta2(middle: np.ndarray, cell_eta: float = MIDDLE_CELL_ETA) -> np.ndarray:
    """Energy-weighted lateral width in eta of the 3 x 5 (eta x phi) block of the middle layer,
    with cell-centre eta (offsets from the centre cell, cell size ``cell_eta``): (n,)."""
    block = _centred(np.asarray(middle, float), 3, 5).sum(axis=2)  # (n, 3): energy per eta row
    eta = cell_eta * np.array([-1.0, 0.0, 1.0])
    total = block.sum(axis=1)
    mean = _ratio((block * eta).sum(axis=1), total)
    second = _ratio((block * eta**2).sum(axis=1), total)
    return np.sqrt(np.maximum(second - mean**2, 0.0))


def w_s3(strips: np.ndarray) -> np.ndarray:
    """Width in strips of the three strips around the hottest one, (n, n_eta, n_phi) first-layer
    windows summed over phi: sqrt(sum E (i - i_max)^2 / sum E) over i_max - 1 .. i_max + 1: (n,).

    The hottest strip is searched in the central middle cell's span of strips (the strips
    under the cluster centre), as ATLAS takes it at the cluster's barycentre."""
    profile = np.asarray(strips, float).sum(axis=2)  # (n, n_strips)
    n_strips = profile.shape[1]
    per_cell = max(n_strips // 7, 1)  # strips per middle cell (the window is 7 middle cells)
    lo = n_strips // 2 - per_cell // 2
    hottest = lo + np.argmax(profile[:, lo : lo + per_cell], axis=1)
    offsets = np.array([-1, 0, 1])
    index = np.clip(hottest[:, None] + offsets[None, :], 0, n_strips - 1)
    energy = np.take_along_axis(profile, index, axis=1)
    return np.sqrt(np.maximum(_ratio((energy * offsets**2).sum(axis=1), energy.sum(axis=1)), 0.0))


def shower_shapes(cells: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """R_eta, R_phi, w_eta2 and w_s3 of windows by layer (``lr1`` strips, ``lr2`` middle)."""
    middle = cells["lr2"]
    return {
        "r_eta": r_eta(middle),
        "r_phi": r_phi(middle),
        "w_eta2": w_eta2(middle),
        "w_s3": w_s3(cells["lr1"]),
    }
