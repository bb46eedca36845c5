"""Two-photon decays of neutral mesons (pi0, eta), isotropic in the meson's rest frame and
boosted to the lab, and the opening-angle distribution they follow.

Masses (core.kinematics) and branching ratios from the Review of Particle Physics (S. Navas et
al., Particle Data Group, Phys. Rev. D 110 (2024) 030001). Energies in GeV, angles in radians.
"""

from __future__ import annotations

import numpy as np
import vector

from egcalib.core.kinematics import ETA_MASS, PI0_MASS

PI0_PDG, ETA_PDG = 111, 221
MESON_MASS = {PI0_PDG: PI0_MASS, ETA_PDG: ETA_MASS}
# PDG branching ratios to two photons: pi0 (98.823 +- 0.034) %, eta (39.36 +- 0.18) %. The
# eta's other decays (3 pi0 32.57 %, pi+ pi- pi0 22.92 %, pi+ pi- gamma 4.22 %) and the pi0's
# Dalitz decay (1.174 %) are not simulated: simulation.jets keeps only jets whose leading meson
# decays to two photons (docs/toy-detector.md#jets-and-fake-photons).
GAMMA_GAMMA_BR = {PI0_PDG: 0.98823, ETA_PDG: 0.3936}


def two_photon_decays(
    energy: np.ndarray,
    eta: np.ndarray,
    phi: np.ndarray,
    mass: np.ndarray,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Decays M -> gamma gamma of n mesons of ``energy`` [GeV] (> ``mass`` [GeV]), direction
    (``eta``, ``phi``), all (n,): back to back and isotropic in the meson's rest frame, boosted
    to the lab. The first photon is the one emitted forward (cos theta* >= 0 about the meson's
    direction, uniform in [0, 1]: the pair is isotropic), so the harder one.

    Returns (n, 2) arrays ``e`` [GeV], ``eta``, ``phi`` [rad] of the photons and (n,)
    ``opening_angle`` [rad] and ``cos_theta_star``. Draws 2n uniforms. The opening angle theta obeys
    1 - cos theta = 2 m^2 / (E^2 (1 - beta^2 cos^2 theta*)), at least 2 arcsin(m / E) ~ 2m / E
    (opening_angle_cdf). Raises ValueError if an energy is not above its mass."""
    energy, mass = np.asarray(energy, float), np.asarray(mass, float)
    if np.any(energy <= mass):
        raise ValueError("a meson's energy must exceed its mass")
    n = len(energy)
    cos_star = rng.uniform(0.0, 1.0, n)
    phi_star = rng.uniform(-np.pi, np.pi, n)
    momentum = np.sqrt(energy**2 - mass**2)
    sin_theta = 1.0 / np.cosh(eta)
    meson = vector.array(
        {
            "px": momentum * sin_theta * np.cos(phi),
            "py": momentum * sin_theta * np.sin(phi),
            "pz": momentum * np.tanh(eta),
            "E": energy,
        }
    )
    # A rest-frame direction isotropic about the meson's axis: (theta*, phi*) in a frame whose z
    # is the meson's direction, turned into global coordinates.
    axis = np.stack([sin_theta * np.cos(phi), sin_theta * np.sin(phi), np.tanh(eta)], axis=1)
    helper = np.where(np.abs(axis[:, [2]]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(axis, u)
    sin_star = np.sqrt(1.0 - cos_star**2)
    direction = (
        cos_star[:, None] * axis
        + (sin_star * np.cos(phi_star))[:, None] * u
        + (sin_star * np.sin(phi_star))[:, None] * v
    )
    photons = []
    for sign in (1.0, -1.0):
        p = sign * 0.5 * mass[:, None] * direction
        rest = vector.array({"px": p[:, 0], "py": p[:, 1], "pz": p[:, 2], "E": 0.5 * mass})
        photons.append(rest.boost_p4(meson))
    first, second = photons
    cos_open = (first.px * second.px + first.py * second.py + first.pz * second.pz) / (
        first.p * second.p
    )
    return {
        "e": np.stack([first.E, second.E], axis=1),
        "eta": np.stack([first.eta, second.eta], axis=1),
        "phi": np.stack([first.phi, second.phi], axis=1),
        "opening_angle": np.arccos(np.clip(cos_open, -1.0, 1.0)),
        "cos_theta_star": cos_star,
    }


def minimum_opening_angle(energy: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """The smallest opening angle [rad] (n,) of M -> gamma gamma at ``energy`` [GeV]: the
    symmetric decay, 2 arcsin(m / E) (~ 2m / E at E >> m)."""
    return 2.0 * np.arcsin(np.asarray(mass, float) / np.asarray(energy, float))


def opening_angle_cdf(angle: np.ndarray, energy: np.ndarray, mass: np.ndarray) -> np.ndarray:
    """P(opening angle < ``angle`` [rad]) of M -> gamma gamma at ``energy`` [GeV], isotropic in
    the rest frame, arrays broadcast together. With x = cos theta* uniform, theta grows with
    |x|: P = x(angle) = sqrt(1 - 2 m^2 / (E^2 (1 - cos angle))) / beta, 0 below the minimum
    angle, 1 at pi."""
    angle, energy, mass = (np.asarray(a, float) for a in (angle, energy, mass))
    beta = np.sqrt(1.0 - (mass / energy) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1.0 - 2.0 * mass**2 / (energy**2 * (1.0 - np.cos(angle)))
    return np.clip(np.sqrt(np.maximum(inner, 0.0)) / beta, 0.0, 1.0)
