"""Reconstruction of the simulated electromagnetic objects: clusters from the cell windows, the
reconstructed quantities and identification of each candidate, and its truth record.

The cluster is ATLAS's electron cluster: cells whose centres lie within ``cluster_size`` (eta x
phi, in middle-cell units; 3 x 7) around the window's central middle cell in the barrel,
``endcap_cluster_size`` (5 x 5) in the end-cap, in every layer. The calibration of its energy
lives in simulation.baseline_calibration, the tracks in simulation.tracks.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from egcalib.core.contract import LAYERS, MIDDLE_CELL_ETA, MIDDLE_CELL_PHI
from egcalib.core.kinematics import wrap_phi
from egcalib.simulation.detector import BARREL_ETA_MAX
from egcalib.simulation.generator import ELECTRON_PDG, PHOTON_PDG

if TYPE_CHECKING:
    from egcalib.simulation.calorimeter import Showers

# Cluster quantities written per object (el_/ph_ prefixed).
CLUSTER_BRANCHES = (
    "cl_E0",
    "cl_E1",
    "cl_E2",
    "cl_E3",
    "cl_Eacc",
    "cl_eta",
    "cl_phi",
    "cl_etaModCalo",
    "cl_phiModCalo",
    "cl_etaIndex",
)


def cluster_masks(native_shapes: dict, cluster_size: Sequence[float]) -> dict[str, np.ndarray]:
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


def reconstruct_clusters(
    showers: Showers,
    native_shapes: dict,
    cluster_size: Sequence[float],
    endcap_cluster_size: Sequence[float] | None = None,
) -> dict[str, np.ndarray]:
    """Cluster layer energies (n,) [GeV], barycentre and in-cell positions from the cell
    windows: ``cluster_size`` middle cells (eta x phi) in the barrel, ``endcap_cluster_size``
    (default: the same) where the window's central cell lies beyond |eta| BARREL_ETA_MAX, as
    ATLAS's 3 x 7 and 5 x 5 electron clusters (Eur. Phys. J. C 77 (2017) 195)."""
    masks = cluster_masks(native_shapes, cluster_size)
    if endcap_cluster_size is not None and list(endcap_cluster_size) != list(cluster_size):
        endcap_masks = cluster_masks(native_shapes, endcap_cluster_size)
        centre = showers.window_eta0 + (native_shapes["lr2"][0] // 2 + 0.5) * MIDDLE_CELL_ETA
        endcap = (np.abs(centre) > BARREL_ETA_MAX)[:, None, None]
        masks = {layer: np.where(endcap, endcap_masks[layer], masks[layer]) for layer in LAYERS}
    out = {
        f"cl_E{i}": (showers.cells[layer] * masks[layer]).sum(axis=(1, 2))
        for i, layer in enumerate(LAYERS)
    }
    out["cl_Eacc"] = out["cl_E1"] + out["cl_E2"] + out["cl_E3"]
    # Barycentre of the middle layer's 3x3 core (positive energies: noise must not pull it out).
    mid = showers.cells["lr2"]
    c_eta, c_phi = mid.shape[1] // 2, mid.shape[2] // 2
    core = np.maximum(mid[:, c_eta - 1 : c_eta + 2, c_phi - 1 : c_phi + 2], 0.0)
    weight = np.maximum(core.sum(axis=(1, 2)), 1e-9)
    offsets = np.arange(-1, 2) + 0.5
    centre_eta = showers.window_eta0 + c_eta * MIDDLE_CELL_ETA
    centre_phi = showers.window_phi0 + c_phi * MIDDLE_CELL_PHI
    out["cl_eta"] = centre_eta + MIDDLE_CELL_ETA * (core.sum(axis=2) @ offsets) / weight
    phi = centre_phi + MIDDLE_CELL_PHI * (core.sum(axis=1) @ offsets) / weight
    out["cl_phi"] = wrap_phi(phi)
    out["cl_etaModCalo"] = np.mod(out["cl_eta"], MIDDLE_CELL_ETA)
    out["cl_phiModCalo"] = np.mod(out["cl_phi"], MIDDLE_CELL_PHI)
    out["cl_etaIndex"] = showers.centre_ieta
    return out


def reconstruct_candidates(
    cand: dict, showers: Showers, clusters: dict, gen: dict, rng: np.random.Generator
) -> dict:
    """Reconstructed quantities of n candidates (arrays (n,), names without the el_/ph_ prefix):
    direction smeared by 0.0005 in eta and phi [rad], ``e`` the calibrated baseline energy and
    ``pt`` = e / cosh(eta) [GeV], the loose / tight identification decisions, the cluster
    quantities (CLUSTER_BRANCHES), ``binned_e`` [GeV] and the crack / tile-gap scintillator
    signals [GeV]. ``clusters`` must carry the baseline energies (objects.calibrate_objects)."""
    n_cand = len(cand["e"])
    e_base = clusters["e"]
    eta_reco = cand["eta"] + 0.0005 * rng.standard_normal(n_cand)
    phi_reco = wrap_phi(cand["phi"] + 0.0005 * rng.standard_normal(n_cand))
    loose_eff = np.where(cand["fake"], gen["fake_loose_efficiency"], gen["loose_efficiency"])
    tight_eff = np.where(cand["fake"], gen["fake_tight_efficiency"], gen["tight_efficiency"])
    u_id = rng.uniform(size=n_cand)
    return {
        "pt": e_base / np.cosh(eta_reco),
        "eta": eta_reco,
        "phi": phi_reco,
        "e": e_base,
        "isLoose": u_id < loose_eff,
        "isTight": u_id < loose_eff * tight_eff,
        **{k: v for k, v in clusters.items() if k in CLUSTER_BRANCHES},
        "binned_e": clusters["e_binned"],
        "Ecrack": showers.e_crack,
        "Etilegap": showers.e_tilegap,
    }


def truth_record(cand: dict, gen: dict, rng: np.random.Generator) -> dict:
    """Truth record of n candidates (arrays (n,)): the dressed generator energy [GeV], a
    ``truth_mismatch_fraction`` of it matched to the wrong particle (energy scaled by a
    log-uniform factor in [1/4, 4]); zero energies and pdgId 0 for fakes. ``gen_e`` is the
    always-correct generator energy [GeV]."""
    n_cand = len(cand["e"])
    mismatch = rng.uniform(size=n_cand) < gen["truth_mismatch_fraction"]
    factor = np.exp(rng.uniform(np.log(0.25), np.log(4.0), n_cand))
    return {
        "truth_e": np.where(cand["fake"], 0.0, cand["e"] * np.where(mismatch, factor, 1.0)),
        "truth_pt": np.where(cand["fake"], 0.0, cand["e"] / np.cosh(cand["eta"])),
        "truth_eta": cand["eta"],
        "truth_phi": cand["phi"],
        "truth_pdgId": np.where(
            cand["fake"], 0, np.where(cand["photon"], PHOTON_PDG, -ELECTRON_PDG * cand["charge"])
        ),
        "truth_matched": ~cand["fake"],
        "gen_e": cand["e"],
    }
