"""The embedded toy calorimeter: contract, bookkeeping, physics sanity, determinism."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from scipy import stats
from toy_showers import mc_showers

from egcalib.core.contract import all_branches, cell_branches, truth_branches
from egcalib.simulation.baseline_calibration import BaselineCalibration
from egcalib.simulation.detector import ELECTRON, UNCONVERTED
from egcalib.simulation.events import simulate_chunk
from egcalib.simulation.generator import generate
from egcalib.simulation.objects import calibration_sample
from egcalib.simulation.resolution_fit import fit_resolution

JAGGED_PREFIXES = ("el_", "ph_", "mu_", "trk_")


def _tree(ntuple_dir, name):
    return uproot.open(ntuple_dir / f"{name}.root")["egamma"]


@pytest.mark.parametrize(
    "dataset",
    [
        "mc_zee",
        "data_zee",
        "mc_zmumug",
        "data_zmumug",
        "mc_egun",
        "mc_pgun",
        "mc_jets",
        "data_jets",
    ],
)
def test_files_follow_the_branch_contract(ntuple_dir, sim, dataset):
    tree = _tree(ntuple_dir, dataset)
    is_mc = dataset.startswith("mc")
    arrays = tree.arrays(list(all_branches(is_mc)))
    for name, dtype in all_branches(is_mc).items():
        layout = arrays[name]
        if name.startswith(JAGGED_PREFIXES):
            assert layout.ndim == 2, f"{name} must be jagged"
            values = ak.flatten(layout)
        else:
            assert layout.ndim == 1, f"{name} must be one value per event"
            values = layout
        assert ak.to_numpy(values).dtype == np.dtype(dtype), name
    shapes = sim["native_shapes"]
    for prefix in ("el", "ph"):
        n_objects = ak.num(arrays[f"{prefix}_e"])
        for name in cell_branches(prefix):
            layer = name.rsplit("_", 1)[1]
            assert ak.all(ak.num(arrays[name]) == n_objects * int(np.prod(shapes[layer]))), name
    if not is_mc:
        truth = set(truth_branches("el")) | set(truth_branches("ph"))
        assert truth.isdisjoint(tree.keys()), "data must not carry truth branches"
        assert ak.all(arrays["mcChannelNumber"] == 0)


def test_event_content_per_process(ntuple_dir):
    zee = _tree(ntuple_dir, "mc_zee").arrays(["el_e", "mu_pt"])
    assert 1.6 < ak.mean(ak.num(zee.el_e)) < 2.1  # two electrons, some outside |eta| < 2.47
    assert ak.sum(ak.num(zee.mu_pt)) == 0
    mmg = _tree(ntuple_dir, "mc_zmumug").arrays(["mu_pt", "ph_e", "el_e"])
    assert ak.mean(ak.num(mmg.mu_pt)) > 1.6  # two muons within |eta| < 2.5
    assert ak.mean(ak.num(mmg.ph_e)) > 0.8  # one hard FSR photon per event, some out of acceptance
    gun = _tree(ntuple_dir, "mc_egun").arrays(["el_pt", "el_truth_matched"])
    assert ak.all(ak.num(gun.el_pt[gun.el_truth_matched]) <= 1)
    photons = _tree(ntuple_dir, "mc_pgun").arrays(
        ["ph_pt", "ph_truth_matched", "ph_convType", "el_e", "mu_pt", "mcChannelNumber"]
    )
    assert ak.all(ak.num(photons.ph_pt[photons.ph_truth_matched]) == 1)  # all in |eta| < 2.37
    assert ak.sum(ak.num(photons.el_e)) == 0 and ak.sum(ak.num(photons.mu_pt)) == 0
    assert ak.all(photons.mcChannelNumber == 423001)  # ATLAS's single-photon particle gun
    # Conversions come from the tracker material, as for the Z -> mumugamma photons.
    conv_type = ak.to_numpy(ak.flatten(photons.ph_convType[photons.ph_truth_matched]))
    assert 0.1 < np.mean(conv_type > 0) < 0.9


@pytest.mark.parametrize(
    "process, pdg, et_key, eta_key",
    [("egun", 11, "egun_et_range", "eta_max"), ("pgun", 22, "pgun_et_range", "pgun_eta_max")],
)
def test_gun_spectra_follow_the_configuration(sim, process, pdg, et_key, eta_key):
    """One particle per event, ln ET uniform over the configured range (dN/dET ~ 1/ET: the same
    number per decade) and eta uniform within the configured |eta|: Kolmogorov-Smirnov tests
    with a fixed seed, which reject a flat ET spectrum."""
    gen = sim["generator"]
    particles = generate(process, 20000, gen, np.random.default_rng(11))
    np.testing.assert_array_equal(particles["event"], np.arange(20000))
    assert np.all(particles["pdg"] == pdg)
    assert np.all(particles["charge"] == 0) if pdg == 22 else set(particles["charge"]) == {-1, 1}
    et = particles["e"] / np.cosh(particles["eta"])
    (et_lo, et_hi), eta_max = gen[et_key], gen[eta_key]
    assert et.min() >= et_lo and et.max() <= et_hi
    log_range = (np.log(et_lo), np.log(et_hi / et_lo))
    assert stats.kstest(np.log(et), "uniform", args=log_range).pvalue > 0.01
    assert stats.kstest(et, "uniform", args=(et_lo, et_hi - et_lo)).pvalue < 1e-6
    assert stats.kstest(particles["eta"], "uniform", args=(-eta_max, 2 * eta_max)).pvalue > 0.01
    assert stats.kstest(particles["phi"], "uniform", args=(-np.pi, 2 * np.pi)).pvalue > 0.01


def test_photon_gun_covers_the_seed_photons(default_config):
    """Seed 001 trains its photon model on photons below 100 GeV (ET 5-100 GeV); the gun is
    generated within the ATLAS photon acceptance, |eta| < 2.37, and selected outside the crack."""
    gen = default_config["simulation"]["generator"]
    assert gen["pgun_et_range"] == [5.0, 100.0] and gen["pgun_eta_max"] == 2.37
    cuts = default_config["selection"]["pgun"]
    assert cuts["photon_eta_max"] == 2.37 and cuts["photon_eta_crack"] == [1.37, 1.52]


def _showers(sim, n, energy, eta, shower_type=ELECTRON, seed=1):
    rng = np.random.default_rng(seed)
    e = np.full(n, float(energy))
    eta_values = np.full(n, eta) + rng.uniform(-0.01, 0.01, n)
    charge = np.where(np.arange(n) % 2 == 0, 1, -1) * (shower_type == ELECTRON)
    return mc_showers(
        sim, e, eta_values, rng.uniform(-np.pi, np.pi, n), charge, shower_type, 30.0, rng
    ), e


@pytest.mark.parametrize("shower_type", [ELECTRON, UNCONVERTED])
@pytest.mark.parametrize("eta", [0.2, 1.45, 2.2])
def test_energy_bookkeeping_is_exact(sim, eta, shower_type):
    showers, energy = _showers(sim, 2000, 50.0, eta, shower_type)
    out_of_window = (showers.e_layer - showers.e_in_window).sum(axis=1)
    total = showers.e_dead + showers.e_in_window.sum(axis=1) + out_of_window + showers.e_leak
    np.testing.assert_allclose(total, energy, rtol=1e-10)
    assert np.all(showers.e_in_window <= showers.e_layer + 1e-9)
    assert np.all(out_of_window > 0) and np.all(showers.e_leak >= 0)
    if eta > 1.8:
        assert np.all(showers.e_layer[:, 0] == 0), "no presampler beyond |eta| = 1.8"


def test_layer_fractions_move_with_energy_as_a_shower_should(sim):
    fractions = []
    for energy in (10.0, 50.0, 300.0):
        showers, _ = _showers(sim, 3000, energy, 0.3)
        fractions.append(showers.e_layer.mean(axis=0) / energy)
    fractions = np.array(fractions)
    assert np.all(np.diff(fractions[:, 1]) < 0), "strips fraction falls with energy"
    assert np.all(np.diff(fractions[:, 3]) > 0), "back fraction rises with energy"
    leak = [(_showers(sim, 3000, e, 0.3)[0].e_leak / e).mean() for e in (10.0, 300.0)]
    assert leak[1] > 3 * leak[0], "leakage grows with energy"


def test_upstream_loss_peaks_in_the_crack(sim):
    dead = {eta: (_showers(sim, 3000, 50.0, eta)[0].e_dead / 50.0).mean() for eta in (0.3, 1.45)}
    assert dead[1.45] > 5 * dead[0.3]


def test_brem_spreads_electrons_in_phi_by_charge(sim):
    showers, _ = _showers(sim, 4000, 15.0, 0.5)
    mid = showers.cells["lr2"].sum(axis=1)  # phi profile of the middle layer
    phi_index = np.arange(mid.shape[1]) - mid.shape[1] // 2
    centroid = (mid * phi_index).sum(axis=1) / mid.sum(axis=1)
    positive = np.arange(4000) % 2 == 0
    # The radiated photons land on the side the track was bent away from.
    assert centroid[positive].mean() - centroid[~positive].mean() > 0.05


def test_baseline_response_is_centred_in_the_barrel(sim, calibration):
    rng = np.random.default_rng(7)
    e_true, clusters = calibration_sample(30000, ELECTRON, sim, sim["detectors"]["mc"], rng)
    barrel = np.abs(clusters["cl_eta"]) < 1.37
    e_mva, e_binned = BaselineCalibration(calibration).apply(
        clusters, np.full(len(e_true), ELECTRON)
    )
    for e_base in (e_mva[barrel], e_binned[barrel]):
        assert abs(np.median(e_base / e_true[barrel]) - 1) < 0.003
    raw = clusters["cl_Eacc"][barrel] / e_true[barrel]
    assert np.median(raw) < 0.99, "the raw cluster energy must need a calibration"


def test_resolution_terms_land_in_the_anchors(sim, calibration):
    rng = np.random.default_rng(11)
    n = 24000
    energy = np.exp(rng.uniform(np.log(8), np.log(1000), n))
    eta = rng.uniform(-0.8, 0.8, n)
    from egcalib.simulation.objects import simulate_objects

    _, clusters = simulate_objects(
        energy,
        eta,
        rng.uniform(-np.pi, np.pi, n),
        np.where(rng.uniform(size=n) < 0.5, 1, -1),
        np.full(n, ELECTRON),
        np.full(n, 34.0),
        sim,
        sim["detectors"]["mc"],
        rng,
        calibration,
    )
    fit = fit_resolution(energy, clusters["e"] / energy, np.geomspace(8, 1000, 12))
    assert fit["converged"]
    assert 0.09 <= fit["sampling"] <= 0.15
    assert 0.005 <= fit["constant"] <= 0.012


def test_truth_mismatch_fraction_as_configured(sim, calibration):
    rng = np.random.default_rng(3)
    branches = simulate_chunk("egun", "mc", 8000, 1, 1, sim, calibration, rng)
    matched = ak.to_numpy(ak.flatten(branches["el_truth_matched"]))
    ratio = ak.to_numpy(ak.flatten(branches["el_truth_e"] / branches["el_gen_e"]))[matched]
    fraction = np.mean(np.abs(ratio - 1) > 1e-6)
    expected = sim["generator"]["truth_mismatch_fraction"]
    assert abs(fraction - expected) < 4 * np.sqrt(expected * (1 - expected) / len(ratio))


def test_z_line_shape_and_decay(sim):
    rng = np.random.default_rng(5)
    particles = generate("zee", 20000, sim["generator"], rng)
    el = particles["pdg"] == 11
    e, eta, phi = (particles[k][el].reshape(-1, 2) for k in ("e", "eta", "phi"))

    # Both leptons massless: m^2 = 2 E1 E2 (1 - cos angle); FSR only lowers it.
    def p(i):
        return np.stack(
            [
                np.cos(phi[:, i]) / np.cosh(eta[:, i]),
                np.sin(phi[:, i]) / np.cosh(eta[:, i]),
                np.tanh(eta[:, i]),
            ],
            axis=1,
        )

    mass = np.sqrt(2 * e[:, 0] * e[:, 1] * (1 - (p(0) * p(1)).sum(axis=1)))
    peak = mass[(mass > 80) & (mass < 100)]
    assert abs(np.median(peak) - 91.19) < 0.3
    assert 1.0 < (np.percentile(peak, 75) - np.percentile(peak, 25)) / 2 < 2.0  # ~ Gamma/2
    assert np.all(particles["charge"][el].reshape(-1, 2).sum(axis=1) == 0)


def test_data_detector_differs_from_mc(ntuple_dir):
    mc = _tree(ntuple_dir, "mc_zee")["averageInteractionsPerCrossing"].array(library="np")
    data = _tree(ntuple_dir, "data_zee")["averageInteractionsPerCrossing"].array(library="np")
    assert data.mean() - mc.mean() > 3


def test_shower_shape_validation_compares_data_and_mc(ntuple_dir, sim, tmp_path):
    from egcalib.simulation.validation import _shower_shapes_data_vs_mc

    shifts = _shower_shapes_data_vs_mc(
        [ntuple_dir / "mc_zee.root"],
        [ntuple_dir / "data_zee.root"],
        "egamma",
        sim["native_shapes"],
        tmp_path / "shapes.png",
    )
    assert (tmp_path / "shapes.png").stat().st_size > 10_000
    barrel = shifts["barrel"]
    assert {"r_eta", "w_eta2", "f0", "f1", "f2", "f3"} <= set(barrel)
    assert 0.9 < barrel["r_eta"]["mc"] < 1.0 and 0.005 < barrel["w_eta2"]["mc"] < 0.02
    assert barrel["r_eta"]["atlas_shift"] < 0 < barrel["w_eta2"]["atlas_shift"]
    assert abs(sum(barrel[f"f{i}"]["mc"] for i in range(4)) - 1) < 1e-6


def test_same_seed_gives_identical_arrays(sim, calibration, tmp_path):
    from egcalib.simulation.events import simulate_file

    for name in ("a", "b"):
        simulate_file(tmp_path / f"{name}.root", "mc_zee", "zee", "mc", 3, 300, sim, calibration)
    a = uproot.open(tmp_path / "a.root")["egamma"].arrays()
    b = uproot.open(tmp_path / "b.root")["egamma"].arrays()
    assert a.fields == b.fields
    for field in a.fields:
        assert ak.all(ak.ravel(a[field]) == ak.ravel(b[field])), field
    simulate_file(tmp_path / "c.root", "mc_zee", "zee", "mc", 4, 300, sim, calibration)
    c = uproot.open(tmp_path / "c.root")["egamma"].arrays(["el_e", "eventNumber"])
    assert not np.array_equal(ak.to_numpy(c.eventNumber), ak.to_numpy(a.eventNumber))


def test_cell_windows_hold_the_shower(ntuple_dir, sim):
    arrays = _tree(ntuple_dir, "mc_egun").arrays(["el_cells_lr2", "el_cl_E2", "el_e"])
    cells = ak.to_numpy(ak.flatten(arrays.el_cells_lr2)).reshape(-1, *sim["native_shapes"]["lr2"])
    centre = np.array(sim["native_shapes"]["lr2"]) // 2
    hottest = cells.reshape(len(cells), -1).argmax(axis=1)
    is_centre = hottest == centre[0] * cells.shape[2] + centre[1]
    # The window is centred on the cell of the deposit barycentre; a neighbour is hotter only
    # when that is near a cell edge (or brem / pile-up pull the shower).
    assert is_centre.mean() > 0.7
    neighbour = np.abs(np.array(np.unravel_index(hottest, cells.shape[1:])).T - centre).max(axis=1)
    assert np.all(neighbour[cells.sum(axis=(1, 2)) > 20] <= 1)
    np.testing.assert_array_less(
        ak.to_numpy(ak.flatten(arrays.el_cl_E2)), cells.sum(axis=(1, 2)) + 1.0
    )
