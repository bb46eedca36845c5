"""A vectorised fast simulation of an ATLAS-like liquid-argon EM calorimeter.

Every object (electron or photon) gets, in one pass over numpy arrays of objects:

- upstream material X(eta) in radiation lengths (rising with |eta|, peaking in the crack), the
  last part of which is the presampler (|eta| < 1.8);
- a gamma-function longitudinal profile whose shower maximum T and shape alpha fluctuate together,
  object by object, as Grindhammer and Peters parametrise them (GFLASH), integrated over depth
  into dead material, presampler, strips, middle, back and leakage;
- a core + tail lateral profile integrated over every cell of each layer's window, its radii
  following each shower's own depth in the layer (GFLASH radial profiles), centred on the
  energy barycentre of the impact points;
- the end-cap's geometry: beyond |eta| 1.475 the calorimeter sits at a fixed |z|, so showers
  span more (or fewer) cells and tracks bend less than in the barrel;
- bremsstrahlung in the inner-detector material (Bethe-Heitler): photons radiated along the
  track fly straight to the calorimeter while the electron, lighter after each emission, bends
  further in the 2 T field, so the deposit spreads in phi, partly beyond the 3x7 cluster;
- optionally, several sources per object (SubShowers): electromagnetic sub-showers at their own
  (eta, phi) offsets and energy shares (the photons of a meson decay, soft photons beside
  them) sharing the object's longitudinal profile, and deposits of given layer energies (charged
  hadrons in the EM layers: simulation.jets);
- accordion phi- and eta-modulation of the response, a per-object constant term, per-layer scales,
  sampling fluctuations per cell, electronic noise, diffuse and discrete pile-up deposits with
  out-of-time cell times, and the crack / tile-gap scintillators.

All energies in GeV, depths in X0, angles in radians. Bookkeeping is exact before noise:
``dead + sum(in-window) + sum(out-of-window) + leakage == energy``.

simulate_showers puts the pieces together; they live in the modules beside this one: detector
(shower types, effect switches, material), longitudinal, lateral, inner_detector
(bremsstrahlung, conversions) and pileup.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from egcalib.core.contract import LAYERS, MIDDLE_CELL_ETA, MIDDLE_CELL_PHI
from egcalib.simulation.detector import effect_on, endcap_geometry, eta_width_scales
from egcalib.simulation.inner_detector import bremsstrahlung, conversion_radius
from egcalib.simulation.lateral import gauss_cell_fractions, lateral_width_scales, window_edges
from egcalib.simulation.longitudinal import longitudinal_fractions
from egcalib.simulation.pileup import pileup_particles


@dataclass
class SubShowers:
    """Several sources of one object's deposit, k (EM) and m (other) per object, padded with
    zero shares / energies. Angles in radians, energies in GeV.

    ``share`` (n, k): the share of the object's electromagnetic energy (simulate_showers's
    ``energy``) each EM sub-shower carries, at offsets ``d_eta``, ``d_phi`` (n, k) from the
    object's direction; the object's own shower keeps 1 - sum(share) (0 for a meson whose
    photons are all sub-showers). The sub-showers share the object's longitudinal profile and
    lateral widths (drawn at its whole energy). ``layer_energy`` (n, m, 4): deposits of other
    particles (charged hadrons) in the presampler, strips, middle and back, at offsets
    ``deposit_d_eta``, ``deposit_d_phi`` (n, m), each a Gaussian of ``deposit_sigma_cells``
    middle cells in eta and phi; they are not part of ``energy`` nor of the Showers' true
    bookkeeping (e_layer, e_in_window), only of the cells.
    """

    share: np.ndarray
    d_eta: np.ndarray
    d_phi: np.ndarray
    layer_energy: np.ndarray
    deposit_d_eta: np.ndarray
    deposit_d_phi: np.ndarray
    deposit_sigma_cells: float

    def __post_init__(self) -> None:
        n = len(self.share)
        shapes = {
            "share": self.share.shape,
            "d_eta": self.d_eta.shape,
            "d_phi": self.d_phi.shape,
            "layer_energy": self.layer_energy.shape[:2],
            "deposit_d_eta": self.deposit_d_eta.shape,
            "deposit_d_phi": self.deposit_d_phi.shape,
        }
        k, m = self.share.shape[1], self.layer_energy.shape[1]
        expected = dict.fromkeys(("share", "d_eta", "d_phi"), (n, k))
        expected.update(dict.fromkeys(("layer_energy", "deposit_d_eta", "deposit_d_phi"), (n, m)))
        if shapes != expected or self.layer_energy.shape[2:] != (len(LAYERS),):
            raise ValueError(f"SubShowers arrays of inconsistent shapes: {shapes}")
        if np.any(self.share < 0) or np.any(self.share.sum(axis=1) > 1 + 1e-9):
            raise ValueError("SubShowers shares must be >= 0 and sum to at most 1 per object")


@dataclass
class Showers:
    """Per-object output of the calorimeter simulation (arrays of length n unless noted)."""

    cells: dict[str, np.ndarray]  # layer -> (n, n_eta, n_phi) measured cell energies
    times: dict[str, np.ndarray]  # layer -> (n, n_eta, n_phi) cell times [ns]
    window_eta0: np.ndarray  # lower eta edge of the window
    window_phi0: np.ndarray  # lower phi edge of the window
    centre_ieta: np.ndarray  # eta index of the hottest (central) middle cell
    centre_iphi: np.ndarray
    e_dead: np.ndarray  # lost upstream of the presampler (and everywhere for |eta|>1.8)
    e_layer: np.ndarray  # (n, 4) true deposit per layer
    e_in_window: np.ndarray  # (n, 4) true deposit inside each layer's window
    e_leak: np.ndarray  # behind the calorimeter
    e_crack: np.ndarray  # crack scintillator signal
    e_tilegap: np.ndarray  # tile-gap scintillator signal
    brem_fraction: np.ndarray  # energy fraction radiated in the tracker (electrons)
    kept_in_silicon: np.ndarray  # mean energy fraction kept over the silicon (track momentum)
    pileup: dict[str, np.ndarray]  # discrete in-time charged pile-up particles (n, k) arrays
    conversion_radius: np.ndarray  # converted photons: conversion radius [mm] (else 0)


def simulate_showers(
    energy: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    charge: np.ndarray,
    shower_type: np.ndarray,
    mu: np.ndarray,
    sim: dict,
    detector: dict,
    rng: np.random.Generator,
    sources: SubShowers | None = None,
) -> Showers:
    """Simulate the calorimeter response to n objects (arrays of length n).

    ``energy``, ``eta``, ``phi`` are the true energy and the direction at the vertex; ``charge``
    is 0 for photons; ``mu`` is the event's average pile-up. Charged tracks bend in phi by
    bremsstrahlung(); the window is centred on the middle cell of the deposit's barycentre.
    ``sources`` (SubShowers, optional) splits each object's EM deposit into sub-showers at their
    own offsets and adds other deposits to its cells; without it (every process but jets) the
    object is one shower, and the random numbers drawn are those of a call without it.
    """
    n = len(energy)
    abs_eta = np.abs(eta)
    shapes = {layer: tuple(shape) for layer, shape in sim["native_shapes"].items()}
    mid_eta, mid_phi = shapes["lr2"]

    fractions, x_tracker, depth = longitudinal_fractions(
        energy, abs_eta, shower_type, sim, detector, rng
    )
    e_dead = energy * fractions[:, 0]
    e_layer = energy[:, None] * fractions[:, 1:5]
    e_leak = energy * fractions[:, 5]

    pt = energy / np.cosh(eta)
    el_offset, ph_offsets, ph_fractions, kept, kept_in_silicon = bremsstrahlung(
        energy, pt, charge, x_tracker, sim, rng
    )
    lateral_geometry, bending = endcap_geometry(abs_eta, sim)
    el_offset, ph_offsets = el_offset * bending, ph_offsets * bending[:, None]
    sign = np.where(charge < 0, -1.0, 1.0)
    # Impact points of the electron (or photon) and of the radiated photons; phi as at the
    # vertex minus q times the offset (the convention of the track extrapolation).
    phi_el = phi - sign * el_offset
    phi_ph = phi[:, None] - sign[:, None] * ph_offsets
    phi_bary = kept * phi_el + (ph_fractions * phi_ph).sum(axis=1)
    eta_bary, own_kept, own_fractions = eta, kept, ph_fractions
    if sources is not None:
        # The object's own shower keeps what its sub-showers do not carry.
        own = np.clip(1.0 - sources.share.sum(axis=1), 0.0, 1.0)
        eta_bary = own * eta + (sources.share * (eta[:, None] + sources.d_eta)).sum(axis=1)
        phi_bary = own * phi_bary + (sources.share * (phi[:, None] + sources.d_phi)).sum(axis=1)
        own_kept, own_fractions = own * kept, own[:, None] * ph_fractions
    centre_ieta = np.floor(eta_bary / MIDDLE_CELL_ETA).astype(np.int64)
    centre_iphi = np.floor(phi_bary / MIDDLE_CELL_PHI).astype(np.int64)
    eta0 = (centre_ieta - mid_eta // 2) * MIDDLE_CELL_ETA
    phi0 = (centre_iphi - mid_phi // 2) * MIDDLE_CELL_PHI
    window_eta = mid_eta * MIDDLE_CELL_ETA
    window_phi = mid_phi * MIDDLE_CELL_PHI

    lateral = sim["lateral"]
    core_scale, tail_scale = lateral_width_scales(energy, depth, sim)
    core_scale, tail_scale = (
        core_scale * lateral_geometry[:, None],
        tail_scale * lateral_geometry[:, None],
    )
    core_eta, tail_eta = eta_width_scales(abs_eta, sim, detector)
    cells, in_window = {}, np.zeros((n, 4))
    response = _response(eta_bary, phi_bary, sim, detector, rng)
    phi_sources = [(own_kept, phi_el)] + [
        (own_fractions[:, k], phi_ph[:, k]) for k in range(own_fractions.shape[1])
    ]
    for li, layer in enumerate(LAYERS):
        n_eta, n_phi = shapes[layer]
        eta_edges = window_edges(n, eta0, window_eta / n_eta, n_eta)
        phi_edges = window_edges(n, phi0, window_phi / n_phi, n_phi)
        profile = np.zeros((n, n_eta, n_phi))
        for sigma_cells, eta_factor, weight in (
            (
                lateral["core_sigma"][li] * core_scale[:, li],
                core_eta[:, li],
                1 - lateral["tail_fraction"][li],
            ),
            (
                lateral["tail_sigma"][li] * tail_scale[:, li],
                tail_eta[:, li],
                lateral["tail_fraction"][li],
            ),
        ):
            f_eta = gauss_cell_fractions(eta_edges, eta, sigma_cells * eta_factor * MIDDLE_CELL_ETA)
            f_phi = sum(
                share[:, None]
                * gauss_cell_fractions(phi_edges, centre, sigma_cells * MIDDLE_CELL_PHI)
                for share, centre in phi_sources
            )
            profile += weight * f_eta[:, :, None] * f_phi[:, None, :]
            if sources is not None:
                profile += weight * _source_profile(
                    eta_edges,
                    phi_edges,
                    eta[:, None] + sources.d_eta,
                    phi[:, None] + sources.d_phi,
                    sources.share,
                    sigma_cells * eta_factor * MIDDLE_CELL_ETA,
                    sigma_cells * MIDDLE_CELL_PHI,
                )
        deposit = e_layer[:, li, None, None] * profile
        in_window[:, li] = deposit.sum(axis=(1, 2))
        if sources is not None:  # other particles' deposits: in the cells, not the bookkeeping
            deposit += _source_profile(
                eta_edges,
                phi_edges,
                eta[:, None] + sources.deposit_d_eta,
                phi[:, None] + sources.deposit_d_phi,
                sources.layer_energy[:, :, li],
                np.full(n, sources.deposit_sigma_cells * MIDDLE_CELL_ETA),
                np.full(n, sources.deposit_sigma_cells * MIDDLE_CELL_PHI),
            )
        visible = deposit * (response * detector["layer_scales"][li])[:, None, None]
        # Sampling fluctuations per cell: summed over cells they give a / sqrt(E).
        visible += (
            sim["sampling_term"][li]
            * np.sqrt(np.maximum(visible, 0.0))
            * rng.standard_normal(visible.shape)
        )
        cells[layer] = visible

    pileup, pu_energy, pu_time_weighted = pileup_particles(
        eta_bary, phi_bary, eta0, phi0, mu, shapes, sim, detector, rng, window_eta, window_phi
    )
    times = {}
    for li, layer in enumerate(LAYERS):
        signal = cells[layer]
        jitter = np.hypot(
            sim["time_constant_ns"], sim["time_noise_ns_gev"] / np.maximum(np.abs(signal), 1e-3)
        )
        signal_time = jitter * rng.standard_normal(signal.shape)
        noise_sigma = detector["noise"][li] if effect_on(sim, "noise") else 0.0
        pu_sigma = (
            detector["pileup_noise"][li] * np.sqrt(mu / 40.0)[:, None, None]
            if effect_on(sim, "pileup")
            else 0.0
        )
        noise = np.hypot(noise_sigma, pu_sigma) * rng.standard_normal(signal.shape)
        total = signal + pu_energy[layer] + noise
        weight = np.abs(signal) + np.abs(pu_energy[layer])
        cell_time = (np.abs(signal) * signal_time + pu_time_weighted[layer]) / np.maximum(
            weight, 1e-9
        )
        # Like the read-out, only cells clearly above noise carry a time.
        threshold = 3 * max(detector["noise"][li], 1e-3)
        times[layer] = np.where(np.abs(total) > threshold, cell_time, 0.0).astype(np.float32)
        cells[layer] = total.astype(np.float32)

    in_crack = (abs_eta > 1.4) & (abs_eta < 1.6)
    e_crack = np.where(
        in_crack,
        sim["crack_scintillator_response"] * e_dead * (1 + 0.2 * rng.standard_normal(n)),
        0.0,
    )
    in_tilegap = (abs_eta > 1.0) & (abs_eta < 1.6)
    e_tilegap = np.where(
        in_tilegap, sim["tilegap_response"] * e_leak + 0.05 * rng.standard_normal(n), 0.0
    )
    return Showers(
        cells=cells,
        times=times,
        window_eta0=eta0,
        window_phi0=phi0,
        centre_ieta=centre_ieta,
        centre_iphi=centre_iphi,
        e_dead=e_dead,
        e_layer=e_layer,
        e_in_window=in_window,
        e_leak=e_leak,
        e_crack=e_crack,
        e_tilegap=e_tilegap,
        brem_fraction=1.0 - kept,
        kept_in_silicon=kept_in_silicon,
        pileup=pileup,
        conversion_radius=conversion_radius(depth["t0"], x_tracker, shower_type, sim),
    )


def _source_profile(
    eta_edges: np.ndarray,
    phi_edges: np.ndarray,
    eta_centre: np.ndarray,
    phi_centre: np.ndarray,
    weight: np.ndarray,
    sigma_eta: np.ndarray,
    sigma_phi: np.ndarray,
) -> np.ndarray:
    """Sum over k sources of ``weight`` (n, k) times their Gaussian cell fractions, each source
    at (``eta_centre``, ``phi_centre``) (n, k) with the object's widths ``sigma_eta``,
    ``sigma_phi`` (n,) [rad], over the cells of ``eta_edges`` (n, n_eta + 1) and ``phi_edges``
    (n, n_phi + 1): (n, n_eta, n_phi), in the units of ``weight``. Columnar over objects and
    sources (no loop over either)."""
    n, k = weight.shape
    if k == 0:
        return np.zeros((n, eta_edges.shape[1] - 1, phi_edges.shape[1] - 1))
    f_eta = gauss_cell_fractions(
        np.repeat(eta_edges, k, axis=0), eta_centre.reshape(-1), np.repeat(sigma_eta, k)
    ).reshape(n, k, -1)
    f_phi = gauss_cell_fractions(
        np.repeat(phi_edges, k, axis=0), phi_centre.reshape(-1), np.repeat(sigma_phi, k)
    ).reshape(n, k, -1)
    return np.einsum("nk,nke,nkp->nep", weight, f_eta, f_phi)


def _response(eta, phi, sim, detector, rng):
    """Per-object response: accordion phi-modulation, eta-modulation and a constant term."""
    phi_in_cell = np.mod(phi, MIDDLE_CELL_PHI) / MIDDLE_CELL_PHI
    eta_in_cell = np.mod(eta, MIDDLE_CELL_ETA) / MIDDLE_CELL_ETA
    modulation = 1.0
    if effect_on(sim, "modulation"):
        modulation = (
            1.0
            + detector["phi_modulation"] * np.cos(2 * np.pi * phi_in_cell)
            - detector["eta_modulation"] * (2 * eta_in_cell - 1) ** 2
        )
    constant = detector["constant_term"] if effect_on(sim, "constant_term") else 0.0
    return modulation * (1.0 + constant * rng.standard_normal(len(eta)))
