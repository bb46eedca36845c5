"""The lateral shower shape: Gaussian core and tail integrated over the cells of a window, with
widths that follow each shower's own depth in each layer (GFLASH radial profiles).

Positions in eta and phi [rad], radii in Moliere radii, energies in GeV.
"""

from __future__ import annotations

import numpy as np
from scipy.special import erf

from egcalib.simulation.detector import ELECTRON, effect_on, upstream_material
from egcalib.simulation.longitudinal import layer_boundaries, layer_shower_age, shower_parameters

_SQRT2 = np.sqrt(2.0)
# GFLASH reference point: the configured lateral widths are those of a 45 GeV electron at eta = 0.
_REFERENCE_ENERGY = 45.0


def window_edges(n: int, origin: np.ndarray, cell_size: float, count: int) -> np.ndarray:
    """(n, count+1) cell edges starting at ``origin`` (n,)."""
    return origin[:, None] + cell_size * np.arange(count + 1)[None, :]


def gauss_cell_fractions(
    edges: np.ndarray, centre: np.ndarray, sigma: np.ndarray | float
) -> np.ndarray:
    """Fraction of a 1D Gaussian (centre, sigma: (n,) or (n, 1)) in each cell: (n, cells)."""
    z = (edges - np.reshape(centre, (len(edges), -1))) / (_SQRT2 * np.reshape(sigma, (-1, 1)))
    return 0.5 * np.diff(erf(z), axis=1)


def gflash_radii(
    tau: np.ndarray, energy: np.ndarray, z_eff: float
) -> tuple[np.ndarray, np.ndarray]:
    """GFLASH median core and tail radii [Moliere radii] at shower age tau (Grindhammer and
    Peters, hep-ex/0001020, radial profiles): R_C = z1 + z2 tau,
    R_T = k1 (exp(k3 (tau - k2)) + exp(k4 (tau - k2))), with z1 = 0.0251 + 0.00319 ln E,
    z2 = 0.1162 - 0.000381 Z, k1 = 0.659 - 0.00309 Z, k2 = 0.645, k3 = -2.59,
    k4 = 0.3585 + 0.0421 ln E (E in GeV)."""
    log_e = np.log(energy)
    core = 0.0251 + 0.00319 * log_e + (0.1162 - 0.000381 * z_eff) * tau
    tail = (0.659 - 0.00309 * z_eff) * (
        np.exp(-2.59 * (tau - 0.645)) + np.exp((0.3585 + 0.0421 * log_e) * (tau - 0.645))
    )
    return core, tail


def lateral_width_scales(
    energy: np.ndarray, depth: dict, sim: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Per object and layer (n, 4): core and tail widths relative to the configured ones, which
    are those of a 45 GeV electron at eta = 0 (GFLASH radii at each shower's own age in each
    layer over those at the reference's). Ones when the lateral_depth effect is off."""
    n = len(energy)
    if not effect_on(sim, "lateral_depth"):
        return np.ones((n, 4)), np.ones((n, 4))
    z_eff = sim["lateral"]["z_effective"]
    reference = np.array([_REFERENCE_ENERGY])
    ref_alpha, ref_b = shower_parameters(reference, np.array([ELECTRON]), sim, None, False)
    eta0 = np.zeros(1)
    ref_edges = layer_boundaries(eta0, upstream_material(eta0, sim["detectors"]["mc"]), sim)
    ref_tau = layer_shower_age(
        {"alpha": ref_alpha, "b": ref_b, "t0": eta0, "boundaries": ref_edges}
    )
    ref_core, ref_tail = gflash_radii(ref_tau, reference[:, None], z_eff)
    core, tail = gflash_radii(layer_shower_age(depth), energy[:, None], z_eff)
    return np.clip(core / ref_core, 0.5, 3.0), np.clip(tail / ref_tail, 0.5, 3.0)
