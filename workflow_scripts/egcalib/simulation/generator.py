"""Generator-level kinematics: Z -> ee, Z -> mumu(gamma) with FSR, and a single-electron gun.

Each generator returns a flat table of final-state particles (numpy arrays) with the index of
the event they belong to, sorted by event. Energies in GeV, angles in radians.
"""
from __future__ import annotations

import numpy as np
import vector

ELECTRON_PDG, MUON_PDG, PHOTON_PDG = 11, 13, 22
LEPTON_MASS = {ELECTRON_PDG: 0.000511, MUON_PDG: 0.10566}


def _wrap(phi):
    return (phi + np.pi) % (2 * np.pi) - np.pi


def sample_dilepton_mass(n, gen: dict, rng):
    """Relativistic Breit-Wigner Z line shape plus a small 1/m^2 Drell-Yan continuum."""
    m_z, g_z = gen["z_mass"], gen["z_width"]
    lo, hi = gen["mass_range"]
    # Inverse CDF in s of M G / ((s - M^2)^2 + M^2 G^2).
    u_lo, u_hi = (np.arctan((np.square([lo, hi]) - m_z**2) / (m_z * g_z)))
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


def z_decays(n, lepton_pdg, gen: dict, rng):
    """Two leptons per event from Z decays boosted to the lab: dict of (n, 2) arrays."""
    mass = sample_dilepton_mass(n, gen, rng)
    z_pt = rng.gamma(2.0, gen["z_pt_mean"] / 2.0, n)
    z_y = gen["z_rapidity_sigma"] * rng.standard_normal(n)
    z_phi = rng.uniform(-np.pi, np.pi, n)
    m_t = np.hypot(mass, z_pt)
    z = vector.array({"px": z_pt * np.cos(z_phi), "py": z_pt * np.sin(z_phi),
                      "pz": m_t * np.sinh(z_y), "E": m_t * np.cosh(z_y)})
    cos_t = _cos_theta_1pluscos2(n, rng)
    phi_star = rng.uniform(-np.pi, np.pi, n)
    p_star = np.sqrt(np.maximum(mass**2 / 4.0 - LEPTON_MASS[lepton_pdg] ** 2, 0.0))
    sin_t = np.sqrt(1.0 - cos_t**2)
    legs = []
    for sign in (1.0, -1.0):
        rest = vector.array({"px": sign * p_star * sin_t * np.cos(phi_star),
                             "py": sign * p_star * sin_t * np.sin(phi_star),
                             "pz": sign * p_star * cos_t, "E": mass / 2.0})
        legs.append(rest.boost_p4(z))
    charge = np.where(rng.uniform(size=n) < 0.5, 1, -1)
    return {
        "e": np.stack([leg.E for leg in legs], axis=1),
        "eta": np.stack([leg.eta for leg in legs], axis=1),
        "phi": np.stack([leg.phi for leg in legs], axis=1),
        "charge": np.stack([charge, -charge], axis=1),
    }


def _emit_fsr(leptons, emits, z_fraction, gen, rng):
    """Split FSR photons off leptons: photon along (eta, phi) + a log-uniform Delta-R offset."""
    dr_lo, dr_hi = gen["fsr_delta_r_range"]
    n_emit = emits.sum()
    delta_r = np.exp(rng.uniform(np.log(dr_lo), np.log(dr_hi), n_emit))
    angle = rng.uniform(0, 2 * np.pi, n_emit)
    e_lep = leptons["e"][emits]
    photon = {"e": z_fraction * e_lep,
              "eta": leptons["eta"][emits] + delta_r * np.cos(angle),
              "phi": _wrap(leptons["phi"][emits] + delta_r * np.sin(angle)),
              "delta_r": delta_r}
    leptons["e"][emits] = (1.0 - z_fraction) * e_lep
    return photon


def generate(process: str, n_events: int, gen: dict, rng: np.random.Generator) -> dict:
    """Final-state particles of ``n_events`` events of ``process`` ('zee', 'zmumug', 'egun').

    Returns a dict of flat arrays: event, pdg, charge, e, eta, phi; electrons include the energy
    of FSR photons closer than ``fsr_merge_delta_r`` (they end up in the same cluster).
    """
    if process == "egun":
        et = np.exp(rng.uniform(*np.log(gen["egun_et_range"]), n_events))
        eta = rng.uniform(-gen["eta_max"], gen["eta_max"], n_events)
        return {"event": np.arange(n_events), "pdg": np.full(n_events, ELECTRON_PDG),
                "charge": np.where(rng.uniform(size=n_events) < 0.5, 1, -1),
                "e": et * np.cosh(eta), "eta": eta,
                "phi": rng.uniform(-np.pi, np.pi, n_events)}
    lepton_pdg = ELECTRON_PDG if process == "zee" else MUON_PDG
    leptons = z_decays(n_events, lepton_pdg, gen, rng)
    events2 = np.repeat(np.arange(n_events), 2).reshape(n_events, 2)
    if process == "zmumug":
        # A dedicated Z -> mumu gamma sample: every event radiates one hard FSR photon.
        emits = np.zeros((n_events, 2), bool)
        emits[np.arange(n_events), rng.integers(0, 2, n_events)] = True
        z_lo, z_hi = gen["zmumug_photon_fraction"]
        z_fraction = np.exp(rng.uniform(np.log(z_lo), np.log(z_hi), n_events))
    else:
        emits = rng.uniform(size=(n_events, 2)) < gen["fsr_probability"]
        z_fraction = gen["fsr_z_min"] ** (1.0 - rng.uniform(size=emits.sum()))
    photon = _emit_fsr(leptons, emits, z_fraction, gen, rng)
    photon_event = events2[emits]
    if process == "zee":
        merged = photon["delta_r"] < gen["fsr_merge_delta_r"]
        leptons["e"][np.nonzero(emits)[0][merged], np.nonzero(emits)[1][merged]] += photon["e"][merged]
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
