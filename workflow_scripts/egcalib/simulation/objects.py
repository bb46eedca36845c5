"""Electromagnetic objects through the detector, object by object: shower, cluster (with the
conversion tracks of converted photons) and baseline calibration; and the single-particle sample
the calibration is derived from.

Every array has one entry per object, shape (n,); energies in GeV, angles in radians.
"""

from __future__ import annotations

import numpy as np

from egcalib.core.kinematics import wrap_phi
from egcalib.simulation.baseline_calibration import (
    BaselineCalibration,
    as_calibration,
    calibration_category,
)
from egcalib.simulation.calorimeter import Showers, simulate_showers
from egcalib.simulation.detector import CONVERTED, ELECTRON, UNCONVERTED
from egcalib.simulation.inner_detector import (
    conversion_tracks,
    photon_converts,
    reconstruct_conversions,
)
from egcalib.simulation.pileup import sample_mu
from egcalib.simulation.reconstruction import reconstruct_clusters


def cluster_objects(
    showers: Showers, shower_type: np.ndarray, sim: dict, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Reconstruct the clusters of n showered objects (reconstruction.reconstruct_clusters) and
    the conversions of converted photons as ATLAS reconstructs them
    (inner_detector.reconstruct_conversions): the reconstructed type decides the conversion
    tracks, which share the photon's pT.

    Returns the cluster arrays (n,) plus the reconstructed ``conversion_type`` (ATLAS convType,
    0 for unconverted and other objects), ``conversion_tracks`` (its track count),
    ``conversion_radius`` [mm] and ``conversion_pt_ratio`` (the leading track's share; 1 for one
    track), both 0 where no conversion is reconstructed, and ``true_conversion_radius`` [mm]
    (0 where the photon did not convert in the tracker).
    """
    n = len(shower_type)
    clusters = reconstruct_clusters(
        showers, sim["native_shapes"], sim["cluster_size"], sim.get("endcap_cluster_size")
    )
    uniform = rng.uniform(size=n)
    share = rng.uniform(0.5, 0.8, n)
    conv_type = reconstruct_conversions(
        showers.conversion_radius,
        shower_type == CONVERTED,
        np.abs(clusters["cl_eta"]),
        uniform,
        sim,
    )
    tracks = conversion_tracks(conv_type)
    clusters["conversion_type"] = conv_type
    clusters["conversion_tracks"] = tracks
    clusters["true_conversion_radius"] = showers.conversion_radius
    clusters["conversion_radius"] = np.where(conv_type > 0, showers.conversion_radius, 0.0)
    clusters["conversion_pt_ratio"] = np.where(tracks == 2, share, np.where(tracks == 1, 1.0, 0.0))
    return clusters


def calibrate_objects(
    clusters: dict, shower_type: np.ndarray, calibration: dict | BaselineCalibration | None
) -> dict[str, np.ndarray]:
    """Baseline calibration of n clusters, by reconstructed type (calibration_category of the
    shower type and the reconstructed ``conversion_type``): with a calibration (tables or
    BaselineCalibration), add ``e`` (MVA) and ``e_binned`` [GeV] (n,) to ``clusters`` in
    place; without, leave them as they are. Returns ``clusters``. Draws no random numbers."""
    calibration = as_calibration(calibration)
    if calibration is not None:
        category = calibration_category(shower_type, clusters["conversion_type"])
        clusters["e"], clusters["e_binned"] = calibration.apply(clusters, category)
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

    Charged particles bend in the solenoid field (inner_detector.bremsstrahlung). ``clusters``
    carries the reconstructed conversions (cluster_objects) and, with a calibration, ``e``
    (MVA) and ``e_binned`` [GeV].
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


def photon_calibration_sample(
    n: int, sim: dict, detector: dict, rng: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """Single photons flat in |eta| and log ET, with the MC pile-up, converting in the tracker
    as the detector's material has them (inner_detector.photon_converts), as ATLAS's
    single-photon samples: true energies (n,) [GeV], their clusters (simulate_objects,
    uncalibrated) and their shower types (n,), UNCONVERTED or CONVERTED."""
    cal = sim["calibration"]
    log_et_lo, log_et_hi = np.log(cal["et_range"])
    et = np.exp(rng.uniform(log_et_lo, log_et_hi, n))
    eta = rng.uniform(-sim["generator"]["eta_max"], sim["generator"]["eta_max"], n)
    e = et * np.cosh(eta)
    mu = sample_mu(n, detector, rng)
    types = np.where(photon_converts(np.abs(eta), sim, detector, rng), CONVERTED, UNCONVERTED)
    _, clusters = simulate_objects(
        e, eta, rng.uniform(-np.pi, np.pi, n), np.zeros(n, int), types, mu, sim, detector, rng
    )
    return e, clusters, types
