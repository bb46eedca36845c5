"""Shower-shape variables of ATLAS's electron and photon identification, columnar on the cell
windows of the ntuple contract.

Definitions: ATLAS, Eur. Phys. J. C 79 (2019) 205 (arXiv:1810.05087), Table 1, the photon
identification variables (and the electron identification paper, Eur. Phys. J. C 79 (2019) 639,
Table 1). Where the table leaves a choice (which strips, which maximum), ATLAS's reconstruction
decides (athena, egammaStripsShape: strips; TPhotonIsEMSelector: R_had1 or R_had by |eta|).

Hadronic leakage (from the energies behind the cluster the caller passes: the toy's ntuples
carry them as the optional Ehad1 and Ehad, simulation.hadronic):

- R_had1 = E_T(first hadronic layer) / E_T(cluster), used for |eta| < 0.8 and |eta| >= 1.37;
- R_had = E_T(whole hadronic calorimeter) / E_T(cluster), used for 0.8 <= |eta| < 1.37.

Middle layer:

- R_eta = E(3 x 7) / E(7 x 7) in the middle layer, cells eta x phi around the cluster centre;
- R_phi = E(3 x 3) / E(3 x 7) in the middle layer;
- w_eta2 = sqrt(sum E eta^2 / sum E - (sum E eta / sum E)^2) in a 3 x 5 (eta x phi) window of
  the middle layer, eta the cell-centre pseudorapidity.

Strips (first layer), widths in units of strips:

- f1 = E(strips) / E(cluster), from the cluster's layer energies (cl_E0 .. cl_E3);
- w_s3 = sqrt(sum E (i - i_max)^2 / sum E) over the three strips i_max - 1 .. i_max + 1 of the
  first layer around the hottest one;
- w_stot = sqrt(sum E (i - i_max)^2 / sum E) over ATLAS's 20 strips: those within 1.25 middle
  cells of the central middle cell's centre;
- f_side = (E(i_max +- 3) - E(i_max +- 1)) / E(i_max +- 1), the seven strips around the hottest
  one outside its core three, over the core three;
- Delta E = E(2nd maximum) - E(least strip between the two maxima);
- E_ratio = (E(1st maximum) - E(2nd maximum)) / (E(1st maximum) + E(2nd maximum)).

w_stot, f_side, Delta E and E_ratio read ATLAS's strip profile: the strip cells whose phi
centres lie within one ATLAS strip cell in phi (0.098, 4 middle cells) of the window centre,
ATLAS's "2 strips in phi" (the central 3 of the 5 cells of the native window), summed over phi.
The maxima are searched in ATLAS's 40 strips, the 5 middle cells around the central one; i_max
is the hottest of them. The 2nd maximum is the hottest other strip with positive energy that is
hotter than both its neighbours (not at the ends of the 40); without one, Delta E = 0 and
E_ratio = 1, as ATLAS stores them. w_s3 keeps its own profile (all phi cells, i_max in the
central middle cell's strips).

Windows are (n, n_eta, n_phi) arrays, eta-major (docs/design.md#images), centred on the cluster's
central middle cell as the simulator writes them (odd sizes: the centre is index n // 2), each
layer spanning the same 7 x 11 middle cells; energies in GeV. A sum that is not positive gives
NaN (noise-only windows).
"""

from __future__ import annotations

import numpy as np

from egcalib.core.contract import LAYERS, MIDDLE_CELL_ETA

# Every layer's window spans 7 x 11 middle cells, eta x phi (docs/design.md#images).
_WINDOW_CELLS = (7, 11)
# ATLAS's strip window (athena, egammaStripsShape), in middle cells: the maxima in 5 cells in
# eta, w_stot in the central 2.5 (20 strips), and +-1 strip cell of 0.098 in phi.
_STRIP_SEARCH_CELLS = 5.0
_WSTOT_CELLS = 2.5
_STRIP_PHI_HALF_CELLS = 4.0
# ATLAS's photon menus (TPhotonIsEMSelector) cut on R_had over 0.8 <= |eta| < 1.37, the
# transition between the tile calorimeter's barrel and extended barrel, and on R_had1 elsewhere.
_R_HAD_ETA = (0.8, 1.37)


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


def _columns(*arrays: np.ndarray) -> list[np.ndarray]:
    """The (n,) arrays as floats; a ValueError unless all are one-dimensional of one length."""
    columns = [np.asarray(a, float) for a in arrays]
    if any(c.ndim != 1 or c.shape != columns[0].shape for c in columns):
        raise ValueError(f"expected (n,) arrays of one length, got {[c.shape for c in columns]}")
    return columns


def _centres_within(n_cells: int, span: float, half_width: float) -> np.ndarray:
    """(n_cells,) bool: which of ``n_cells`` cells spanning ``span`` middle cells have their
    centres within ``half_width`` middle cells of the span's centre."""
    centres = (np.arange(n_cells) + 0.5) * span / n_cells - span / 2.0
    return np.abs(centres) < half_width


def _strip_profile(strips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ATLAS's strip profile of (n, n_strips, n_phi) first-layer windows: the energies
    (n, n_strips) summed over the phi cells of ATLAS's phi window, the (n_strips,) mask of the
    strips where the maxima are searched, and the hottest of those, i_max (n,)."""
    strips = np.asarray(strips, float)
    if strips.ndim != 3:
        raise ValueError(f"expected (n, n_strips, n_phi) strip windows, got {strips.shape}")
    _, n_strips, n_phi = strips.shape
    in_phi = _centres_within(n_phi, _WINDOW_CELLS[1], _STRIP_PHI_HALF_CELLS)
    profile = strips[:, :, in_phi].sum(axis=2)
    search = _centres_within(n_strips, _WINDOW_CELLS[0], _STRIP_SEARCH_CELLS / 2.0)
    i_max = int(np.argmax(search)) + np.argmax(profile[:, search], axis=1)
    return profile, search, i_max


def strip_maxima_positions(strips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The strips of the 1st and 2nd maxima of (n, n_strips, n_phi) first-layer windows, as
    Delta E and E_ratio find them (module docstring): two (n,) integer arrays of indices into
    the window's n_strips strips, the second -1 where there is no 2nd maximum. Their distance
    times the strip pitch is the two showers' separation in eta. Raises ValueError for windows
    that are not three-dimensional."""
    _, search, first, second, has_second, _ = _maxima(strips)
    offset = int(np.argmax(search))
    return first + offset, np.where(has_second, second + offset, -1)


def _maxima(strips):
    """ATLAS's strip array (n, 40) of strip windows, the (n_strips,) mask of its strips in the
    window, the (n,) indices in it of the 1st and 2nd maxima, whether the 2nd exists (n,) and
    the array's strip indices (40,)."""
    profile, search, i_max = _strip_profile(strips)
    energy = profile[:, search]  # (n, 40): ATLAS's strip array
    first = i_max - int(np.argmax(search))
    # Candidates: the inner strips hotter than both neighbours, positive, other than the 1st.
    inner = energy[:, 1:-1]
    index = np.arange(energy.shape[1])
    peak = (
        (inner > energy[:, :-2])
        & (inner > energy[:, 2:])
        & (inner > 0)
        & (index[None, 1:-1] != first[:, None])
    )
    has_second = peak.any(axis=1)
    second = 1 + np.argmax(np.where(peak, inner, -np.inf), axis=1)
    return energy, search, first, second, has_second, index


def _strip_maxima(strips: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """E(1st maximum), E(2nd maximum) and E(least strip between them), each (n,), of strip
    windows; the last two 0 without a 2nd maximum (ATLAS's defaults)."""
    energy, _, first, second, has_second, index = _maxima(strips)
    e_first = np.take_along_axis(energy, first[:, None], axis=1)[:, 0]
    e_second = np.take_along_axis(energy, second[:, None], axis=1)[:, 0]
    lo, hi = np.minimum(first, second)[:, None], np.maximum(first, second)[:, None]
    between = (index[None, :] > lo) & (index[None, :] < hi)
    e_min = np.where(between, energy, np.inf).min(axis=1)
    return e_first, np.where(has_second, e_second, 0.0), np.where(has_second, e_min, 0.0)


def r_eta(middle: np.ndarray) -> np.ndarray:
    """R_eta = E(3 x 7) / E(7 x 7) of (n, n_eta, n_phi) middle-layer windows: (n,),
    dimensionless; NaN where E(7 x 7) is not positive. Source: arXiv:1810.05087, Table 1. Raises
    ValueError for a window smaller than 7 x 7."""
    middle = np.asarray(middle, float)
    return _ratio(_centred(middle, 3, 7).sum(axis=(1, 2)), _centred(middle, 7, 7).sum(axis=(1, 2)))


def r_phi(middle: np.ndarray) -> np.ndarray:
    """R_phi = E(3 x 3) / E(3 x 7) of (n, n_eta, n_phi) middle-layer windows: (n,),
    dimensionless; NaN where E(3 x 7) is not positive. Source: arXiv:1810.05087, Table 1. Raises
    ValueError for a window smaller than 3 x 7."""
    middle = np.asarray(middle, float)
    return _ratio(_centred(middle, 3, 3).sum(axis=(1, 2)), _centred(middle, 3, 7).sum(axis=(1, 2)))


def w_eta2(middle: np.ndarray, cell_eta: float = MIDDLE_CELL_ETA) -> np.ndarray:
    """Energy-weighted lateral width in eta of the 3 x 5 (eta x phi) block of the middle layer,
    with cell-centre eta (offsets from the centre cell, cell size ``cell_eta``): (n,), in the
    units of ``cell_eta``; NaN where the block's energy is not positive. Source:
    arXiv:1810.05087, Table 1. Raises ValueError for a window smaller than 3 x 5."""
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
    under the cluster centre), as ATLAS takes it at the cluster's barycentre. In strips; NaN
    where the three strips' energy is not positive. Source: arXiv:1810.05087, Table 1. Raises
    ValueError (numpy's AxisError) for windows that are not three-dimensional."""
    profile = np.asarray(strips, float).sum(axis=2)  # (n, n_strips)
    n_strips = profile.shape[1]
    per_cell = max(n_strips // 7, 1)  # strips per middle cell (the window is 7 middle cells)
    lo = n_strips // 2 - per_cell // 2
    hottest = lo + np.argmax(profile[:, lo : lo + per_cell], axis=1)
    offsets = np.array([-1, 0, 1])
    index = np.clip(hottest[:, None] + offsets[None, :], 0, n_strips - 1)
    energy = np.take_along_axis(profile, index, axis=1)
    return np.sqrt(np.maximum(_ratio((energy * offsets**2).sum(axis=1), energy.sum(axis=1)), 0.0))


def w_stot(strips: np.ndarray) -> np.ndarray:
    """w_stot, the total width in strips of (n, n_strips, n_phi) first-layer windows: (n,).

    sqrt(sum E (i - i_max)^2 / sum E) over ATLAS's 20 strips of ATLAS's strip profile, i_max its
    hottest strip (module docstring). The 20 are those within 1.25 middle cells of the central
    middle cell's centre: athena centres them on the hottest middle cell, not on i_max. NaN where
    their energy is not positive. Source: arXiv:1810.05087, Table 1 ("20 x 2 strips"). Raises
    ValueError for windows that are not three-dimensional."""
    profile, _, i_max = _strip_profile(strips)
    n_strips = profile.shape[1]
    energy = profile * _centres_within(n_strips, _WINDOW_CELLS[0], _WSTOT_CELLS / 2.0)
    offsets = np.arange(n_strips)[None, :] - i_max[:, None]
    return np.sqrt(np.maximum(_ratio((energy * offsets**2).sum(axis=1), energy.sum(axis=1)), 0.0))


def f_side(strips: np.ndarray) -> np.ndarray:
    """f_side = (E(i_max +- 3) - E(i_max +- 1)) / E(i_max +- 1) of (n, n_strips, n_phi)
    first-layer windows: (n,), dimensionless.

    The energy in the seven strips around the hottest one outside its core three, over the core
    three, on ATLAS's strip profile (module docstring); strips beyond ATLAS's 40 count as empty,
    as in athena's strip array. ATLAS's 60 MeV floor on E(i_max) is not applied: NaN only where
    E(i_max +- 1) is not positive. Source: arXiv:1810.05087, Table 1. Raises ValueError for
    windows that are not three-dimensional."""
    profile, search, i_max = _strip_profile(strips)
    distance = np.abs(np.arange(profile.shape[1])[None, :] - i_max[:, None])
    energy = profile * search
    core = (energy * (distance <= 1)).sum(axis=1)
    seven = (energy * (distance <= 3)).sum(axis=1)
    return _ratio(seven - core, core)


def delta_e(strips: np.ndarray) -> np.ndarray:
    """Delta E = E(2nd maximum) - E(least strip between the 1st and 2nd maxima) [GeV] of
    (n, n_strips, n_phi) first-layer windows: (n,).

    Maxima of ATLAS's strip profile (module docstring); 0 without a 2nd maximum (ATLAS's
    convention), NaN where no strip of the 40 has positive energy. Source: arXiv:1810.05087,
    Table 1. Raises ValueError for windows that are not three-dimensional."""
    e_first, e_second, e_min = _strip_maxima(strips)
    return np.where(e_first > 0, e_second - e_min, np.nan)


def e_ratio(strips: np.ndarray) -> np.ndarray:
    """E_ratio = (E(1st maximum) - E(2nd maximum)) / (E(1st maximum) + E(2nd maximum)) of
    (n, n_strips, n_phi) first-layer windows: (n,), dimensionless.

    Maxima of ATLAS's strip profile (module docstring); 1 without a 2nd maximum (ATLAS's
    convention), NaN where the sum is not positive. Source: arXiv:1810.05087, Table 1. Raises
    ValueError for windows that are not three-dimensional."""
    e_first, e_second, _ = _strip_maxima(strips)
    return _ratio(e_first - e_second, e_first + e_second)


def f1(e_layers: np.ndarray) -> np.ndarray:
    """f1 = E(strips) / E(cluster) from the cluster's layer energies ``e_layers`` (n, 4) [GeV],
    presampler to back (the contract's cl_E0 .. cl_E3): (n,), dimensionless. The cluster's
    energy includes the presampler (ATLAS's E of the EM cluster), and its size is the
    reconstruction's (3 x 7 in the barrel, 5 x 5 in the end-cap), so f1 is not re-derived from
    the cells. NaN where the cluster's energy is not positive. Source: arXiv:1810.05087,
    Table 1. Raises ValueError unless ``e_layers`` is (n, 4)."""
    e_layers = np.asarray(e_layers, float)
    if e_layers.ndim != 2 or e_layers.shape[1] != len(LAYERS):
        raise ValueError(
            f"expected (n, {len(LAYERS)}) cluster layer energies, got {e_layers.shape}"
        )
    return _ratio(e_layers[:, 1], e_layers.sum(axis=1))


def r_had1(e_had1: np.ndarray, e_cluster: np.ndarray) -> np.ndarray:
    """R_had1 = E_T(first hadronic layer) / E_T(EM cluster): (n,), dimensionless.

    ``e_had1``: (n,) energy [GeV] in the first hadronic layer behind the cluster (the
    contract's optional Ehad1); ``e_cluster``: (n,) the EM
    cluster's energy [GeV]. Both at the cluster's eta, the ratio of transverse energies is that
    of energies (the cosh(eta) cancels), so no eta is needed. Negative leakage (noise) stays
    negative; NaN where ``e_cluster`` is not positive. ATLAS cuts on it for |eta| < 0.8 and
    |eta| >= 1.37 (hadronic_leakage). Source: arXiv:1810.05087, Table 1. Raises ValueError
    unless both are (n,) of one length."""
    e_had1, e_cluster = _columns(e_had1, e_cluster)
    return _ratio(e_had1, e_cluster)


def r_had(e_had: np.ndarray, e_cluster: np.ndarray) -> np.ndarray:
    """R_had = E_T(whole hadronic calorimeter) / E_T(EM cluster): (n,), dimensionless.

    ``e_had``: (n,) energy [GeV] in all hadronic layers behind the cluster (the contract's
    optional Ehad); ``e_cluster``: (n,) the EM cluster's energy [GeV]; as r_had1 (same eta, so the
    ratio of energies). NaN where ``e_cluster`` is not positive. ATLAS cuts on it for
    0.8 <= |eta| < 1.37 (hadronic_leakage). Source: arXiv:1810.05087, Table 1. Raises
    ValueError unless both are (n,) of one length."""
    e_had, e_cluster = _columns(e_had, e_cluster)
    return _ratio(e_had, e_cluster)


def hadronic_leakage(r_had1: np.ndarray, r_had: np.ndarray, eta: np.ndarray) -> np.ndarray:
    """The hadronic leakage ATLAS's photon menus cut on, per object: R_had where
    0.8 <= |eta| < 1.37, R_had1 elsewhere (athena, TPhotonIsEMSelector, on the cluster's eta in
    the middle layer): (n,), dimensionless; NaN where ``eta`` is NaN.

    ``r_had1``, ``r_had``, ``eta``: (n,) arrays. Source: arXiv:1810.05087, Table 1 (the ranges)
    and athena. Raises ValueError unless all three are (n,) of one length."""
    r_had1, r_had, eta = _columns(r_had1, r_had, eta)
    abs_eta = np.abs(eta)
    lo, hi = _R_HAD_ETA
    chosen = np.where((abs_eta >= lo) & (abs_eta < hi), r_had, r_had1)
    return np.where(np.isnan(eta), np.nan, chosen)


def shower_shapes(
    cells: dict[str, np.ndarray],
    e_layers: np.ndarray | None = None,
    e_had1: np.ndarray | None = None,
    e_had: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """ATLAS's shower-shape variables of windows by layer (``lr1``, ``lr2``, each
    (n, n_eta, n_phi), energies in GeV), each (n,), keyed as ATLAS names them.

    Always r_eta, r_phi, w_eta2 (``lr2``), w_s3, w_stot, f_side, delta_e, e_ratio (``lr1``);
    with the cluster's layer energies ``e_layers`` (n, 4) [GeV] also f1, and r_had1 and r_had
    when ``e_had1`` and ``e_had`` (n,) [GeV] are given, over the cluster's energy. Definitions
    and source: the module docstring (arXiv:1810.05087, Table 1). Raises KeyError without
    ``lr1`` or ``lr2``; ValueError for windows of the wrong shape, hadronic energies without
    ``e_layers``, or arrays not (n,) / (n, 4)."""
    middle, strips = cells["lr2"], cells["lr1"]
    out: dict[str, np.ndarray] = {}
    if (e_had1 is not None or e_had is not None) and e_layers is None:
        raise ValueError("R_had needs the cluster's energy: pass e_layers with e_had1 / e_had")
    if e_layers is not None:
        e_cluster = np.asarray(e_layers, float).sum(axis=1)
        if e_had1 is not None:
            out["r_had1"] = r_had1(e_had1, e_cluster)
        if e_had is not None:
            out["r_had"] = r_had(e_had, e_cluster)
    out.update(r_eta=r_eta(middle), r_phi=r_phi(middle), w_eta2=w_eta2(middle))
    if e_layers is not None:
        out["f1"] = f1(e_layers)
    out.update(
        w_s3=w_s3(strips),
        w_stot=w_stot(strips),
        f_side=f_side(strips),
        delta_e=delta_e(strips),
        e_ratio=e_ratio(strips),
    )
    return out
