"""The calorimeter's energy resolution from single electrons: sigma(E)/E = a/sqrt(E) (+) b/E (+) c
(sampling, noise and constant terms) fitted to the IQR width of E_reco / E_true in bins of energy.
The validation (egcalib.simulation.validation) checks a and c against the ATLAS design anchors of
docs/design.md#the-embedded-default.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import numpy as np
from iminuit import Minuit
from iminuit.cost import LeastSquares

IQR_TO_SIGMA = 1.3489795


def resolution_model(
    energy: np.ndarray, sampling: float, noise: float, constant: float
) -> np.ndarray:
    """sigma(E)/E = a/sqrt(E) (+) b/E (+) c."""
    return np.sqrt(sampling**2 / energy + (noise / energy) ** 2 + constant**2)


def robust_resolution(response: np.ndarray) -> tuple[float, float]:
    """IQR-based Gaussian-equivalent width and its approximate error."""
    q25, q75 = np.percentile(response, [25, 75])
    sigma = (q75 - q25) / IQR_TO_SIGMA
    return sigma, 1.1 * sigma / np.sqrt(max(len(response), 1))


def fit_resolution(energy: np.ndarray, response: np.ndarray, energy_edges: Iterable[float]) -> dict:
    """Fit a, b, c of the resolution model to the IQR width of E_reco/E_true in energy bins."""
    bin_centres, bin_sigmas, bin_errors = [], [], []
    for lo, hi in itertools.pairwise(energy_edges):
        sel = (energy >= lo) & (energy < hi)
        if sel.sum() < 30:
            continue
        sigma, error = robust_resolution(response[sel])
        bin_centres.append(np.median(energy[sel]))
        bin_sigmas.append(sigma)
        bin_errors.append(error)
    centres, sigmas, errors = map(np.asarray, (bin_centres, bin_sigmas, bin_errors))
    if len(centres) < 4:
        raise ValueError(f"resolution fit needs >= 4 populated energy bins, got {len(centres)}")
    minuit = Minuit(
        LeastSquares(centres, sigmas, errors, resolution_model),
        sampling=0.1,
        noise=0.3,
        constant=0.007,
    )
    minuit.limits = [(0, 1), (0, 5), (0, 0.1)]
    minuit.migrad()
    minuit.hesse()
    return {
        "sampling": minuit.values["sampling"],
        "sampling_error": minuit.errors["sampling"],
        "noise_gev": minuit.values["noise"],
        "noise_error": minuit.errors["noise"],
        "constant": minuit.values["constant"],
        "constant_error": minuit.errors["constant"],
        "chi2_ndf": minuit.fval / max(len(centres) - 3, 1),
        "converged": minuit.valid,
        "points": {
            "energy": centres.tolist(),
            "sigma_over_e": sigmas.tolist(),
            "error": errors.tolist(),
        },
    }
