"""Generator-level kinematics: Z -> ee, Z -> mumu(gamma) with FSR, and single-electron and
single-photon guns.

Each generator returns a flat table of final-state particles (numpy arrays) with the index of
the event they belong to, sorted by event. Energies in GeV, angles in radians.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import vector

from egcalib.core.kinematics import ELECTRON_MASS, MUON_MASS, wrap_phi

ELECTRON_PDG, MUON_PDG, PHOTON_PDG = 11, 13, 22
LEPTON_MASS = {ELECTRON_PDG: ELECTRON_MASS, MUON_PDG: MUON_MASS}


def sample_dilepton_mass(n: int, gen: dict, rng: np.random.Generator) -> np.ndarray:
    """Relativistic Breit-Wigner Z line shape plus a small 1/m^2 Drell-Yan continuum."""
    m_z, g_z = gen["z_mass"], gen["z_width"]
    lo, hi = gen["mass_range"]
    # Inverse CDF in s of M G / ((s - M^2)^2 + M^2 G^2).
    u_lo, u_hi = np.arctan((np.square([lo, hi]) - m_z**2) / (m_z * g_z))
    s = m_z**2 + m_z * g_z * np.tan(rng.uniform(u_lo, u_hi, n))
    mass = np.sqrt(s)
    continuum = rng.uniform(size=n) < gen["drell_yan_fraction"]
    # 1/m^2 continuum: inverse CDF of 1/m on [lo, hi].
    u = rng.uniform(size=continuum.sum())
    mass[continuum] = 1.0 / (1.0 / lo - u * (1.0 / lo - 1.0 / hi))
    return mass


def _cos_theta_1pluscos2(n, rng):
    """cos(theta*) from (1 + cos^2): invert F(c) = (c^3 + 3c + 4) / 8 (Cardano, one real root)."""
    q = 8.0 * rng.uniform(size=n) - 4.0
    root = np.sqrt(q**2 / 4.0 + 1.0)
    return np.cbrt(q / 2.0 + root) + np.cbrt(q / 2.0 - root)


def _z_boost(n, mass, gen, rng):
    z_pt = rng.gamma(2.0, gen["z_pt_mean"] / 2.0, n)
    z_y = gen["z_rapidity_sigma"] * rng.standard_normal(n)
    z_phi = rng.uniform(-np.pi, np.pi, n)
    m_t = np.hypot(mass, z_pt)
    return vector.array(
        {
            "px": z_pt * np.cos(z_phi),
            "py": z_pt * np.sin(z_phi),
            "pz": m_t * np.sinh(z_y),
            "E": m_t * np.cosh(z_y),
        }
    )


def _direction(cos_t, phi):
    sin_t = np.sqrt(1.0 - cos_t**2)
    return np.stack([sin_t * np.cos(phi), sin_t * np.sin(phi), cos_t], axis=1)


def _lab(momenta, energy, z):
    """Boost rest-frame momenta (n, 3) with energies (n,) by the Z four-vector."""
    rest = vector.array(
        {"px": momenta[:, 0], "py": momenta[:, 1], "pz": momenta[:, 2], "E": energy}
    )
    lab = rest.boost_p4(z)
    return {"e": lab.E, "eta": lab.eta, "phi": lab.phi}


def z_decays(
    n: int, lepton_pdg: int, gen: dict, rng: np.random.Generator, radiative: bool = False
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray] | None]:
    """Z decays boosted to the lab: dict of (n, 2) lepton arrays, plus the FSR photon when
    ``radiative`` (an exact massless three-body decay, so m(ll gamma) keeps the line shape).

    The photon takes a fraction x_gamma of the radiating lepton's energy and is collinear to it
    through y = m^2(l gamma) / M^2 (log-uniform): 1 - cos(l, gamma) = 2 y / (x_l x_gamma).
    """
    mass = sample_dilepton_mass(n, gen, rng)
    z = _z_boost(n, mass, gen, rng)
    n2 = _direction(_cos_theta_1pluscos2(n, rng), rng.uniform(-np.pi, np.pi, n))
    half = mass / 2.0
    charge = np.where(rng.uniform(size=n) < 0.5, 1, -1)
    if not radiative:
        p_star = np.sqrt(np.maximum(half**2 - LEPTON_MASS[lepton_pdg] ** 2, 0.0))
        legs = [_lab(sign * p_star[:, None] * n2, half, z) for sign in (1.0, -1.0)]
        photon = None
    else:
        lo, hi = gen["zmumug_photon_fraction"]
        x_gamma = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
        y_lo, y_hi = gen["zmumug_collinearity"]
        y = np.exp(rng.uniform(np.log(y_lo), np.log(y_hi), n)) * np.minimum(
            1.0, 0.9 * x_gamma / y_hi
        )
        x_spectator, x_radiator = 1.0 - y, 1.0 + y - x_gamma
        e2, e1, e_gamma = x_spectator * half, x_radiator * half, x_gamma * half
        # The radiator and the photon balance the spectator in a plane at a random azimuth.
        helper = np.where(np.abs(n2[:, [2]]) < 0.9, [[0.0, 0.0, 1.0]], [[1.0, 0.0, 0.0]])
        u = np.cross(n2, helper)
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        v = np.cross(n2, u)
        psi = rng.uniform(0, 2 * np.pi, n)[:, None]
        w = np.cos(psi) * u + np.sin(psi) * v
        cos_g = np.clip((e_gamma**2 + e2**2 - e1**2) / (2 * e_gamma * e2), -1, 1)[:, None]
        cos_1 = np.clip((e1**2 + e2**2 - e_gamma**2) / (2 * e1 * e2), -1, 1)[:, None]
        p_gamma = e_gamma[:, None] * (-cos_g * n2 + np.sqrt(1 - cos_g**2) * w)
        p_1 = e1[:, None] * (-cos_1 * n2 - np.sqrt(1 - cos_1**2) * w)
        legs = [_lab(e2[:, None] * n2, e2, z), _lab(p_1, e1, z)]
        photon = _lab(p_gamma, e_gamma, z)
    leptons = {key: np.stack([leg[key] for leg in legs], axis=1) for key in ("e", "eta", "phi")}
    leptons["charge"] = np.stack([charge, -charge], axis=1)
    return leptons, photon


def _emit_fsr(leptons, emits, z_fraction, gen, rng):
    """Split FSR photons off leptons: photon along (eta, phi) + a log-uniform Delta-R offset."""
    dr_lo, dr_hi = gen["fsr_delta_r_range"]
    n_emit = emits.sum()
    delta_r = np.exp(rng.uniform(np.log(dr_lo), np.log(dr_hi), n_emit))
    angle = rng.uniform(0, 2 * np.pi, n_emit)
    e_lep = leptons["e"][emits]
    photon = {
        "e": z_fraction * e_lep,
        "eta": leptons["eta"][emits] + delta_r * np.cos(angle),
        "phi": wrap_phi(leptons["phi"][emits] + delta_r * np.sin(angle)),
        "delta_r": delta_r,
    }
    leptons["e"][emits] = (1.0 - z_fraction) * e_lep
    return photon


def single_particles(
    n: int, pdg: int, et_range: Sequence[float], eta_max: float, rng: np.random.Generator
) -> dict:
    """One particle per event, as a particle gun: ET [GeV] log-uniform in ``et_range`` (dN/dET
    falling as 1/ET: equal numbers per decade), eta uniform in (-``eta_max``, ``eta_max``), phi
    uniform; electrons of either charge at random, photons neutral. The generate dict."""
    log_et_min, log_et_max = np.log(et_range)
    et = np.exp(rng.uniform(log_et_min, log_et_max, n))
    eta = rng.uniform(-eta_max, eta_max, n)
    charge = np.where(rng.uniform(size=n) < 0.5, 1, -1) if pdg == ELECTRON_PDG else np.zeros(n, int)
    return {
        "event": np.arange(n),
        "pdg": np.full(n, pdg),
        "charge": charge,
        "e": et * np.cosh(eta),
        "eta": eta,
        "phi": rng.uniform(-np.pi, np.pi, n),
    }


def generate(process: str, n_events: int, gen: dict, rng: np.random.Generator) -> dict:
    """Final-state particles of ``n_events`` events of ``process`` ('zee', 'zmumug', 'egun',
    'pgun').

    Returns a dict of flat arrays: event, pdg, charge, e, eta, phi; electrons include the energy
    of FSR photons closer than ``fsr_merge_delta_r`` (they end up in the same cluster). The
    guns: ``single_particles`` over ``egun_et_range`` within ``eta_max`` (electrons) and over
    ``pgun_et_range`` within ``pgun_eta_max`` (photons).
    """
    if process == "egun":
        return single_particles(n_events, ELECTRON_PDG, gen["egun_et_range"], gen["eta_max"], rng)
    if process == "pgun":
        return single_particles(
            n_events, PHOTON_PDG, gen["pgun_et_range"], gen["pgun_eta_max"], rng
        )
    lepton_pdg = ELECTRON_PDG if process == "zee" else MUON_PDG
    leptons, photon = z_decays(n_events, lepton_pdg, gen, rng, radiative=process == "zmumug")
    events2 = np.repeat(np.arange(n_events), 2).reshape(n_events, 2)
    if process == "zmumug":
        # A dedicated Z -> mumu gamma sample: every event has one hard FSR photon.
        assert photon is not None  # z_decays(radiative=True) gives it
        photon_event = np.arange(n_events)
    else:
        emits = rng.uniform(size=(n_events, 2)) < gen["fsr_probability"]
        z_fraction = gen["fsr_z_min"] ** (1.0 - rng.uniform(size=emits.sum()))
        photon = _emit_fsr(leptons, emits, z_fraction, gen, rng)
        photon_event = events2[emits]
        # Photons this close land in the electron's cluster: the truth electron is dressed.
        merged = photon["delta_r"] < gen["fsr_merge_delta_r"]
        rows, cols = np.nonzero(emits)
        leptons["e"][rows[merged], cols[merged]] += photon["e"][merged]
        photon = {k: v[~merged] for k, v in photon.items()}
        photon_event = photon_event[~merged]
    n_ph = len(photon_event)
    particles = {
        "event": np.concatenate([events2.ravel(), photon_event]),
        "pdg": np.concatenate([np.full(2 * n_events, lepton_pdg), np.full(n_ph, PHOTON_PDG)]),
        "charge": np.concatenate([leptons["charge"].ravel(), np.zeros(n_ph, int)]),
        "e": np.concatenate([leptons["e"].ravel(), photon["e"]]),
        "eta": np.concatenate([leptons["eta"].ravel(), photon["eta"]]),
        "phi": np.concatenate([leptons["phi"].ravel(), photon["phi"]]),
    }
    order = np.argsort(particles["event"], kind="stable")
    return {k: v[order] for k, v in particles.items()}
