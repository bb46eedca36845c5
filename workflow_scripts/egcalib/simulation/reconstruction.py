"""Cluster reconstruction from the simulated cell windows, and the standard baseline calibration.

The cluster is the ATLAS barrel electron cluster: cells whose centres lie within
``cluster_size`` (eta x phi, in middle-cell units) around the hottest middle cell, in every layer.
The baseline energy is E = C(|eta|, E_raw) * E_raw with E_raw = E_acc + w0(|eta|) * E0: the
presampler weight corrects the average upstream loss, C the average leakage and containment.
Both are derived from a single-particle calibration sample of the simulator itself, so the
baseline corrects the mean response but not the event-by-event fluctuations the CNN can learn.
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


def raw_energy(cl_eacc, cl_e0, presampler_weight):
    return cl_eacc + presampler_weight * cl_e0


def derive_calibration(abs_eta, e_true, cl_eacc, cl_e0, eta_edges, log_e_edges) -> dict:
    """Fit the presampler weight per |eta| bin and the response correction per (|eta|, E) bin.

    Returns a JSON-serialisable table: eta_edges, weights (per eta bin), log_e_centres and
    correction (eta bins x energy bins; bins without objects borrow their neighbour's value).
    """
    eta_edges = np.asarray(eta_edges, float)
    log_e_edges = np.asarray(log_e_edges, float)
    n_eta, n_e = len(eta_edges) - 1, len(log_e_edges) - 1
    eta_bin = np.clip(np.digitize(abs_eta, eta_edges) - 1, 0, n_eta - 1)
    weights = np.zeros(n_eta)
    for b in range(n_eta):  # a handful of bins: a least-squares fit each
        sel = eta_bin == b
        if sel.sum() < 20 or np.all(cl_e0[sel] == 0):
            continue
        # Relative least squares: E_true ~ alpha E_acc + beta E0, both divided by E_true.
        design = np.stack([cl_eacc[sel], cl_e0[sel]], axis=1) / e_true[sel, None]
        (alpha, beta), *_ = np.linalg.lstsq(design, np.ones(sel.sum()), rcond=None)
        weights[b] = np.clip(beta / alpha, 0.0, 50.0)
    e_raw = raw_energy(cl_eacc, cl_e0, weights[eta_bin])
    ok = e_raw > 0
    log_e = np.log(np.where(ok, e_raw, 1.0))
    e_bin = np.clip(np.digitize(log_e, log_e_edges) - 1, 0, n_e - 1)
    ratio = np.where(ok, e_true / np.where(ok, e_raw, 1.0), np.nan)
    correction = np.full((n_eta, n_e), np.nan)
    centres = np.tile(0.5 * (log_e_edges[1:] + log_e_edges[:-1]), (n_eta, 1))
    flat = eta_bin * n_e + e_bin
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(n_eta * n_e + 1))
    for cell in range(n_eta * n_e):
        idx = order[bounds[cell]:bounds[cell + 1]]
        idx = idx[ok[idx]]
        if len(idx) >= 20:
            correction.flat[cell] = np.median(ratio[idx])
            centres.flat[cell] = np.median(log_e[idx])
    for b in range(n_eta):  # fill empty energy bins from the nearest filled one
        row = correction[b]
        filled = np.nonzero(np.isfinite(row))[0]
        if len(filled) == 0:
            raise ValueError(f"calibration: no objects in |eta| bin {eta_edges[b]}-{eta_edges[b+1]}")
        nearest = filled[np.abs(np.arange(n_e)[:, None] - filled[None, :]).argmin(axis=1)]
        correction[b] = row[nearest]
        centres[b] = np.where(np.isfinite(row), centres[b], centres[b][nearest])
    return {"eta_edges": eta_edges.tolist(), "presampler_weights": weights.tolist(),
            "log_e_centres": centres.tolist(), "correction": correction.tolist()}


def apply_calibration(table: dict, abs_eta, cl_eacc, cl_e0):
    """Baseline energy from a calibration table (see derive_calibration)."""
    eta_edges = np.asarray(table["eta_edges"])
    weights = np.asarray(table["presampler_weights"])
    centres = np.asarray(table["log_e_centres"])
    correction = np.asarray(table["correction"])
    eta_bin = np.clip(np.digitize(abs_eta, eta_edges) - 1, 0, len(weights) - 1)
    e_raw = raw_energy(cl_eacc, cl_e0, weights[eta_bin])
    log_e = np.log(np.maximum(e_raw, 1e-3))
    # Linear interpolation in log E within the object's |eta| bin, clamped at the ends.
    x, y = centres[eta_bin], correction[eta_bin]
    j = np.clip((x < log_e[:, None]).sum(axis=1), 1, x.shape[1] - 1)
    rows = np.arange(len(log_e))
    x0, x1, y0, y1 = x[rows, j - 1], x[rows, j], y[rows, j - 1], y[rows, j]
    t = np.clip((log_e - x0) / np.where(x1 > x0, x1 - x0, 1.0), 0.0, 1.0)
    return e_raw * (y0 + t * (y1 - y0))
