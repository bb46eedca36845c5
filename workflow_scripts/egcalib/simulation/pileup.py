"""Pile-up: the average number of interactions per crossing of each event, and the discrete
pile-up particles around each object, with their cell deposits, cell times and tracks.

Energies and transverse momenta in GeV, times in ns, angles in radians.
"""

from __future__ import annotations

import numpy as np

from egcalib.core.contract import LAYERS, MIDDLE_CELL_ETA, MIDDLE_CELL_PHI
from egcalib.simulation.detector import effect_on
from egcalib.simulation.lateral import gauss_cell_fractions, window_edges


def sample_mu(n: int, detector: dict, rng: np.random.Generator) -> np.ndarray:
    """Average interactions per crossing from the detector's (run period's) mu profile."""
    lo, hi = detector["mu_range"]
    mu = detector["mu_mean"] + detector["mu_sigma"] * rng.standard_normal(n)
    return np.clip(mu, lo, hi)


def pileup_particles(
    eta: np.ndarray,
    phi: np.ndarray,
    eta0: np.ndarray,
    phi0: np.ndarray,
    mu: np.ndarray,
    shapes: dict,
    sim: dict,
    detector: dict,
    rng: np.random.Generator,
    window_eta: float,
    window_phi: float,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Discrete pile-up particles in a cone around each object.

    In-time charged particles leave tracks (returned) and deposits; out-of-time particles leave
    deposits scaled by the bipolar pulse shape (negative for earlier crossings) at +-25 ns.
    """
    pu = sim["pileup"]
    n, k_max = len(eta), pu["max_particles"]
    rate = pu["particles_per_mu"] * mu if effect_on(sim, "pileup") else np.zeros(n)
    count = np.minimum(rng.poisson(rate), k_max)
    present = np.arange(k_max)[None, :] < count[:, None]
    radius = pu["cone"] * np.sqrt(rng.uniform(size=(n, k_max)))
    angle = rng.uniform(0, 2 * np.pi, (n, k_max))
    p_eta = eta[:, None] + radius * np.cos(angle)
    p_phi = phi[:, None] + radius * np.sin(angle)
    p_pt = pu["pt_min"] + rng.exponential(pu["pt_mean"], (n, k_max))
    charged = rng.uniform(size=(n, k_max)) < pu["charged_fraction"]
    crossing = rng.choice(
        np.array(pu["crossings"]), size=(n, k_max), p=np.array(pu["crossing_probabilities"])
    )
    in_time = crossing == 0
    pulse = np.interp(crossing, [-2, -1, 0, 1], pu["pulse_response"])
    em_fraction = np.where(charged, pu["charged_em_fraction"], 1.0)
    deposit = np.where(present, p_pt * np.cosh(p_eta) * em_fraction * pulse, 0.0)
    time = 25.0 * crossing
    spot = np.full(n * k_max, pu["spot_sigma_cells"])
    energy, time_weighted = {}, {}
    for li, layer in enumerate(LAYERS):
        n_eta, n_phi = shapes[layer]
        eta_edges = np.repeat(window_edges(n, eta0, window_eta / n_eta, n_eta), k_max, axis=0)
        phi_edges = np.repeat(window_edges(n, phi0, window_phi / n_phi, n_phi), k_max, axis=0)
        f_eta = gauss_cell_fractions(eta_edges, p_eta.ravel(), spot * MIDDLE_CELL_ETA)
        f_phi = gauss_cell_fractions(phi_edges, p_phi.ravel(), spot * MIDDLE_CELL_PHI)
        f_eta = f_eta.reshape(n, k_max, n_eta)
        f_phi = f_phi.reshape(n, k_max, n_phi)
        layer_deposit = deposit * pu["layer_fractions"][li]
        energy[layer] = np.einsum("nk,nki,nkj->nij", layer_deposit, f_eta, f_phi, optimize=True)
        # Cell times are |energy|-weighted; the profile fractions are positive.
        time_weighted[layer] = np.einsum(
            "nk,nki,nkj->nij", np.abs(layer_deposit) * time, f_eta, f_phi, optimize=True
        )
    track = present & charged & in_time
    tracks = {
        "mask": track,
        "pt": p_pt,
        "eta": p_eta,
        "phi": p_phi,
        "charge": np.where(rng.uniform(size=(n, k_max)) < 0.5, -1, 1),
    }
    return tracks, energy, time_weighted
