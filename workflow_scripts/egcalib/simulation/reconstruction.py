"""Cluster reconstruction from the simulated cell windows.

The cluster is the ATLAS barrel electron cluster: cells whose centres lie within
``cluster_size`` (eta x phi, in middle-cell units) around the window's central middle cell, in
every layer. The calibration of its energy lives in simulation.calibration.
"""
from __future__ import annotations

import numpy as np

from egcalib.contract import LAYERS
from egcalib.simulation.calorimeter import MIDDLE_CELL_ETA, MIDDLE_CELL_PHI


def cluster_masks(native_shapes: dict, cluster_size) -> dict[str, np.ndarray]:
    """Per layer, a boolean (n_eta, n_phi) mask of the cells inside the cluster."""
    mid_eta, mid_phi = native_shapes["lr2"]
    half_eta, half_phi = cluster_size[0] / 2.0, cluster_size[1] / 2.0
    masks = {}
    for layer in LAYERS:
        n_eta, n_phi = native_shapes[layer]
        eta_centre = (np.arange(n_eta) + 0.5) * mid_eta / n_eta  # in middle-cell units
        phi_centre = (np.arange(n_phi) + 0.5) * mid_phi / n_phi
        in_eta = np.abs(eta_centre - mid_eta / 2.0) < half_eta
        in_phi = np.abs(phi_centre - mid_phi / 2.0) < half_phi
        masks[layer] = in_eta[:, None] & in_phi[None, :]
    return masks


def reconstruct_clusters(showers, native_shapes: dict, cluster_size) -> dict[str, np.ndarray]:
    """Cluster layer energies, barycentre and in-cell positions from the cell windows."""
    masks = cluster_masks(native_shapes, cluster_size)
    out = {f"cl_E{i}": (showers.cells[layer] * masks[layer]).sum(axis=(1, 2))
           for i, layer in enumerate(LAYERS)}
    out["cl_Eacc"] = out["cl_E1"] + out["cl_E2"] + out["cl_E3"]
    # Barycentre of the middle layer's 3x3 core (positive energies: noise must not pull it out).
    mid = showers.cells["lr2"]
    c_eta, c_phi = mid.shape[1] // 2, mid.shape[2] // 2
    core = np.maximum(mid[:, c_eta - 1:c_eta + 2, c_phi - 1:c_phi + 2], 0.0)
    weight = np.maximum(core.sum(axis=(1, 2)), 1e-9)
    offsets = np.arange(-1, 2) + 0.5
    centre_eta = showers.window_eta0 + c_eta * MIDDLE_CELL_ETA
    centre_phi = showers.window_phi0 + c_phi * MIDDLE_CELL_PHI
    out["cl_eta"] = centre_eta + MIDDLE_CELL_ETA * (core.sum(axis=2) @ offsets) / weight
    phi = centre_phi + MIDDLE_CELL_PHI * (core.sum(axis=1) @ offsets) / weight
    out["cl_phi"] = (phi + np.pi) % (2 * np.pi) - np.pi
    out["cl_etaModCalo"] = np.mod(out["cl_eta"], MIDDLE_CELL_ETA)
    out["cl_phiModCalo"] = np.mod(out["cl_phi"], MIDDLE_CELL_PHI)
    out["cl_etaIndex"] = showers.centre_ieta
    return out
