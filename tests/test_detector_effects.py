"""Each detector effect of the toy calorimeter has the documented size (docs/toy-detector.md),
and switching it off removes it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from toy_showers import mc_showers

from egcalib.core.contract import MIDDLE_CELL_ETA, MIDDLE_CELL_PHI
from egcalib.simulation.detector import (
    CONVERTED,
    EFFECTS,
    ELECTRON,
    UNCONVERTED,
    endcap_geometry,
    upstream_material,
)
from egcalib.simulation.inner_detector import bremsstrahlung
from egcalib.simulation.lateral import gauss_cell_fractions, lateral_width_scales, window_edges
from egcalib.simulation.longitudinal import longitudinal_fractions, shower_parameters
from egcalib.simulation.reconstruction import cluster_masks
from egcalib.simulation.resolution_study import ALL_ON, FLOOR, effect_variants, resolution_of


def _only(sim, *effects):
    out = copy.deepcopy(sim)
    out["effects"] = {name: name in effects for name in EFFECTS}
    return out


def _cluster_sum(showers, sim):
    masks = cluster_masks(sim["native_shapes"], sim["cluster_size"])
    return sum((showers.cells[layer] * masks[layer]).sum(axis=(1, 2)) for layer in masks)


@pytest.mark.parametrize("abs_eta", [0.3, 1.9])
def test_brem_loss_follows_bethe_heitler(sim, abs_eta):
    # Mean energy kept after X radiation lengths is exp(-X) (Bethe-Heitler).
    n = 40000
    rng = np.random.default_rng(1)
    x_tracker = sim["longitudinal"]["tracker_fraction"] * upstream_material(
        np.full(n, abs_eta), sim["detectors"]["mc"]
    )
    energy = np.full(n, 40.0)
    charge = np.where(np.arange(n) % 2 == 0, 1, -1)
    offset, photon_offsets, fractions, kept, _ = bremsstrahlung(
        energy, energy, charge, x_tracker, sim, rng
    )
    np.testing.assert_allclose(kept + fractions.sum(axis=1), 1.0, rtol=1e-12)
    assert abs(kept.mean() - np.exp(-x_tracker[0])) < 0.01
    # The electron, lighter after radiating, bends further than an unradiating track; the
    # photons land between the vertex direction and the electron.
    bend = sim["lateral"]["track_bend"] / 40.0
    assert np.all(offset >= bend * (1 - 1e-9))
    assert np.all((photon_offsets >= 0) & (photon_offsets <= offset[:, None] + 1e-12))
    hard = kept < 0.3
    assert np.median(offset[hard]) > 3 * bend
    photons = bremsstrahlung(energy, energy, np.zeros(n), x_tracker, sim, rng)
    assert np.all(photons[3] == 1.0), "photons do not radiate"
    off = bremsstrahlung(energy, energy, charge, x_tracker, _only(sim), rng)
    assert np.all(off[3] == 1.0) and np.allclose(off[0], bend)


def test_brem_moves_energy_out_of_the_cluster_into_the_window(sim):
    n = 6000
    rng = np.random.default_rng(2)
    energy = np.full(n, 25.0)
    eta = rng.uniform(1.6, 2.0, n)  # ~1.5-2 X0 of tracker material
    charge = np.where(np.arange(n) % 2 == 0, 1, -1)
    outside = {}
    for label, effects in (("on", ("bremsstrahlung",)), ("off", ())):
        variant = _only(sim, *effects)
        showers = mc_showers(
            variant, energy, eta, rng.uniform(-3, 3, n), charge, ELECTRON, 30.0, rng
        )
        window = sum(c.sum(axis=(1, 2)) for c in showers.cells.values())
        outside[label] = np.mean((window - _cluster_sum(showers, variant)) / window)
    assert outside["on"] > outside["off"] + 0.01, outside


def test_shower_fluctuations_follow_grindhammer_peters(sim):
    n = 50000
    energy = np.full(n, 50.0)
    y = 50.0 / sim["longitudinal"]["critical_energy"]
    alpha, b = shower_parameters(energy, np.full(n, ELECTRON), sim, np.random.default_rng(3), True)
    log_t, log_alpha = np.log((alpha - 1) / b), np.log(alpha)
    assert abs(log_t.std() - 1 / (-2.506 + 1.245 * np.log(y))) < 0.005
    assert abs(log_alpha.std() - 1 / (-0.08442 + 0.7904 * np.log(y))) < 0.005
    assert abs(np.corrcoef(log_t, log_alpha)[0, 1] - (0.7858 - 0.0232 * np.log(y))) < 0.02
    # Mean shower maximum ln(E/E_c) - 0.5 (PDG) without fluctuations.
    alpha0, b0 = shower_parameters(energy[:1], np.array([ELECTRON]), sim, None, False)
    assert np.isclose((alpha0 - 1) / b0, np.log(y) - 0.5).all()


def test_upstream_loss_is_partly_seen_by_the_presampler(sim):
    n = 20000
    rng = np.random.default_rng(4)
    eta = rng.uniform(0.3, 0.7, n)
    showers = mc_showers(
        sim,
        np.full(n, 50.0),
        eta,
        rng.uniform(-3, 3, n),
        np.where(rng.uniform(size=n) < 0.5, 1, -1),
        ELECTRON,
        34.0,
        rng,
    )
    masks = cluster_masks(sim["native_shapes"], sim["cluster_size"])
    e0 = (showers.cells["lr0"] * masks["lr0"]).sum(axis=(1, 2))
    correlation = np.corrcoef(showers.e_dead, e0)[0, 1]
    assert 0.3 < correlation < 0.95, correlation


def test_lateral_widths_follow_the_shower_age(sim):
    # The configured widths are those of a 45 GeV electron at eta = 0 (the GFLASH reference).
    _, _, depth = longitudinal_fractions(
        np.array([45.0]),
        np.zeros(1),
        np.array([ELECTRON]),
        _only(sim),
        sim["detectors"]["mc"],
        np.random.default_rng(0),
    )
    core, tail = lateral_width_scales(np.array([45.0]), depth, sim)
    np.testing.assert_allclose(core, 1.0, rtol=1e-9)
    np.testing.assert_allclose(tail, 1.0, rtol=1e-9)
    # Photons converted in the tracker shower earlier, so they are older, with a wider core in
    # the strips, than photons that convert in the calorimeter.
    n = 5000
    rng = np.random.default_rng(5)
    scales = {}
    for shower_type in (CONVERTED, UNCONVERTED):
        _, _, depth = longitudinal_fractions(
            np.full(n, 45.0),
            np.full(n, 0.5),
            np.full(n, shower_type),
            sim,
            sim["detectors"]["mc"],
            rng,
        )
        scales[shower_type] = lateral_width_scales(np.full(n, 45.0), depth, sim)[0][:, 1].mean()
    assert scales[CONVERTED] > scales[UNCONVERTED] * 1.05, scales
    ones = lateral_width_scales(np.full(n, 45.0), depth, _only(sim))
    assert np.all(ones[0] == 1) and np.all(ones[1] == 1)


@pytest.mark.parametrize("effect", ["pileup", "noise"])
def test_cluster_noise_and_pileup_have_their_size(sim, effect):
    # Objects with no energy: the 3x7 cluster holds only noise or pile-up. A few hundred MeV
    # at Run-2 <mu> = 34 (the design's noise term); pile-up grows as sqrt(mu), noise does not.
    n = 20000
    rng = np.random.default_rng(6)
    variant = _only(sim, effect)
    spread = {}
    for mu in (15.0, 60.0):
        showers = mc_showers(
            variant,
            np.full(n, 1e-4),
            rng.uniform(-0.5, 0.5, n),
            rng.uniform(-3, 3, n),
            np.zeros(n),
            UNCONVERTED,
            mu,
            rng,
        )
        spread[mu] = _cluster_sum(showers, variant).std()
    assert 0.1 < spread[15.0] < 0.5
    if effect == "pileup":
        assert abs(spread[60.0] / spread[15.0] - 2.0) < 0.3  # sqrt(60 / 15)
    else:
        masks = cluster_masks(sim["native_shapes"], sim["cluster_size"])
        expected = np.sqrt(
            sum(m.sum() * s**2 for m, s in zip(masks.values(), sim["detectors"]["mc"]["noise"]))
        )
        assert abs(spread[15.0] / expected - 1) < 0.03
        assert abs(spread[60.0] / expected - 1) < 0.03
    silent = mc_showers(
        _only(sim),
        np.full(100, 1e-4),
        np.zeros(100),
        np.zeros(100),
        np.zeros(100),
        UNCONVERTED,
        60.0,
        rng,
    )
    assert np.abs(_cluster_sum(silent, sim)).std() < 0.01  # only the sampling of 0.1 MeV


def test_endcap_geometry_follows_the_calorimeter_position(sim):
    # Barrel at R = 1.5 m, end-cap at |z| = 3.7 m, field to |z| = 2.9 m (JINST 3 S08003).
    abs_eta = np.array([0.3, 1.4, 1.6, 2.4])
    lateral, bending = endcap_geometry(abs_eta, sim)
    np.testing.assert_allclose(
        lateral, [1.0, 1.0, 1500 * np.sinh(1.6) / 3700, 1500 * np.sinh(2.4) / 3700]
    )
    r_field, r_calo = 2900 / np.sinh(2.4), 3700 / np.sinh(2.4)
    expected = 2 * r_field / 1500 * (1 - r_field / (2 * r_calo))
    np.testing.assert_allclose(bending, [1.0, 1.0, 1.0, expected], rtol=0, atol=0.02)
    assert bending[3] < 0.6
    off = endcap_geometry(abs_eta, _only(sim))
    assert np.all(off[0] == 1) and np.all(off[1] == 1)


def test_endcap_showers_span_more_cells(sim):
    # Without fluctuations, noise or sampling, the middle layer's eta profile is the configured
    # core + tail, widened by endcap_geometry's factor (x2.0 at |eta| 2.3).
    n = 200
    rng = np.random.default_rng(12)
    variant = _only(sim, "endcap_geometry")
    variant["sampling_term"] = [0.0, 0.0, 0.0, 0.0]
    eta, phi = rng.uniform(2.25, 2.35, n), rng.uniform(-3, 3, n)
    showers = mc_showers(variant, np.full(n, 400.0), eta, phi, np.zeros(n), UNCONVERTED, 0.0, rng)
    profile = showers.cells["lr2"].sum(axis=2)
    profile /= profile.sum(axis=1, keepdims=True)
    lateral = endcap_geometry(eta, variant)[0]
    (n_eta, n_phi), tail = sim["native_shapes"]["lr2"], sim["lateral"]["tail_fraction"][2]
    eta_edges = window_edges(n, showers.window_eta0, MIDDLE_CELL_ETA, n_eta)
    phi_edges = window_edges(n, showers.window_phi0, MIDDLE_CELL_PHI, n_phi)
    expected = 0.0
    for width, weight in (
        (sim["lateral"]["core_sigma"][2], 1 - tail),
        (sim["lateral"]["tail_sigma"][2], tail),
    ):
        sigma = width * lateral
        in_phi = gauss_cell_fractions(phi_edges, phi, sigma * MIDDLE_CELL_PHI).sum(axis=1)
        f_eta = gauss_cell_fractions(eta_edges, eta, sigma * MIDDLE_CELL_ETA)
        expected = expected + weight * f_eta * in_phi[:, None]
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(profile, expected, atol=1e-4)
    central = profile[np.arange(n), n_eta // 2]
    barrel = _only(sim)
    barrel["sampling_term"] = variant["sampling_term"]
    narrow = mc_showers(
        barrel, np.full(n, 400.0), eta, rng.uniform(-3, 3, n), np.zeros(n), UNCONVERTED, 0.0, rng
    )
    narrow_profile = narrow.cells["lr2"].sum(axis=2)
    narrow_central = (narrow_profile / narrow_profile.sum(axis=1, keepdims=True))[
        np.arange(n), n_eta // 2
    ]
    assert central.mean() < narrow_central.mean() - 0.1


def test_endcap_clusters_are_five_by_five(sim):
    from egcalib.simulation.objects import simulate_objects
    from egcalib.simulation.reconstruction import cluster_masks

    n = 400
    rng = np.random.default_rng(13)
    eta = np.where(np.arange(n) % 2, 0.7, 2.0) + rng.uniform(-0.05, 0.05, n)
    showers, clusters = simulate_objects(
        np.full(n, 100.0),
        eta,
        rng.uniform(-3, 3, n),
        np.zeros(n),
        np.full(n, UNCONVERTED),
        np.full(n, 30.0),
        sim,
        sim["detectors"]["mc"],
        rng,
    )
    barrel = cluster_masks(sim["native_shapes"], sim["cluster_size"])["lr2"]
    endcap = cluster_masks(sim["native_shapes"], sim["endcap_cluster_size"])["lr2"]
    assert barrel.sum() == 21 and endcap.sum() == 25
    cells = showers.cells["lr2"]
    for mask, chosen in ((barrel, eta < 1.475), (endcap, eta > 1.475)):
        np.testing.assert_allclose(
            clusters["cl_E2"][chosen], (cells[chosen] * mask).sum(axis=(1, 2)), rtol=1e-5
        )


def test_effect_study_variants_and_floor(sim):
    variants = effect_variants(sim)
    assert set(variants[FLOOR]["effects"].values()) == {False}
    assert variants[ALL_ON]["effects"] == dict.fromkeys(EFFECTS, True)
    assert len(variants) == 2 + len(EFFECTS)
    for name in EFFECTS:
        assert variants[f"without {name}"]["effects"][name] is False
    floor = resolution_of(variants[FLOOR], 4000, 4000, {})
    full = resolution_of(variants[ALL_ON], 4000, 4000, {})
    assert floor["eiqr75"] < 0.8 * full["eiqr75"]
    assert floor["sigma_cb"] < full["sigma_cb"]


# The documented curve (docs/toy-detector.md#conversions): the share of true conversions
# reconstructed as converted, any type, at each radius node [mm] of the config's table.
DOCUMENTED_EFFICIENCY = {
    30: 0.70,
    100: 0.82,
    200: 0.81,
    300: 0.80,
    400: 0.80,
    500: 0.75,
    600: 0.70,
    700: 0.50,
    800: 0.0,
}


def _converted_photons(sim, n, seed):
    """n photons converting in the tracker, flat in |eta| < 1.9 and ET 10-100 GeV, through the
    whole simulator: their clusters (objects.simulate_objects, with reconstructed conversions)."""
    from egcalib.simulation.objects import simulate_objects

    rng = np.random.default_rng(seed)
    eta = rng.uniform(-1.9, 1.9, n)
    e = np.exp(rng.uniform(np.log(10.0), np.log(100.0), n)) * np.cosh(eta)
    _, clusters = simulate_objects(
        e,
        eta,
        rng.uniform(-np.pi, np.pi, n),
        np.zeros(n, int),
        np.full(n, CONVERTED),
        np.full(n, 30.0),
        sim,
        sim["detectors"]["mc"],
        rng,
    )
    return clusters


def test_conversion_efficiency_and_types_follow_the_documented_curve(sim):
    from egcalib.simulation.inner_detector import CONVERSION_TYPES, conversion_type_fractions

    table = sim["conversion_reconstruction"]
    totals = np.sum([table[name] for name in CONVERSION_TYPES], axis=0)
    assert dict(zip(table["radius_mm"], np.round(totals, 6))) == DOCUMENTED_EFFICIENCY
    clusters = _converted_photons(sim, 40000, 28)
    radius, conv_type = clusters["true_conversion_radius"], clusters["conversion_type"]
    abs_eta = np.abs(clusters["cl_eta"])
    expected = conversion_type_fractions(radius, abs_eta, sim)
    # In 100 mm bins of true radius, the share reconstructed as each type (and as converted at
    # all) is the documented one averaged over the bin, within 4 binomial standard deviations.
    for lo in range(0, 1100, 100):
        sel = (radius >= lo) & (radius < lo + 100)
        n = sel.sum()
        assert n > 2000, lo
        for k in range(len(CONVERSION_TYPES) + 1):
            p = expected[sel].sum(axis=1).mean() if k == 0 else expected[sel, k - 1].mean()
            measured = (conv_type[sel] > 0).mean() if k == 0 else (conv_type[sel] == k).mean()
            error = np.sqrt(max(p * (1 - p), 1e-4) / n)
            assert abs(measured - p) < 4 * error, (lo, k, measured, p)
    # Late conversions are reconstructed as unconverted; single-track conversions exist.
    assert np.all(conv_type[radius > 800] == 0)
    assert 0.15 < np.isin(conv_type[radius < 800], (1, 2)).mean() < 0.4
    # Near the node at 400 mm the efficiency is the documented 0.80 (binomial error ~0.01).
    near = np.abs(radius - 400) < 25
    assert abs((conv_type[near] > 0).mean() - 0.80) < 4 * np.sqrt(0.16 / near.sum())


def test_conversion_reconstruction_reads_the_tracks_and_needs_the_trt(sim):
    from egcalib.simulation.inner_detector import conversion_tracks, reconstruct_conversions

    n = 20000
    rng = np.random.default_rng(5)
    radius = rng.uniform(33, 800, n)
    forward = reconstruct_conversions(
        radius, np.ones(n, bool), np.full(n, 2.2), rng.uniform(size=n), sim
    )
    assert not np.isin(forward, (2, 4, 5)).any() and np.isin(forward, (1, 3)).any()
    assert list(conversion_tracks(np.arange(6))) == [0, 1, 1, 2, 2, 2]
    unconverted = reconstruct_conversions(
        radius, np.zeros(n, bool), np.zeros(n), rng.uniform(size=n), sim
    )
    assert np.all(unconverted == 0)


def test_conversion_reconstruction_off_reconstructs_every_conversion(sim):
    on = _converted_photons(sim, 6000, 29)
    off_sim = copy.deepcopy(sim)
    off_sim["effects"]["conversion_reconstruction"] = False
    off = _converted_photons(off_sim, 6000, 29)
    # Off: every true conversion converted, two tracks for two_track_conversion_fraction of them.
    assert np.all(np.isin(off["conversion_type"], (1, 3)))
    two = (off["conversion_tracks"] == 2).mean()
    assert abs(two - sim["two_track_conversion_fraction"]) < 4 * np.sqrt(0.24 / 6000)
    np.testing.assert_array_equal(off["conversion_radius"], off["true_conversion_radius"])
    # The switch changes the reconstructed conversion only: the same random numbers elsewhere.
    conversion = {
        "conversion_type",
        "conversion_tracks",
        "conversion_radius",
        "conversion_pt_ratio",
    }
    for name in set(on) - conversion:
        np.testing.assert_array_equal(on[name], off[name], err_msg=name)
    assert (on["conversion_type"] == 0).mean() > 0.2


def _electron_shapes(sim, detector_name, abs_eta_range, seed, n=12000, **effects):
    from egcalib.core.shower_shapes import shower_shapes
    from egcalib.simulation.calorimeter import simulate_showers

    variant = copy.deepcopy(sim)
    variant["effects"].update(effects)
    rng = np.random.default_rng(seed)
    eta = rng.uniform(*abs_eta_range, n) * np.where(rng.uniform(size=n) < 0.5, 1, -1)
    showers = simulate_showers(
        40.0 * np.cosh(eta),  # ET 40 GeV: Z -> ee electrons
        eta,
        rng.uniform(-3, 3, n),
        np.where(np.arange(n) % 2 == 0, 1, -1),
        np.full(n, ELECTRON),
        np.full(n, 35.0),
        variant,
        variant["detectors"][detector_name],
        rng,
    )
    return shower_shapes(showers.cells)


def _shift(data, mc, name):
    d, m = data[name], mc[name]
    return np.mean(d) - np.mean(m), np.hypot(np.std(d), np.std(m)) / np.sqrt(len(d))


@pytest.mark.parametrize("region", ["barrel", "endcap"])
def test_data_showers_are_wider_in_eta_by_the_atlas_shifts(sim, region):
    # docs/toy-detector.md#data-versus-mc: the data detector's R_eta and w_eta2 differ from the
    # MC's by ATLAS's measured electron shifts; with data_shower_widths off, no shift is left
    # beyond the small one of the material difference.
    from egcalib.simulation.validation import ATLAS_SHOWER_SHAPE_SHIFTS

    cited = ATLAS_SHOWER_SHAPE_SHIFTS[region]
    mc = _electron_shapes(sim, "mc", cited["abs_eta"], 1)
    data = _electron_shapes(sim, "data", cited["abs_eta"], 2)
    off = _electron_shapes(sim, "data", cited["abs_eta"], 2, data_shower_widths=False)
    # Calibration precision of the widths: 0.0003 in R_eta, 0.00002 in w_eta2.
    for name, tolerance in (("r_eta", 0.0003), ("w_eta2", 0.00002)):
        shift, error = _shift(data, mc, name)
        assert abs(shift - cited[name]) < 3 * error + tolerance, (name, shift, cited[name])
        residual, error = _shift(off, mc, name)
        assert abs(residual) < 3 * error + tolerance, (name, residual)
    # The strips are left alone (ATLAS's electron w_s3 shift is 0), and the MC is neutral.
    shift, error = _shift(data, mc, "w_s3")
    assert abs(shift) < 3 * error + 0.002
    mc_detector = sim["detectors"]["mc"]["eta_width_scales"]
    assert all(v == 1.0 for layer in mc_detector.values() for k in layer.values() for v in k)


def test_baseline_insitu_alphas_vanish_when_data_are_mc_and_follow_a_data_scale(sim):
    """The validation's in-situ alphas of the MVA baseline: zero within their spread when the
    data detector is the MC one, and the scale of the data's layers where it differs by one."""
    from egcalib.simulation.resolution_study import baseline_insitu_alphas

    edges = [0.0, 1.37, 2.47]
    same = copy.deepcopy(sim)
    same["detectors"]["data"] = copy.deepcopy(same["detectors"]["mc"])
    alphas = baseline_insitu_alphas(same, 4000, 6000, edges)
    assert len(alphas) == 2 and all(abs(a) < 0.004 for a in alphas), alphas
    scaled = copy.deepcopy(same)
    scaled["detectors"]["data"]["layer_scales"] = [1.02, 1.02, 1.02, 1.02]
    alphas = baseline_insitu_alphas(scaled, 4000, 6000, edges)
    assert all(0.012 < a < 0.028 for a in alphas), alphas  # +2 % in every layer
