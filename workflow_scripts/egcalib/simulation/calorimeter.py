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
- bremsstrahlung in the inner-detector material (Bethe-Heitler): photons radiated along the
  track fly straight to the calorimeter while the electron, lighter after each emission, bends
  further in the 2 T field, so the deposit spreads in phi, partly beyond the 3x7 cluster;
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
# The detector effects with an on/off switch (config simulation.effects). With all of them off
# only the sampling term is left: the resolution floor of simulation.validation.
EFFECTS = ("bremsstrahlung", "shower_fluctuations", "lateral_depth", "pileup", "noise",
           "constant_term", "modulation")
# GFLASH reference point: the configured lateral widths are those of a 45 GeV electron at eta = 0.
_REFERENCE_ENERGY = 45.0


def effect_on(sim: dict, name: str) -> bool:
    """Whether detector effect ``name`` (one of EFFECTS) is switched on (default: on)."""
    return bool(sim.get("effects", {}).get(name, True))


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
    kept_in_silicon: np.ndarray    # mean energy fraction kept over the silicon (track momentum)
    pileup: dict[str, np.ndarray]  # discrete in-time charged pile-up particles (n, k) arrays
    conversion_radius: np.ndarray  # converted photons: conversion radius [mm] (else 0)


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


def shower_parameters(energy, shower_type, sim: dict, rng, fluctuate: bool):
    """Gamma-profile parameters per object: shape alpha (n,) and slope b (n,) [1/X0].

    The mean shower maximum is T = ln(E/E_c) + C (C = -0.5 electrons, +0.5 photons; PDG
    "Passage of particles through matter", section on EM cascades) with b = 0.5, so
    alpha = 1 + b T. With ``fluctuate``, ln T and ln alpha fluctuate object by object as
    correlated Gaussians with the widths and correlation Grindhammer and Peters fit to sampling
    calorimeters (hep-ex/0001020, GFLASH): sigma(ln T) = 1/(-2.5 + 1.25 ln y),
    sigma(ln alpha) = 1/(-0.08 + 0.79 ln y), rho = 0.79 - 0.023 ln y, y = E/E_c. Two parameters,
    not one: the layer energies no longer fix the upstream loss and the leakage exactly.
    """
    long = sim["longitudinal"]
    log_y = np.log(energy / long["critical_energy"])
    offset = np.where(shower_type == ELECTRON, long["tmax_offset_electron"],
                      long["tmax_offset_photon"])
    t_max = np.maximum(log_y + offset, 1.0)
    alpha = 1.0 + long["b"] * t_max
    if fluctuate:
        log_y = np.maximum(log_y, 3.0)  # the fitted widths hold for y > ~20 (E > ~0.2 GeV)
        sigma_t = 1.0 / (-2.506 + 1.245 * log_y)
        sigma_a = 1.0 / (-0.08442 + 0.7904 * log_y)
        rho = np.clip(0.7858 - 0.0232 * log_y, -1.0, 1.0)
        z_t, z_free = rng.standard_normal((2, len(energy)))
        t_max = t_max * np.exp(sigma_t * z_t)
        alpha = alpha * np.exp(sigma_a * (rho * z_t + np.sqrt(1.0 - rho**2) * z_free))
    alpha = np.maximum(alpha, 1.5)
    return alpha, (alpha - 1.0) / t_max


def longitudinal_fractions(energy, abs_eta, shower_type, sim, detector, rng):
    """Energy fractions (dead, presampler, strips, middle, back, leakage), shape (n, 6), the
    tracker material X_tracker (n,) [X0] and the depth structure the lateral profile needs.

    The shower starts at t0 (0 for electrons; the conversion point for photons) and follows
    dE/dt ~ Gamma(alpha, 1/b) in (t - t0) (see shower_parameters). Returns
    ``(fractions, x_tracker, depth)`` with depth = {"alpha", "b", "t0", "boundaries"}
    (boundaries: layer_boundaries, 5 arrays (n,) of layer edges).
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
    alpha, b = shower_parameters(energy, shower_type, sim, rng,
                                 effect_on(sim, "shower_fluctuations"))
    boundaries = layer_boundaries(abs_eta, x_up, sim)
    cdf = [gammainc(alpha, b * np.maximum(edge - t0, 0.0)) for edge in boundaries]
    fractions = np.stack([cdf[0]] + [hi - lo for lo, hi in zip(cdf[:-1], cdf[1:])]
                         + [1.0 - cdf[-1]], axis=1)
    depth = {"alpha": alpha, "b": b, "t0": t0, "boundaries": boundaries}
    return fractions, x_tracker, depth


def layer_boundaries(abs_eta, x_up, sim) -> list[np.ndarray]:
    """Depths [X0] from the interaction point of the presampler's front and of the back of the
    presampler, strips, middle and back layers: 5 arrays (n,). The presampler is the last
    ``presampler_x0`` of the upstream material ``x_up`` (none beyond its |eta|); the layers
    thicken as 1 + depth_slope * min(|eta|, 1.5)."""
    long = sim["longitudinal"]
    depth_scale = 1.0 + long["depth_slope"] * np.minimum(abs_eta, 1.5)
    ps_depth = np.where(abs_eta < sim["presampler_eta_max"], long["presampler_x0"], 0.0)
    boundaries = [x_up - ps_depth, x_up]
    for thickness in long["layer_x0"]:
        boundaries.append(boundaries[-1] + thickness * depth_scale)
    return boundaries


def layer_shower_age(depth: dict) -> np.ndarray:
    """Energy-weighted mean depth of each calorimeter layer's deposit in units of the shower's
    own maximum, tau = <t - t0> / T: shape (n, 4). For Gamma(alpha, 1/b) the mean depth within
    [t1, t2] is (alpha / b) [P(alpha+1, b t2) - P(alpha+1, b t1)] / [P(alpha, b t2) - P(alpha, b t1)].
    """
    alpha, b, t0 = depth["alpha"], depth["b"], depth["t0"]
    edges = [np.maximum(edge - t0, 0.0) for edge in depth["boundaries"]]
    t_max = (alpha - 1.0) / b
    ages = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        weight = gammainc(alpha, b * hi) - gammainc(alpha, b * lo)
        first = gammainc(alpha + 1.0, b * hi) - gammainc(alpha + 1.0, b * lo)
        mean = np.where(weight > 1e-12, alpha / b * first / np.maximum(weight, 1e-12),
                        0.5 * (lo + hi))
        ages.append(mean / t_max)
    return np.stack(ages, axis=1)


def gflash_radii(tau, energy, z_eff: float):
    """GFLASH median core and tail radii [Moliere radii] at shower age tau (Grindhammer and
    Peters, hep-ex/0001020, radial profiles): R_C = z1 + z2 tau,
    R_T = k1 (exp(k3 (tau - k2)) + exp(k4 (tau - k2))), with z1 = 0.0251 + 0.00319 ln E,
    z2 = 0.1162 - 0.000381 Z, k1 = 0.659 - 0.00309 Z, k2 = 0.645, k3 = -2.59,
    k4 = 0.3585 + 0.0421 ln E (E in GeV)."""
    log_e = np.log(energy)
    core = 0.0251 + 0.00319 * log_e + (0.1162 - 0.000381 * z_eff) * tau
    tail = (0.659 - 0.00309 * z_eff) * (np.exp(-2.59 * (tau - 0.645))
                                        + np.exp((0.3585 + 0.0421 * log_e) * (tau - 0.645)))
    return core, tail


def lateral_width_scales(energy, depth, sim) -> tuple[np.ndarray, np.ndarray]:
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
    ref_tau = layer_shower_age({"alpha": ref_alpha, "b": ref_b, "t0": eta0,
                                "boundaries": ref_edges})
    ref_core, ref_tail = gflash_radii(ref_tau, reference[:, None], z_eff)
    core, tail = gflash_radii(layer_shower_age(depth), energy[:, None], z_eff)
    return np.clip(core / ref_core, 0.5, 3.0), np.clip(tail / ref_tail, 0.5, 3.0)


def bremsstrahlung(energy, pt, charge, x_tracker, sim, rng):
    """Bremsstrahlung of electrons in the inner-detector material, in ``steps`` slices of radius.

    Bethe-Heitler: the fraction y of its energy an electron keeps after X radiation lengths has
    -ln y ~ Gamma(X / ln 2) (Bethe and Heitler 1934; the model of ATLAS's GSF track fit,
    ATLAS-CONF-2012-047). In a uniform solenoid field the track's phi offset at radius r is
    s(r) = B0 (r / R_calo)^2 with B0 = track_bend / pT (0.3 B R_calo / 2pT); after an emission
    its curvature grows by 1/y, while the photon flies on along the tangent. Material is spread
    uniformly in radius over the tracker (``tracker_radius_mm``; R_calo = ``calo_radius_mm``).

    Returns (electron_offset (n,), photon_offsets (n, steps), photon_fractions (n, steps),
    kept (n,), kept_in_silicon (n,)): phi offsets [rad] counted from the vertex direction against
    the bending (phi_calo = phi_vertex - q * offset), energy fractions (kept + sum(photons) = 1)
    and the mean fraction kept over the silicon (r < ``silicon_radius_mm``), where the track's
    curvature, hence its momentum, is measured.
    """
    lateral = sim["lateral"]
    n, steps = len(energy), lateral["brem_subshowers"]
    bend = np.abs(charge) * lateral["track_bend"] / np.maximum(pt, 1.0)
    fractions = np.zeros((n, steps))
    offsets = np.zeros((n, steps))
    if not effect_on(sim, "bremsstrahlung"):
        return bend, offsets, fractions, np.ones(n), np.ones(n)
    r_in, r_out = np.array(lateral["tracker_radius_mm"]) / lateral["calo_radius_mm"]
    edges = np.linspace(r_in, r_out, steps + 1)
    silicon = 0.5 * (edges[1:] + edges[:-1]) <= lateral["silicon_radius_mm"] / lateral["calo_radius_mm"]
    kept = np.ones(n)
    kept_in_silicon = np.zeros(n)
    position, slope = np.zeros(n), np.zeros(n)  # s and ds/du, u = r / R_calo
    last = 0.0
    for k in range(steps):
        u = 0.5 * (edges[k] + edges[k + 1])  # emission point of slice k
        curvature = 2.0 * bend / kept
        position += slope * (u - last) + 0.5 * curvature * (u - last) ** 2
        slope += curvature * (u - last)
        last = u
        x_slice = x_tracker * (edges[k + 1] - edges[k]) / (r_out - r_in)
        after = kept * np.exp(-rng.gamma(np.maximum(x_slice, 1e-12) / np.log(2.0)))
        after = np.where(charge != 0, after, kept)
        fractions[:, k] = kept - after
        offsets[:, k] = position + slope * (1.0 - u)  # straight line to the calorimeter
        kept = after
        if silicon[k]:
            kept_in_silicon += kept / max(silicon.sum(), 1)
    curvature = 2.0 * bend / kept
    electron = position + slope * (1.0 - last) + 0.5 * curvature * (1.0 - last) ** 2
    if not silicon.any():
        kept_in_silicon = np.ones(n)
    return electron, offsets, fractions, kept, kept_in_silicon


def simulate_showers(energy, eta, phi, charge, shower_type, mu, sim: dict, detector: dict,
                     rng: np.random.Generator) -> Showers:
    """Simulate the calorimeter response to n objects (arrays of length n).

    ``energy``, ``eta``, ``phi`` are the true energy and the direction at the vertex; ``charge``
    is 0 for photons; ``mu`` is the event's average pile-up. Charged tracks bend in phi by
    bremsstrahlung(); the window is centred on the middle cell of the deposit's barycentre.
    """
    n = len(energy)
    abs_eta = np.abs(eta)
    shapes = {layer: tuple(shape) for layer, shape in sim["native_shapes"].items()}
    mid_eta, mid_phi = shapes["lr2"]

    fractions, x_tracker, depth = longitudinal_fractions(energy, abs_eta, shower_type, sim,
                                                         detector, rng)
    e_dead = energy * fractions[:, 0]
    e_layer = energy[:, None] * fractions[:, 1:5]
    e_leak = energy * fractions[:, 5]

    pt = energy / np.cosh(eta)
    el_offset, ph_offsets, ph_fractions, kept, kept_in_silicon = bremsstrahlung(
        energy, pt, charge, x_tracker, sim, rng)
    sign = np.where(charge < 0, -1.0, 1.0)
    # Impact points of the electron (or photon) and of the radiated photons; phi as at the
    # vertex minus q times the offset (the convention of the track extrapolation).
    phi_el = phi - sign * el_offset
    phi_ph = phi[:, None] - sign[:, None] * ph_offsets
    phi_bary = kept * phi_el + (ph_fractions * phi_ph).sum(axis=1)
    centre_ieta = np.floor(eta / MIDDLE_CELL_ETA).astype(np.int64)
    centre_iphi = np.floor(phi_bary / MIDDLE_CELL_PHI).astype(np.int64)
    eta0 = (centre_ieta - mid_eta // 2) * MIDDLE_CELL_ETA
    phi0 = (centre_iphi - mid_phi // 2) * MIDDLE_CELL_PHI
    window_eta = mid_eta * MIDDLE_CELL_ETA
    window_phi = mid_phi * MIDDLE_CELL_PHI

    lateral = sim["lateral"]
    core_scale, tail_scale = lateral_width_scales(energy, depth, sim)
    cells, in_window = {}, np.zeros((n, 4))
    response = _response(eta, phi_bary, sim, detector, rng)
    sources = [(kept, phi_el)] + [(ph_fractions[:, k], phi_ph[:, k])
                                  for k in range(ph_fractions.shape[1])]
    for li, layer in enumerate(LAYERS):
        n_eta, n_phi = shapes[layer]
        eta_edges = _window_edges(n, eta0, window_eta / n_eta, n_eta)
        phi_edges = _window_edges(n, phi0, window_phi / n_phi, n_phi)
        profile = np.zeros((n, n_eta, n_phi))
        for sigma_cells, weight in (
                (lateral["core_sigma"][li] * core_scale[:, li], 1 - lateral["tail_fraction"][li]),
                (lateral["tail_sigma"][li] * tail_scale[:, li], lateral["tail_fraction"][li])):
            f_eta = _gauss_cell_fractions(eta_edges, eta, sigma_cells * MIDDLE_CELL_ETA)
            f_phi = sum(share[:, None] * _gauss_cell_fractions(phi_edges, centre,
                                                               sigma_cells * MIDDLE_CELL_PHI)
                        for share, centre in sources)
            profile += weight * f_eta[:, :, None] * f_phi[:, None, :]
        deposit = e_layer[:, li, None, None] * profile
        in_window[:, li] = deposit.sum(axis=(1, 2))
        visible = deposit * (response * detector["layer_scales"][li])[:, None, None]
        # Sampling fluctuations per cell: summed over cells they give a / sqrt(E).
        visible += (sim["sampling_term"][li] * np.sqrt(np.maximum(visible, 0.0))
                    * rng.standard_normal(visible.shape))
        cells[layer] = visible

    pileup, pu_energy, pu_time_weighted = _pileup(eta, phi_bary, eta0, phi0, mu, shapes, sim,
                                                  detector, rng, window_eta, window_phi)
    times = {}
    for li, layer in enumerate(LAYERS):
        signal = cells[layer]
        jitter = np.hypot(sim["time_constant_ns"], sim["time_noise_ns_gev"]
                          / np.maximum(np.abs(signal), 1e-3))
        signal_time = jitter * rng.standard_normal(signal.shape)
        noise_sigma = detector["noise"][li] if effect_on(sim, "noise") else 0.0
        pu_sigma = (detector["pileup_noise"][li] * np.sqrt(mu / 40.0)[:, None, None]
                    if effect_on(sim, "pileup") else 0.0)
        noise = np.hypot(noise_sigma, pu_sigma) * rng.standard_normal(signal.shape)
        total = signal + pu_energy[layer] + noise
        weight = np.abs(signal) + np.abs(pu_energy[layer])
        cell_time = (np.abs(signal) * signal_time + pu_time_weighted[layer]) / np.maximum(weight, 1e-9)
        # Like the read-out, only cells clearly above noise carry a time.
        threshold = 3 * max(detector["noise"][li], 1e-3)
        times[layer] = np.where(np.abs(total) > threshold, cell_time, 0.0).astype(np.float32)
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
                   e_tilegap=e_tilegap, brem_fraction=1.0 - kept,
                   kept_in_silicon=kept_in_silicon, pileup=pileup,
                   conversion_radius=conversion_radius(depth["t0"], x_tracker, shower_type, sim))


def conversion_radius(t0, x_tracker, shower_type, sim) -> np.ndarray:
    """Radius [mm] of the conversion point of converted photons (0 for other objects): the
    tracker material is spread uniformly in radius over ``tracker_radius_mm``."""
    r_in, r_out = sim["lateral"]["tracker_radius_mm"]
    depth = np.clip(t0 / np.maximum(x_tracker, 1e-9), 0.0, 1.0)
    return np.where(shower_type == CONVERTED, r_in + depth * (r_out - r_in), 0.0)


def _response(eta, phi, sim, detector, rng):
    """Per-object response: accordion phi-modulation, eta-modulation and a constant term."""
    phi_in_cell = np.mod(phi, MIDDLE_CELL_PHI) / MIDDLE_CELL_PHI
    eta_in_cell = np.mod(eta, MIDDLE_CELL_ETA) / MIDDLE_CELL_ETA
    modulation = 1.0
    if effect_on(sim, "modulation"):
        modulation = (1.0 + detector["phi_modulation"] * np.cos(2 * np.pi * phi_in_cell)
                      - detector["eta_modulation"] * (2 * eta_in_cell - 1) ** 2)
    constant = detector["constant_term"] if effect_on(sim, "constant_term") else 0.0
    return modulation * (1.0 + constant * rng.standard_normal(len(eta)))


def _pileup(eta, phi, eta0, phi0, mu, shapes, sim, detector, rng, window_eta, window_phi):
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
