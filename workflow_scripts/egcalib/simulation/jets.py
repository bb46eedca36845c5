"""The jets process: QCD jets whose leading neutral meson (pi0 or eta -> gamma gamma) makes a
photon candidate, the background that fakes photons in ATLAS after a loose selection.

One jet per event: pT from a falling power law, eta uniform within the acceptance, phi uniform.
Its leading neutral meson takes a fraction z of the jet's energy, drawn from the Field-Feynman
first-rank fragmentation function, and decays to two photons (mesons.two_photon_decays); the
rest of the jet is charged hadrons and soft photons around it, spread as the jet's energy
profile. The photon candidate is the cluster around the meson: its two photons and the soft
photons in reach as EM sub-showers, the charged hadrons' deposits in the EM layers
(hadronic.charged_hadron_deposits), and their showers behind it (E_had1, E_had). It is a fake:
truth pdgId 0, not truth-matched (reconstruction.truth_record), with its meson recorded.

Every size and its source: config ``simulation.jets`` and
docs/toy-detector.md#jets-and-fake-photons.
Energies and momenta in GeV, angles in radians; arrays (n,) per jet, (n, k) per jet and
fragment (padded, with a mask).
"""

from __future__ import annotations

import numpy as np

from egcalib.core.kinematics import wrap_phi
from egcalib.simulation.calorimeter import SubShowers
from egcalib.simulation.detector import effect_on, endcap_geometry
from egcalib.simulation.hadronic import charged_hadron_deposits
from egcalib.simulation.mesons import (
    ETA_PDG,
    GAMMA_GAMMA_BR,
    MESON_MASS,
    PI0_PDG,
    two_photon_decays,
)

# ATLAS's Pythia 8 dijet samples (jetjet_JZxW) are 364700-364712; the toy's one inclusive
# sample carries the first number.
JETS_CHANNEL = 364700
# MCTruthClassifier's ParticleOrigin (athena): the truth origin of a photon from a pi0 decay
# and from another light meson's.
ORIGIN_PI_ZERO, ORIGIN_LIGHT_MESON = 42, 23


def field_feynman_cdf(z: np.ndarray, a: float) -> np.ndarray:
    """CDF on [0, 1] of the Field-Feynman first-rank fragmentation function
    f(z) = 1 - a + 3a (1 - z)^2 (R. D. Field and R. P. Feynman, Nucl. Phys. B 136 (1978) 1):
    F(z) = (1 - a) z + a (1 - (1 - z)^3)."""
    z = np.asarray(z, float)
    return (1.0 - a) * z + a * (1.0 - (1.0 - z) ** 3)


def sample_z(n: int, a: float, z_min: float, rng: np.random.Generator) -> np.ndarray:
    """n fractions z (n,) from the Field-Feynman f(z) restricted to [``z_min``, 1], by inverting
    its CDF on a grid of 10^4 points (F is smooth and strictly increasing: the interpolation's
    error is below 1e-6 in z). Draws n uniforms."""
    grid = np.linspace(z_min, 1.0, 10001)
    cdf = field_feynman_cdf(grid, a)
    u = rng.uniform(cdf[0], cdf[-1], n)
    return np.interp(u, cdf, grid)


def sample_power_law(
    n: int, lo: float, hi: float, power: float, rng: np.random.Generator
) -> np.ndarray:
    """n values (n,) with dN/dx ~ x^-power on [lo, hi] (power != 1), by inverting the CDF.
    Draws n uniforms."""
    k = 1.0 - power
    u = rng.uniform(size=n)
    return (lo**k + u * (hi**k - lo**k)) ** (1.0 / k)


def mean_charged_multiplicity(pt: np.ndarray, jets: dict) -> np.ndarray:
    """Mean number of charged fragments (n,) of a jet of ``pt`` [GeV]:
    a ln(pT / p0) (``charged_multiplicity`` [a, p0]), at least 1."""
    slope, pt0 = jets["charged_multiplicity"]
    return np.maximum(slope * np.log(np.asarray(pt, float) / pt0), 1.0)


def _fragments(n, pt, energy, jets, rng):
    """The non-leading fragments of n jets carrying ``energy`` (n,) [GeV] between them:
    charged hadrons (1 + Poisson, mean mean_charged_multiplicity) and photons (as many on
    average: by isospin one pi0 per two charged pions, two photons each), at most
    ``max_fragments`` of each; the photons carry ``neutral_energy_fraction`` of the energy
    (the pi0s' third), each kind shared out uniformly on the simplex; each at a Delta R from
    the axis with P(< r) ~ 1 - exp(-r / ``shape_radius``) within ``jet_radius``, azimuth
    uniform. Returns (n, 2k) arrays ``e``, ``d_r``, ``angle``, ``charge`` (+-1 hadrons,
    0 photons) and ``mask``."""
    k = jets["max_fragments"]
    mean = mean_charged_multiplicity(pt, jets)
    # (n, 2): charged (at least one, so the energy 1 - z always has a carrier), photons.
    counts = np.minimum(rng.poisson(np.stack([mean - 1.0, mean], axis=1)) + [[1, 0]], k)
    slot = np.arange(k)
    mask = np.concatenate([slot < counts[:, [0]], slot < counts[:, [1]]], axis=1)
    weight = rng.exponential(1.0, (n, 2 * k)) * mask
    charged_sum = weight[:, :k].sum(axis=1, keepdims=True)
    photon_sum = weight[:, k:].sum(axis=1, keepdims=True)
    neutral = jets["neutral_energy_fraction"]
    # A jet with fragments of one kind only gives them all the energy.
    has_c, has_p = charged_sum > 0, photon_sum > 0
    share_c = np.where(has_p, 1.0 - neutral, 1.0) * has_c
    share_p = np.where(has_c, neutral, 1.0) * has_p
    e = energy[:, None] * np.concatenate(
        [
            weight[:, :k] / np.maximum(charged_sum, 1e-12) * share_c,
            weight[:, k:] / np.maximum(photon_sum, 1e-12) * share_p,
        ],
        axis=1,
    )
    r0, radius = jets["shape_radius"], jets["jet_radius"]
    u = rng.uniform(size=(n, 2 * k))
    d_r = -r0 * np.log(1.0 - u * (1.0 - np.exp(-radius / r0)))
    angle = rng.uniform(-np.pi, np.pi, (n, 2 * k))
    sign = np.where(rng.uniform(size=(n, k)) < 0.5, 1, -1)
    charge = np.concatenate([sign, np.zeros((n, k), int)], axis=1) * mask
    return {"e": e, "d_r": d_r, "angle": angle, "charge": charge, "mask": mask}


def generate_jets(n_events: int, gen: dict, jets: dict, rng: np.random.Generator) -> dict:
    """One jet per event, n = ``n_events``, with its leading neutral meson and its decay:
    per jet (n,) ``event``, ``pt``, ``eta`` (uniform within ``gen['eta_max']``), ``phi``,
    ``e`` [GeV]; ``meson_pdg`` (PI0_PDG or ETA_PDG), ``z`` and ``meson_e`` = z e [GeV] along the
    jet's axis; ``photons``: mesons.two_photon_decays's dict; ``fragments``: _fragments's
    dict, the rest (1 - z) e of the jet (with energy 0 where ``fragments`` is off).

    The meson is an eta with probability R BR_eta / (R BR_eta + BR_pi0), R = ``eta_to_pi0``,
    BR the two-photon branching ratios: the sample keeps the jets whose leading meson decays to
    two photons (a generator filter). Draws the same random numbers whatever the switches."""
    pt_lo, pt_hi = jets["pt_range"]
    pt = sample_power_law(n_events, pt_lo, pt_hi, jets["pt_power"], rng)
    eta = rng.uniform(-gen["eta_max"], gen["eta_max"], n_events)
    phi = rng.uniform(-np.pi, np.pi, n_events)
    energy = pt * np.cosh(eta)
    z = sample_z(n_events, jets["field_feynman_a"], jets["z_min"], rng)
    eta_weight = jets["eta_to_pi0"] * GAMMA_GAMMA_BR[ETA_PDG]
    p_eta = eta_weight / (eta_weight + GAMMA_GAMMA_BR[PI0_PDG])
    meson_pdg = np.where(rng.uniform(size=n_events) < p_eta, ETA_PDG, PI0_PDG)
    mass = np.where(meson_pdg == ETA_PDG, MESON_MASS[ETA_PDG], MESON_MASS[PI0_PDG])
    meson_e = np.maximum(z * energy, 1.001 * mass)
    photons = two_photon_decays(meson_e, eta, phi, mass, rng)
    fragments = _fragments(n_events, pt, energy - meson_e, jets, rng)
    return {
        "event": np.arange(n_events),
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "e": energy,
        "meson_pdg": meson_pdg,
        "z": meson_e / energy,
        "meson_e": meson_e,
        "photons": photons,
        "fragments": fragments,
    }


def jet_candidates(jets_table: dict, sim: dict, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The photon candidates of generated jets (generate_jets): one per jet whose meson lies
    within |eta| < ``eta_max`` with E_T above ``photon_et_min``, at the meson's direction.

    Its EM energy ``e`` [GeV] is that of the meson's two photons and of the soft photons within
    ``reach`` ([d_eta, d_phi] of the window) of it; charged hadrons reach the calorimeter bent
    by track_bend / pT (end-cap geometry included), and those within ``reach`` leave their
    EM-layer deposits in its cells, those within ``hadronic.window_half_width`` their showers
    behind it. With ``effects.jets_fragments`` off the fragments are dropped (after being drawn:
    the other random numbers stay).

    Returns the candidate table of events._candidates (event, e, eta, phi, charge, photon,
    fake, origin) plus (n_cand, k) ``source_share``, ``source_d_eta``, ``source_d_phi``,
    (n_cand, m, 4) ``deposit_layers``, (n_cand, m) ``deposit_d_eta``, ``deposit_d_phi``,
    (n_cand,) ``hadrons_had1``, ``hadrons_had`` [GeV], ``meson_pdg``, ``meson_z``,
    ``opening_angle`` [rad]."""
    gen, jets, had = sim["generator"], sim["jets"], sim["hadronic"]
    ph, frag = jets_table["photons"], jets_table["fragments"]
    eta, phi = jets_table["eta"], jets_table["phi"]
    keep = (np.abs(eta) < gen["eta_max"]) & (
        jets_table["meson_e"] / np.cosh(eta) > gen["photon_et_min"]
    )
    use = frag["mask"] & effect_on(sim, "jets_fragments")
    f_eta = eta[:, None] + frag["d_r"] * np.cos(frag["angle"])
    f_pt = frag["e"] / np.cosh(f_eta)
    bending = endcap_geometry(np.abs(f_eta).ravel(), sim)[1].reshape(f_eta.shape)
    bend = frag["charge"] * sim["lateral"]["track_bend"] / np.maximum(f_pt, 0.3) * bending
    d_eta = f_eta - eta[:, None]
    d_phi = wrap_phi(frag["d_r"] * np.sin(frag["angle"]) - bend)
    reach_eta, reach_phi = jets["reach"]
    in_reach = use & (np.abs(d_eta) < reach_eta) & (np.abs(d_phi) < reach_phi)
    charged = frag["charge"] != 0
    soft = in_reach & ~charged
    # EM sources: the meson's two photons, then the soft photons in reach.
    em_e = np.concatenate([ph["e"], np.where(soft, frag["e"], 0.0)], axis=1)
    em_d_eta = np.concatenate([ph["eta"] - eta[:, None], np.where(soft, d_eta, 0.0)], axis=1)
    em_d_phi = np.concatenate([wrap_phi(ph["phi"] - phi[:, None]), np.where(soft, d_phi, 0.0)], 1)
    total = em_e.sum(axis=1)
    deposits = charged_hadron_deposits(frag["e"], np.abs(f_eta), sim, rng)
    hadrons = in_reach & charged
    window = had["window_half_width"]
    behind = use & charged & (np.abs(d_eta) < window) & (np.abs(d_phi) < window)
    n = int(keep.sum())
    origin = np.where(jets_table["meson_pdg"] == PI0_PDG, ORIGIN_PI_ZERO, ORIGIN_LIGHT_MESON)
    return {
        "event": jets_table["event"][keep],
        "e": total[keep],
        "eta": eta[keep],
        "phi": phi[keep],
        "charge": np.zeros(n, int),
        "photon": np.ones(n, bool),
        "fake": np.ones(n, bool),
        "origin": origin[keep],
        "meson_pdg": jets_table["meson_pdg"][keep],
        "meson_z": jets_table["z"][keep],
        "opening_angle": ph["opening_angle"][keep],
        "source_share": (em_e / total[:, None])[keep],
        "source_d_eta": em_d_eta[keep],
        "source_d_phi": em_d_phi[keep],
        "deposit_layers": np.where(hadrons[..., None], deposits["layers"], 0.0)[keep],
        "deposit_d_eta": np.where(hadrons, d_eta, 0.0)[keep],
        "deposit_d_phi": np.where(hadrons, d_phi, 0.0)[keep],
        "hadrons_had1": np.where(behind, deposits["had1"], 0.0).sum(axis=1)[keep],
        "hadrons_had": np.where(behind, deposits["had"], 0.0).sum(axis=1)[keep],
    }


def candidate_sources(cand: dict, sim: dict) -> SubShowers | None:
    """The SubShowers of the candidates of a jets chunk (jet_candidates's keys); None for the
    candidates of other processes, which are one shower each."""
    if "source_share" not in cand:
        return None
    return SubShowers(
        share=cand["source_share"],
        d_eta=cand["source_d_eta"],
        d_phi=cand["source_d_phi"],
        layer_energy=cand["deposit_layers"],
        deposit_d_eta=cand["deposit_d_eta"],
        deposit_d_phi=cand["deposit_d_phi"],
        deposit_sigma_cells=sim["hadronic"]["deposit_sigma_cells"],
    )
