"""The longitudinal shower shape: a gamma-function profile in depth whose shower maximum and
shape fluctuate together, object by object (Grindhammer and Peters, GFLASH), integrated over the
dead material, the presampler, the three accordion layers and the leakage behind them.

Depths in radiation lengths X0 from the interaction point, energies in GeV.
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.special import gammainc

from egcalib.simulation.detector import (
    CONVERTED,
    ELECTRON,
    UNCONVERTED,
    effect_on,
    upstream_material,
)


def shower_parameters(
    energy: np.ndarray,
    shower_type: np.ndarray,
    sim: dict,
    rng: np.random.Generator | None,
    fluctuate: bool,
) -> tuple[np.ndarray, np.ndarray]:
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
    offset = np.where(
        shower_type == ELECTRON, long["tmax_offset_electron"], long["tmax_offset_photon"]
    )
    t_max = np.maximum(log_y + offset, 1.0)
    alpha = 1.0 + long["b"] * t_max
    if fluctuate:
        log_y = np.maximum(log_y, 3.0)  # the fitted widths hold for y > ~20 (E > ~0.2 GeV)
        sigma_t = 1.0 / (-2.506 + 1.245 * log_y)
        sigma_a = 1.0 / (-0.08442 + 0.7904 * log_y)
        rho = np.clip(0.7858 - 0.0232 * log_y, -1.0, 1.0)
        # rng is None only without fluctuations (the reference shower of lateral.py).
        z_t, z_free = rng.standard_normal((2, len(energy)))  # type: ignore[union-attr]
        t_max = t_max * np.exp(sigma_t * z_t)
        alpha = alpha * np.exp(sigma_a * (rho * z_t + np.sqrt(1.0 - rho**2) * z_free))
    alpha = np.maximum(alpha, 1.5)
    return alpha, (alpha - 1.0) / t_max


def longitudinal_fractions(
    energy: np.ndarray,
    abs_eta: np.ndarray,
    shower_type: np.ndarray,
    sim: dict,
    detector: dict,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, dict]:
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
    alpha, b = shower_parameters(
        energy, shower_type, sim, rng, effect_on(sim, "shower_fluctuations")
    )
    boundaries = layer_boundaries(abs_eta, x_up, sim)
    cdf = [gammainc(alpha, b * np.maximum(edge - t0, 0.0)) for edge in boundaries]
    fractions = np.stack(
        [cdf[0]] + [hi - lo for lo, hi in itertools.pairwise(cdf)] + [1.0 - cdf[-1]], axis=1
    )
    depth = {"alpha": alpha, "b": b, "t0": t0, "boundaries": boundaries}
    return fractions, x_tracker, depth


def layer_boundaries(abs_eta: np.ndarray, x_up: np.ndarray, sim: dict) -> list[np.ndarray]:
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
    [t1, t2] is (alpha / b) [P(alpha+1, b t2) - P(alpha+1, b t1)]
    / [P(alpha, b t2) - P(alpha, b t1)].
    """
    alpha, b, t0 = depth["alpha"], depth["b"], depth["t0"]
    edges = [np.maximum(edge - t0, 0.0) for edge in depth["boundaries"]]
    t_max = (alpha - 1.0) / b
    ages = []
    for lo, hi in itertools.pairwise(edges):
        weight = gammainc(alpha, b * hi) - gammainc(alpha, b * lo)
        first = gammainc(alpha + 1.0, b * hi) - gammainc(alpha + 1.0, b * lo)
        mean = np.where(
            weight > 1e-12, alpha / b * first / np.maximum(weight, 1e-12), 0.5 * (lo + hi)
        )
        ages.append(mean / t_max)
    return np.stack(ages, axis=1)
