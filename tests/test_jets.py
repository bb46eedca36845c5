"""The jets process of the toy detector (docs/toy-detector.md#jets-and-fake-photons): showers
of several sources, meson decays and their two showers in the strips."""

from __future__ import annotations

import copy
from functools import partial

import awkward as ak
import numpy as np
import pytest
from scipy import stats

from egcalib.core.contract import LAYERS
from egcalib.simulation.calorimeter import SubShowers, simulate_showers
from egcalib.simulation.detector import EFFECTS, UNCONVERTED
from egcalib.simulation.hadronic import charged_hadron_deposits
from egcalib.simulation.jets import (
    field_feynman_cdf,
    generate_jets,
    mean_charged_multiplicity,
)
from egcalib.simulation.mesons import (
    ETA_PDG,
    GAMMA_GAMMA_BR,
    MESON_MASS,
    PI0_PDG,
    minimum_opening_angle,
    opening_angle_cdf,
    two_photon_decays,
)


def _quiet(sim):
    """sim without any effect and without sampling fluctuations: deposits as they are."""
    out = copy.deepcopy(sim)
    out["effects"] = dict.fromkeys(EFFECTS, False)
    out["sampling_term"] = [0.0, 0.0, 0.0, 0.0]
    return out


def _sources(share, d_eta, d_phi, layer_energy=None, deposit_d_eta=None, deposit_d_phi=None):
    n = len(share)
    layer_energy = np.zeros((n, 0, 4)) if layer_energy is None else layer_energy
    m = layer_energy.shape[1]
    return SubShowers(
        share=share,
        d_eta=d_eta,
        d_phi=d_phi,
        layer_energy=layer_energy,
        deposit_d_eta=np.zeros((n, m)) if deposit_d_eta is None else deposit_d_eta,
        deposit_d_phi=np.zeros((n, m)) if deposit_d_phi is None else deposit_d_phi,
        deposit_sigma_cells=1.5,
    )


def _showers(sim, energy, eta, phi, seed, sources=None, kind="mc"):
    n = len(energy)
    return simulate_showers(
        energy,
        eta,
        phi,
        np.zeros(n, int),
        np.full(n, UNCONVERTED),
        np.full(n, 30.0),
        sim,
        sim["detectors"][kind],
        np.random.default_rng(seed),
        sources,
    )


def test_one_subshower_at_the_object_is_the_object(sim):
    """A single sub-shower carrying all the energy at zero offset draws the same random numbers
    and gives the same cells as the object's own shower (to rounding)."""
    n = 500
    rng = np.random.default_rng(1)
    eta, phi = rng.uniform(-2.4, 2.4, n), rng.uniform(-3, 3, n)
    energy = 50.0 * np.cosh(eta)
    plain = _showers(sim, energy, eta, phi, 2)
    zeros = np.zeros((n, 1))
    split = _showers(sim, energy, eta, phi, 2, _sources(np.ones((n, 1)), zeros, zeros))
    for layer in LAYERS:
        np.testing.assert_allclose(split.cells[layer], plain.cells[layer], atol=2e-5)
    np.testing.assert_array_equal(split.centre_ieta, plain.centre_ieta)
    np.testing.assert_allclose(split.e_in_window, plain.e_in_window, rtol=1e-9)


def test_subshowers_keep_the_bookkeeping_and_land_where_they_point(sim):
    """Two half-energy sub-showers 0.03 apart in eta: the EM bookkeeping stays exact, the
    window centres on their barycentre and the strips see two peaks 0.03 / 0.003125 = 9.6
    strips apart (to a strip: the overlapping tails pull them in); deposits of other
    particles add to the cells only."""
    quiet = _quiet(sim)
    n = 200
    rng = np.random.default_rng(3)
    eta = rng.uniform(-0.5, 0.5, n)
    phi = rng.uniform(-3, 3, n)
    energy = np.full(n, 40.0)
    share = np.full((n, 2), 0.5)
    d_eta = np.tile([-0.015, 0.015], (n, 1))
    hadron = np.zeros((n, 1, 4))
    hadron[:, 0, :] = [0.01, 0.03, 0.12, 0.014]  # a MIP-like deposit [GeV]
    sources = _sources(share, d_eta, np.zeros((n, 2)), hadron, np.full((n, 1), 0.05))
    showers = _showers(quiet, energy, eta, phi, 4, sources)
    out = (showers.e_layer - showers.e_in_window).sum(axis=1)
    total = showers.e_dead + showers.e_in_window.sum(axis=1) + out + showers.e_leak
    np.testing.assert_allclose(total, energy, rtol=1e-10)
    window = sum(c.sum(axis=(1, 2)) for c in showers.cells.values())
    # The hadron's deposit (0.174 GeV, 0.05 from the object) lies mostly in the window.
    hadron_seen = window - showers.e_in_window.sum(axis=1)
    assert np.all((hadron_seen > 0.12) & (hadron_seen < 0.174 + 1e-4))
    strips = showers.cells["lr1"].sum(axis=2)
    n_strips = strips.shape[1]
    strip_eta = showers.window_eta0[:, None] + (np.arange(n_strips) + 0.5) * 0.175 / n_strips
    lower = np.argmax(np.where(strip_eta < eta[:, None], strips, -np.inf), axis=1)
    upper = np.argmax(np.where(strip_eta > eta[:, None], strips, -np.inf), axis=1)
    separation = (upper - lower) * 0.175 / n_strips
    # Photons that start showering behind the strips leave nothing there to resolve.
    seen = showers.e_layer[:, 1] > 1.0
    assert seen.mean() > 0.5
    assert np.all(np.abs(separation - 0.03)[seen] <= 0.175 / n_strips + 1e-9)
    centre = showers.window_eta0 + 3.5 * 0.025
    assert np.all(np.abs(centre - eta) <= 0.0125 + 1e-9)


def test_subshower_shares_are_checked(sim):
    n = 3
    with pytest.raises(ValueError, match="sum to at most 1"):
        _sources(np.full((n, 2), 0.6), np.zeros((n, 2)), np.zeros((n, 2)))
    with pytest.raises(ValueError, match="inconsistent shapes"):
        _sources(np.full((n, 2), 0.5), np.zeros((n, 3)), np.zeros((n, 2)))


@pytest.mark.parametrize("pdg", [PI0_PDG, ETA_PDG])
def test_opening_angle_follows_the_decay_kinematics(pdg):
    """Isotropic two-photon decays boosted to the lab: the opening angle never falls below
    2 arcsin(m / E) ~ 2m / E, its distribution is the analytic one (Kolmogorov-Smirnov at fixed
    energy), energy and momentum are conserved and m(gamma gamma) is the meson's mass."""
    n, energy = 20000, 40.0
    rng = np.random.default_rng(21)
    mass = np.full(n, MESON_MASS[pdg])
    eta = rng.uniform(-2.4, 2.4, n)
    decay = two_photon_decays(np.full(n, energy), eta, rng.uniform(-3, 3, n), mass, rng)
    np.testing.assert_allclose(decay["e"].sum(axis=1), energy, rtol=1e-9)
    assert np.all(decay["e"][:, 0] >= decay["e"][:, 1])
    theta_min = minimum_opening_angle(energy, mass[0])
    assert abs(theta_min / (2 * mass[0] / energy) - 1) < 1e-3
    assert decay["opening_angle"].min() >= theta_min * (1 - 1e-6)
    m2 = 2 * decay["e"][:, 0] * decay["e"][:, 1] * (1 - np.cos(decay["opening_angle"]))
    np.testing.assert_allclose(np.sqrt(m2), mass, rtol=1e-5)
    cdf = partial(opening_angle_cdf, energy=energy, mass=mass[0])
    assert stats.kstest(decay["opening_angle"], cdf).pvalue > 0.01
    # The analytic distribution peaks at its minimum: half the decays open by less than
    # 2m/E / sqrt(1 - 1/4) ~ 1.15 x the minimum.
    assert abs(np.median(decay["opening_angle"]) / theta_min - 1 / np.sqrt(0.75)) < 0.01


def test_jet_generator_follows_its_sources(sim):
    """Jet pT ~ pT^-5, the leading meson's z from Field-Feynman's f(z) above z_min, the
    eta : pi0 share of two-photon mesons R BR_eta / (R BR_eta + BR_pi0), and the jet's energy
    shared between the meson and its fragments."""
    jets_cfg = sim["jets"]
    n = 20000
    jets = generate_jets(n, sim["generator"], jets_cfg, np.random.default_rng(31))
    lo, hi = jets_cfg["pt_range"]
    k = 1 - jets_cfg["pt_power"]
    assert stats.kstest(jets["pt"], lambda x: (x**k - lo**k) / (hi**k - lo**k)).pvalue > 0.01
    a, z_min = jets_cfg["field_feynman_a"], jets_cfg["z_min"]
    norm = field_feynman_cdf(1.0, a) - field_feynman_cdf(z_min, a)
    assert (
        stats.kstest(
            jets["z"], lambda z: (field_feynman_cdf(z, a) - field_feynman_cdf(z_min, a)) / norm
        ).pvalue
        > 0.01
    )
    weight = jets_cfg["eta_to_pi0"] * GAMMA_GAMMA_BR[ETA_PDG]
    p_eta = weight / (weight + GAMMA_GAMMA_BR[PI0_PDG])
    assert abs(np.mean(jets["meson_pdg"] == ETA_PDG) - p_eta) < 4 * np.sqrt(p_eta / n)
    fragments = jets["fragments"]
    np.testing.assert_allclose(jets["meson_e"] + fragments["e"].sum(axis=1), jets["e"], rtol=1e-9)
    assert np.all(fragments["e"][~fragments["mask"]] == 0)
    assert np.all(fragments["d_r"] <= jets_cfg["jet_radius"])
    n_charged = (fragments["mask"] & (fragments["charge"] != 0)).sum(axis=1)
    expected = mean_charged_multiplicity(jets["pt"], jets_cfg)
    assert abs(n_charged.mean() / np.minimum(expected, jets_cfg["max_fragments"]).mean() - 1) < 0.03


def test_charged_hadrons_leave_a_mip_or_a_shower(sim):
    """A hadron that does not interact in the EM calorimeter leaves ~7 MeV per X0 there; the
    chance that it does is 1 - exp(-em_depth_lambda); what it leaves behind is its energy less
    its EM deposit, less the leakage beyond the hadronic calorimeter."""
    n = 40000
    energy = np.full(n, 20.0)
    deposits = charged_hadron_deposits(energy, np.zeros(n), sim, np.random.default_rng(41))
    em = deposits["layers"].sum(axis=1)
    had = sim["hadronic"]
    mip = had["mip_gev_per_x0"] * (
        sum(sim["longitudinal"]["layer_x0"]) + sim["longitudinal"]["presampler_x0"]
    )
    through = np.isclose(em, mip, rtol=1e-6)
    assert abs(through.mean() - np.exp(-had["em_depth_lambda"])) < 4 * np.sqrt(0.25 / n)
    assert np.all(em[~through] > 0) and np.all(deposits["had1"] <= deposits["had"] + 1e-12)
    assert np.all(em + deposits["had"] <= energy * (1 + 1e-9) + mip)
    assert 0.5 < np.mean(deposits["had"] / energy) < 0.9


def test_jets_fake_photons_in_the_ntuple(sim, calibration):
    """A jets chunk: photon candidates only, every one a fake (pdgId 0, not truth-matched) with
    its meson and z recorded; their R_had (E_had over the cluster's energy) far above the
    prompt photons', whose E_had is the EM leakage and noise; the fragments' switch removes
    most of it."""
    from egcalib.core.shower_shapes import r_had
    from egcalib.simulation.events import simulate_chunk

    def flat(branches, name):
        return ak.to_numpy(ak.flatten(branches[name]))

    jets = simulate_chunk("jets", "mc", 3000, 1, 1, sim, calibration, np.random.default_rng(5))
    assert np.all(jets["mcChannelNumber"] == 364700) and ak.sum(ak.num(jets["el_e"])) == 0
    assert np.all(flat(jets, "ph_truth_pdgId") == 0) and not np.any(flat(jets, "ph_truth_matched"))
    assert set(flat(jets, "ph_truth_mesonPdgId")) == {PI0_PDG, ETA_PDG}
    assert set(flat(jets, "ph_truth_origin")) == {42, 23}
    z = flat(jets, "ph_truth_mesonZ")
    assert np.all((z >= sim["jets"]["z_min"] - 1e-9) & (z <= 1))
    cluster = sum(flat(jets, f"ph_cl_E{i}") for i in range(4))
    gun = simulate_chunk("pgun", "mc", 3000, 1, 1, sim, calibration, np.random.default_rng(5))
    gun_cluster = sum(flat(gun, f"ph_cl_E{i}") for i in range(4))
    fake_r_had = np.nanmedian(r_had(flat(jets, "ph_Ehad"), cluster))
    prompt_r_had = np.nanmedian(r_had(flat(gun, "ph_Ehad"), gun_cluster))
    assert fake_r_had > 20 * abs(prompt_r_had), (fake_r_had, prompt_r_had)
    assert abs(np.median(flat(gun, "ph_Ehad1"))) < 0.1
    alone = copy.deepcopy(sim)
    alone["effects"]["jets_fragments"] = False
    bare = simulate_chunk("jets", "mc", 3000, 1, 1, alone, calibration, np.random.default_rng(5))
    bare_cluster = sum(flat(bare, f"ph_cl_E{i}") for i in range(4))
    assert np.nanmedian(r_had(flat(bare, "ph_Ehad"), bare_cluster)) < 0.2 * fake_r_had
    np.testing.assert_array_equal(flat(bare, "ph_truth_mesonZ"), z)  # same jets
    data = simulate_chunk("jets", "data", 500, 1, 1, sim, calibration, np.random.default_rng(6))
    assert "ph_truth_pdgId" not in data and np.all(data["mcChannelNumber"] == 0)


def test_pi0_showers_in_the_strips_follow_the_kinematics(sim, tmp_path):
    """Pi0s through the MC detector: where the strips resolve two showers, their maxima lie as
    far apart as the photons' directions (|d_eta| to within 2.5 strips for most, on the median
    to 10 %); the fraction resolved falls with E_T as the opening angle 2m/E_T closes
    (validation plot written)."""
    from egcalib.simulation.meson_validation import (
        pi0_strip_showers,
        plot_resolved_fraction,
        resolved_fraction,
    )

    rng = np.random.default_rng(51)
    n = 3000
    out = pi0_strip_showers(rng.uniform(5, 10, n), rng.uniform(-1.2, 1.2, n), sim, rng)
    ok = out["resolved"]
    assert ok.sum() > 100
    ratio = out["measured_d_eta"][ok] / out["true_d_eta"][ok]
    assert abs(np.median(ratio) - 1) < 0.1
    pitch = 0.025 / 8
    assert np.mean(np.abs(out["measured_d_eta"][ok] - out["true_d_eta"][ok]) < 2.5 * pitch) > 0.8
    rows = resolved_fraction(sim, rng, et_edges=(5, 10, 20, 60), per_bin=1500)
    fractions = [row["resolved"] for row in rows]
    assert fractions[0] > 0.1 and fractions[0] > fractions[1] > fractions[2]
    assert fractions[2] < 0.02
    plot_resolved_fraction(rows, tmp_path / "pi0_resolved.png")
    assert (tmp_path / "pi0_resolved.png").stat().st_size > 10_000
