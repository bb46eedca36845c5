"""Electromagnetic objects through the detector, object by object: shower, cluster (with the
conversion tracks of converted photons) and baseline calibration; and the single-particle sample
the calibration is derived from.

Every array has one entry per object, shape (n,); energies in GeV, angles in radians.
"""

from __future__ import annotations

import numpy as np

from egcalib.core.kinematics import wrap_phi
from egcalib.simulation.baseline_calibration import BaselineCalibration, as_calibration
from egcalib.simulation.calorimeter import Showers, simulate_showers
from egcalib.simulation.detector import CONVERTED, ELECTRON
from egcalib.simulation.pileup import sample_mu
from egcalib.simulation.reconstruction import reconstruct_clusters


def cluster_objects(
    showers: Showers, shower_type: np.ndarray, sim: dict, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Reconstruct the clusters of n showered objects (reconstruction.reconstruct_clusters) and
    give converted photons 1 or 2 tracks (``two_track_conversion_fraction``) sharing the
    photon's pT.

    Returns the cluster arrays (n,) plus ``conversion_tracks`` (0 for other objects),
    ``conversion_radius`` [mm] and ``conversion_pt_ratio`` (the leading track's share; 1 for one
    track, 0 unconverted).
    """
    n = len(shower_type)
    clusters = reconstruct_clusters(showers, sim["native_shapes"], sim["cluster_size"])
    converted = shower_type == CONVERTED
    two_track = rng.uniform(size=n) < sim["two_track_conversion_fraction"]
    share = np.where(two_track, rng.uniform(0.5, 0.8, n), 1.0)
    clusters["conversion_tracks"] = np.where(converted, np.where(two_track, 2, 1), 0)
    clusters["conversion_radius"] = showers.conversion_radius
    clusters["conversion_pt_ratio"] = np.where(converted, share, 0.0)
    return clusters


def calibrate_objects(
    clusters: dict, shower_type: np.ndarray, calibration: dict | BaselineCalibration | None
) -> dict[str, np.ndarray]:
    """Baseline calibration of n clusters: with a calibration (tables or BaselineCalibration),
    add ``e`` (MVA) and ``e_binned`` [GeV] (n,) to ``clusters`` in place; without, leave them
    as they are. Returns ``clusters``. Draws no random numbers."""
    calibration = as_calibration(calibration)
    if calibration is not None:
        clusters["e"], clusters["e_binned"] = calibration.apply(clusters, shower_type)
    return clusters


def simulate_objects(
    e: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    charge: np.ndarray,
    shower_type: np.ndarray,
    mu: np.ndarray,
    sim: dict,
    detector: dict,
    rng: np.random.Generator,
    calibration: dict | BaselineCalibration | None = None,
) -> tuple[Showers, dict[str, np.ndarray]]:
    """Shower + cluster + (optionally) baseline energies for n objects at the vertex (eta, phi).

    Charged particles bend in the solenoid field (inner_detector.bremsstrahlung). Converted
    photons get 1 or 2 tracks (``two_track_conversion_fraction``) sharing the photon's pT:
    ``clusters`` carries ``conversion_tracks`` (0 for other objects), ``conversion_radius`` [mm]
    and ``conversion_pt_ratio`` (the leading track's share; 1 for one track, 0 unconverted).
    With a calibration it also carries ``e`` (MVA) and ``e_binned`` [GeV].
    """
    showers = simulate_showers(e, eta, wrap_phi(phi), charge, shower_type, mu, sim, detector, rng)
    clusters = cluster_objects(showers, shower_type, sim, rng)
    return showers, calibrate_objects(clusters, shower_type, calibration)


def calibration_sample(
    n: int, shower_type: int, sim: dict, detector: dict, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Single particles of one shower type, flat in |eta| and log ET, with the MC pile-up:
    true energies (n,) [GeV] and their clusters (simulate_objects, uncalibrated)."""
    cal = sim["calibration"]
    log_et_lo, log_et_hi = np.log(cal["et_range"])
    et = np.exp(rng.uniform(log_et_lo, log_et_hi, n))
    eta = rng.uniform(-sim["generator"]["eta_max"], sim["generator"]["eta_max"], n)
    e = et * np.cosh(eta)
    charge = np.where(shower_type == ELECTRON, np.where(rng.uniform(size=n) < 0.5, 1, -1), 0)
    mu = sample_mu(n, detector, rng)
    types = np.full(n, shower_type)
    _, clusters = simulate_objects(
        e, eta, rng.uniform(-np.pi, np.pi, n), charge, types, mu, sim, detector, rng
    )
    return e, clusters
