"""A vectorised fast simulation of an ATLAS-like liquid-argon EM calorimeter.

Every object (electron or photon) gets, in one pass over numpy arrays of objects:

- upstream material X(eta) in radiation lengths (rising with |eta|, peaking in the crack), the
  last part of which is the presampler (|eta| < 1.8);
- a gamma-function longitudinal profile with a fluctuating shower maximum and start point,
  integrated over depth into dead material, presampler, strips, middle, back and leakage;
- a core + tail lateral profile integrated over every cell of each layer's window, centred on the
  impact point (uniform inside the hottest middle cell), with bremsstrahlung spread in phi for
  electrons;
- accordion phi- and eta-modulation of the response, a per-object constant term, per-layer scales,
  sampling fluctuations per cell, electronic noise, diffuse and discrete pile-up deposits with
  out-of-time cell times, and the crack / tile-gap scintillators.

All energies in GeV, depths in X0, angles in radians. Bookkeeping is exact before noise:
``dead + sum(in-window) + sum(out-of-window) + leakage == energy``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import erf, gammainc

from egcalib.contract import LAYERS

MIDDLE_CELL_ETA = 0.025
MIDDLE_CELL_PHI = 2 * np.pi / 256
ELECTRON, UNCONVERTED, CONVERTED = 0, 1, 2  # shower types
CRACK_ETA = (1.37, 1.52)
_SQRT2 = np.sqrt(2.0)


@dataclass
class Showers:
    """Per-object output of the calorimeter simulation (arrays of length n unless noted)."""

    cells: dict[str, np.ndarray]   # layer -> (n, n_eta, n_phi) measured cell energies
    times: dict[str, np.ndarray]   # layer -> (n, n_eta, n_phi) cell times [ns]
    window_eta0: np.ndarray        # lower eta edge of the window
    window_phi0: np.ndarray        # lower phi edge of the window
    centre_ieta: np.ndarray        # eta index of the hottest (central) middle cell
    centre_iphi: np.ndarray
    e_dead: np.ndarray             # lost upstream of the presampler (and everywhere for |eta|>1.8)
    e_layer: np.ndarray            # (n, 4) true deposit per layer
    e_in_window: np.ndarray        # (n, 4) true deposit inside each layer's window
    e_leak: np.ndarray             # behind the calorimeter
    e_crack: np.ndarray            # crack scintillator signal
    e_tilegap: np.ndarray          # tile-gap scintillator signal
    brem_fraction: np.ndarray      # energy fraction radiated in the tracker (electrons)
    pileup: dict[str, np.ndarray]  # discrete in-time charged pile-up particles (n, k) arrays


def upstream_material(abs_eta: np.ndarray, detector: dict) -> np.ndarray:
    """Material in front of the calorimeter, in X0 (including the presampler)."""
    crack_centre = 0.5 * sum(CRACK_ETA)
    return (detector["upstream_x0"] * (1.0 + detector["upstream_eta2"] * abs_eta**2)
            + detector["crack_x0"] * np.exp(-0.5 * ((abs_eta - crack_centre) / 0.06) ** 2))


def _window_edges(n, origin, cell_size, count):
    """(n, count+1) cell edges starting at ``origin`` (n,)."""
    return origin[:, None] + cell_size * np.arange(count + 1)[None, :]


def _gauss_cell_fractions(edges, centre, sigma):
    """Fraction of a 1D Gaussian (centre, sigma: (n,) or (n, 1)) in each cell: (n, cells)."""
    z = (edges - np.reshape(centre, (len(edges), -1))) / (_SQRT2 * np.reshape(sigma, (-1, 1)))
    return 0.5 * np.diff(erf(z), axis=1)


def longitudinal_fractions(energy, abs_eta, shower_type, sim, detector, rng):
    """Energy fractions (dead, presampler, strips, middle, back, leakage), shape (n, 6).

    The shower starts at t0 (0 for electrons; the conversion point for photons) and follows
    dE/dt ~ Gamma(a, 1/b) in (t - t0) with t_max = (a - 1)/b = ln(E/E_c) + C + fluctuation.
    """
    long = sim["longitudinal"]
    n = len(energy)
    x_up = upstream_material(abs_eta, detector)
    x_tracker = long["tracker_fraction"] * x_up
    t0 = np.zeros(n)
    converted = shower_type == CONVERTED
    unconverted = shower_type == UNCONVERTED
    t0[converted] = rng.uniform(0.0, 1.0, converted.sum()) * x_tracker[converted]
    # Unconverted photons did not convert in the tracker; they convert later, after ~9/7 X0.
    t0[unconverted] = x_tracker[unconverted] + rng.exponential(9.0 / 7.0, unconverted.sum())
    offset = np.where(shower_type == ELECTRON, long["tmax_offset_electron"],
                      long["tmax_offset_photon"])
    t_max = (np.log(energy / long["critical_energy"]) + offset
             + long["tmax_sigma"] * rng.standard_normal(n))
    b = long["b"]
    a = np.maximum(1.0 + b * t_max, 1.5)
    depth_scale = 1.0 + long["depth_slope"] * np.minimum(abs_eta, 1.5)
    ps_depth = np.where(abs_eta < sim["presampler_eta_max"], long["presampler_x0"], 0.0)
    boundaries = [x_up - ps_depth, x_up]
    for thickness in long["layer_x0"]:
        boundaries.append(boundaries[-1] + thickness * depth_scale)
    cdf = [gammainc(a, b * np.maximum(edge - t0, 0.0)) for edge in boundaries]
    fractions = np.stack([cdf[0]] + [hi - lo for lo, hi in zip(cdf[:-1], cdf[1:])]
                         + [1.0 - cdf[-1]], axis=1)
    return fractions, x_tracker


def simulate_showers(energy, eta, phi, charge, shower_type, mu, sim: dict, detector: dict,
                     rng: np.random.Generator) -> Showers:
    """Simulate the calorimeter response to n objects (arrays of length n).

    ``energy``, ``eta``, ``phi`` are the true energy and the impact point at the calorimeter;
    ``charge`` is 0 for photons; ``mu`` is the event's average pile-up.
    """
    n = len(energy)
    abs_eta = np.abs(eta)
    shapes = {layer: tuple(shape) for layer, shape in sim["native_shapes"].items()}
    mid_eta, mid_phi = shapes["lr2"]
    centre_ieta = np.floor(eta / MIDDLE_CELL_ETA).astype(np.int64)
    centre_iphi = np.floor(phi / MIDDLE_CELL_PHI).astype(np.int64)
    eta0 = (centre_ieta - mid_eta // 2) * MIDDLE_CELL_ETA
    phi0 = (centre_iphi - mid_phi // 2) * MIDDLE_CELL_PHI
    window_eta = mid_eta * MIDDLE_CELL_ETA
    window_phi = mid_phi * MIDDLE_CELL_PHI

    fractions, x_tracker = longitudinal_fractions(energy, abs_eta, shower_type, sim, detector, rng)
    e_dead = energy * fractions[:, 0]
    e_layer = energy[:, None] * fractions[:, 1:5]
    e_leak = energy * fractions[:, 5]

    # Bremsstrahlung in the tracker (Bethe-Heitler: -ln(remaining) ~ Gamma(X/ln2)); the photons
    # land between the electron's impact point and where an unbent track would have gone.
    lateral = sim["lateral"]
    is_electron = shower_type == ELECTRON
    brem = np.zeros(n)
    brem[is_electron] = 1.0 - np.exp(-rng.gamma(x_tracker[is_electron] / np.log(2.0)))
    pt = energy / np.cosh(eta)
    bend = charge * lateral["track_bend"] / np.maximum(pt, 1.0)
    n_sub = lateral["brem_subshowers"]
    sub_offsets = bend[:, None] * (np.arange(n_sub) + 0.5)[None, :] / n_sub

    cells, in_window = {}, np.zeros((n, 4))
    response = _response(eta, phi, detector, rng)
    for li, layer in enumerate(LAYERS):
        n_eta, n_phi = shapes[layer]
        eta_edges = _window_edges(n, eta0, window_eta / n_eta, n_eta)
        phi_edges = _window_edges(n, phi0, window_phi / n_phi, n_phi)
        profile = np.zeros((n, n_eta, n_phi))
        for sigma_cells, weight in ((lateral["core_sigma"][li], 1 - lateral["tail_fraction"][li]),
                                    (lateral["tail_sigma"][li], lateral["tail_fraction"][li])):
            sig_eta = np.full(n, sigma_cells * MIDDLE_CELL_ETA)
            sig_phi = np.full(n, sigma_cells * MIDDLE_CELL_PHI)
            f_eta = _gauss_cell_fractions(eta_edges, eta, sig_eta)
            f_phi = (1 - brem)[:, None] * _gauss_cell_fractions(phi_edges, phi, sig_phi)
            for k in range(n_sub):
                f_phi += (brem / n_sub)[:, None] * _gauss_cell_fractions(
                    phi_edges, phi + sub_offsets[:, k], sig_phi)
            profile += weight * f_eta[:, :, None] * f_phi[:, None, :]
        deposit = e_layer[:, li, None, None] * profile
        in_window[:, li] = deposit.sum(axis=(1, 2))
        visible = deposit * (response * detector["layer_scales"][li])[:, None, None]
        # Sampling fluctuations per cell: summed over cells they give a / sqrt(E).
        visible += (sim["sampling_term"][li] * np.sqrt(np.maximum(visible, 0.0))
                    * rng.standard_normal(visible.shape))
        cells[layer] = visible

    pileup, pu_energy, pu_time_weighted = _pileup(eta, phi, eta0, phi0, mu, shapes, sim, detector,
                                                  rng, window_eta, window_phi)
    times = {}
    for li, layer in enumerate(LAYERS):
        signal = cells[layer]
        jitter = np.hypot(sim["time_constant_ns"], sim["time_noise_ns_gev"]
                          / np.maximum(np.abs(signal), 1e-3))
        signal_time = jitter * rng.standard_normal(signal.shape)
        noise_sigma = detector["noise"][li]
        pu_sigma = detector["pileup_noise"][li] * np.sqrt(mu / 40.0)[:, None, None]
        noise = np.hypot(noise_sigma, pu_sigma) * rng.standard_normal(signal.shape)
        total = signal + pu_energy[layer] + noise
        weight = np.abs(signal) + np.abs(pu_energy[layer])
        cell_time = (np.abs(signal) * signal_time + pu_time_weighted[layer]) / np.maximum(weight, 1e-9)
        # Like the read-out, only cells clearly above noise carry a time.
        times[layer] = np.where(np.abs(total) > 3 * noise_sigma, cell_time, 0.0).astype(np.float32)
        cells[layer] = total.astype(np.float32)

    in_crack = (abs_eta > 1.4) & (abs_eta < 1.6)
    e_crack = np.where(in_crack, sim["crack_scintillator_response"] * e_dead
                       * (1 + 0.2 * rng.standard_normal(n)), 0.0)
    in_tilegap = (abs_eta > 1.0) & (abs_eta < 1.6)
    e_tilegap = np.where(in_tilegap, sim["tilegap_response"] * e_leak
                         + 0.05 * rng.standard_normal(n), 0.0)
    return Showers(cells=cells, times=times, window_eta0=eta0, window_phi0=phi0,
                   centre_ieta=centre_ieta, centre_iphi=centre_iphi, e_dead=e_dead,
                   e_layer=e_layer, e_in_window=in_window, e_leak=e_leak, e_crack=e_crack,
                   e_tilegap=e_tilegap, brem_fraction=brem, pileup=pileup)


def _response(eta, phi, detector, rng):
    """Per-object response: accordion phi-modulation, eta-modulation and a constant term."""
    phi_in_cell = np.mod(phi, MIDDLE_CELL_PHI) / MIDDLE_CELL_PHI
    eta_in_cell = np.mod(eta, MIDDLE_CELL_ETA) / MIDDLE_CELL_ETA
    modulation = (1.0 + detector["phi_modulation"] * np.cos(2 * np.pi * phi_in_cell)
                  - detector["eta_modulation"] * (2 * eta_in_cell - 1) ** 2)
    return modulation * (1.0 + detector["constant_term"] * rng.standard_normal(len(eta)))


def _pileup(eta, phi, eta0, phi0, mu, shapes, sim, detector, rng, window_eta, window_phi):
    """Discrete pile-up particles in a cone around each object.

    In-time charged particles leave tracks (returned) and deposits; out-of-time particles leave
    deposits scaled by the bipolar pulse shape (negative for earlier crossings) at +-25 ns.
    """
    pu = sim["pileup"]
    n, k_max = len(eta), pu["max_particles"]
    count = np.minimum(rng.poisson(pu["particles_per_mu"] * mu), k_max)
    present = np.arange(k_max)[None, :] < count[:, None]
    radius = pu["cone"] * np.sqrt(rng.uniform(size=(n, k_max)))
    angle = rng.uniform(0, 2 * np.pi, (n, k_max))
    p_eta = eta[:, None] + radius * np.cos(angle)
    p_phi = phi[:, None] + radius * np.sin(angle)
    p_pt = pu["pt_min"] + rng.exponential(pu["pt_mean"], (n, k_max))
    charged = rng.uniform(size=(n, k_max)) < pu["charged_fraction"]
    crossing = rng.choice(np.array(pu["crossings"]), size=(n, k_max), p=np.array(pu["crossing_probabilities"]))
    in_time = crossing == 0
    pulse = np.interp(crossing, [-2, -1, 0, 1], pu["pulse_response"])
    em_fraction = np.where(charged, pu["charged_em_fraction"], 1.0)
    deposit = np.where(present, p_pt * np.cosh(p_eta) * em_fraction * pulse, 0.0)
    time = 25.0 * crossing
    spot = np.full(n * k_max, pu["spot_sigma_cells"])
    energy, time_weighted = {}, {}
    for li, layer in enumerate(LAYERS):
        n_eta, n_phi = shapes[layer]
        eta_edges = np.repeat(_window_edges(n, eta0, window_eta / n_eta, n_eta), k_max, axis=0)
        phi_edges = np.repeat(_window_edges(n, phi0, window_phi / n_phi, n_phi), k_max, axis=0)
        f_eta = _gauss_cell_fractions(eta_edges, p_eta.ravel(), spot * MIDDLE_CELL_ETA)
        f_phi = _gauss_cell_fractions(phi_edges, p_phi.ravel(), spot * MIDDLE_CELL_PHI)
        f_eta = f_eta.reshape(n, k_max, n_eta)
        f_phi = f_phi.reshape(n, k_max, n_phi)
        layer_deposit = deposit * pu["layer_fractions"][li]
        energy[layer] = np.einsum("nk,nki,nkj->nij", layer_deposit, f_eta, f_phi, optimize=True)
        # Cell times are |energy|-weighted; the profile fractions are positive.
        time_weighted[layer] = np.einsum("nk,nki,nkj->nij", np.abs(layer_deposit) * time,
                                         f_eta, f_phi, optimize=True)
    track = present & charged & in_time
    tracks = {"mask": track, "pt": p_pt, "eta": p_eta, "phi": p_phi,
              "charge": np.where(rng.uniform(size=(n, k_max)) < 0.5, -1, 1)}
    return tracks, energy, time_weighted
