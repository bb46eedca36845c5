"""eIQR / rIQR, the Z-mass rebuild and the BW (x) CB fitter."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import vector
from numba_stats import crystalball

from egcalib.fitting import FitError, fit_bw_cb
from egcalib.masses import dielectron_masses, mumugamma_masses
from egcalib.metrics import differential, eiqr, riqr


def test_eiqr_against_percentiles_and_on_gaussians():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.03, 400_000)
    assert eiqr(values, 75) == pytest.approx(0.03, rel=0.01)
    assert eiqr(values, 95) == pytest.approx(0.03, rel=0.01)
    skewed = rng.exponential(1.0, 10_000) + 1
    p = np.percentile(skewed, [2.5, 50, 97.5])
    assert eiqr(skewed, 95) == pytest.approx((p[2] - p[0]) / 3.919928 / p[1])
    assert eiqr(skewed, 75, relative=False) == pytest.approx(
        np.subtract(*np.percentile(skewed, [75, 25])) / 1.3489795)
    assert np.isnan(eiqr([], 75))


def test_riqr_and_its_bootstrap_error():
    rng = np.random.default_rng(1)
    truth = np.ones(20_000)
    baseline = truth + rng.normal(0, 0.04, truth.size)
    model = truth + rng.normal(0, 0.03, truth.size)
    value, error = riqr(model, baseline, 75)
    assert value == pytest.approx(0.25, abs=4 * error)
    assert 0.002 < error < 0.02
    assert np.isnan(riqr(model[:5], baseline[:5])[0])


def test_differential_table_has_every_bin_and_nan_for_empty_ones():
    rng = np.random.default_rng(2)
    n = 5000
    table = differential(1 + rng.normal(0, 0.02, n), 1 + rng.normal(0, 0.03, n),
                         rng.uniform(20, 50, n), rng.uniform(0, 1.0, n), n_bootstrap=20)
    assert len(table) == 5 * 8
    filled = table[(table.et_hi <= 50) & (table.abs_eta_hi <= 0.8)]
    assert np.all(filled["riqr75"] > 0.2)
    assert table[table.et_lo >= 50]["riqr75"].isna().all()


def test_mass_rebuild_against_vector():
    rng = np.random.default_rng(3)
    n = 50
    eta, phi, e = rng.uniform(-2, 2, (n, 2)), rng.uniform(-3, 3, (n, 2)), rng.uniform(20, 80, (n, 2))
    frame = pd.DataFrame({"runNumber": 1, "eventNumber": np.repeat(np.arange(n), 2),
                          "object_index": np.tile([0, 1], n), "eta": eta.ravel(),
                          "phi": phi.ravel(), "energy": e.ravel()})
    frame = pd.concat([frame, frame.iloc[[0]].assign(eventNumber=999)])  # a lone electron
    masses = dielectron_masses(frame.sample(frac=1, random_state=0), ["energy"])
    assert len(masses) == n
    p = [vector.obj(pt=e[i, k] / np.cosh(eta[i, k]), eta=eta[i, k], phi=phi[i, k], mass=0)
         for i in range(n) for k in range(2)]
    expected = np.array([(p[2 * i] + p[2 * i + 1]).mass for i in range(n)])
    np.testing.assert_allclose(masses.sort_values("eventNumber")["energy"], expected, rtol=1e-9)
    mumu = vector.obj(pt=30.0, eta=0.3, phi=1.0, mass=70.0)
    photon = pd.DataFrame({"runNumber": [1], "eventNumber": [1], "eta": [-0.5], "phi": [-2.0],
                           "energy": [25.0], "mumu_pt": [30.0], "mumu_eta": [0.3],
                           "mumu_phi": [1.0], "mumu_m": [70.0]})
    gamma = vector.obj(pt=25.0 / np.cosh(-0.5), eta=-0.5, phi=-2.0, mass=0)
    assert mumugamma_masses(photon, ["energy"])["energy"][0] == pytest.approx((mumu + gamma).mass)


def bw_cb_toy(n, rng, mean=-0.4, sigma=2.0, alpha=1.4, n_cb=3.0):
    bw = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
    x = np.linspace(-40, 15, 60001)
    cdf = crystalball.cdf(x, alpha, n_cb, mean, sigma)
    return bw + np.interp(rng.uniform(size=n), cdf, x)


def test_fit_recovers_a_toy():
    result = fit_bw_cb(bw_cb_toy(100_000, np.random.default_rng(4)), grid_step=0.05)
    for name, truth in (("sigma", 2.0), ("mean", -0.4), ("alpha", 1.4)):
        assert abs(result.values[name] - truth) < 4 * result.errors[name], name
    assert 0.7 < result.chi2_ndf < 1.4
    assert result.curve_y.max() > 0 and len(result.counts) == 200


@pytest.mark.slow
def test_fit_pulls_over_toys_have_unit_width():
    rng = np.random.default_rng(5)
    pulls = {"sigma": [], "mean": [], "alpha": []}
    truth = {"sigma": 2.0, "mean": -0.4, "alpha": 1.4}
    for _ in range(100):
        result = fit_bw_cb(bw_cb_toy(20_000, rng), bin_width=0.2, grid_step=0.1)
        for name in pulls:
            pulls[name].append((result.values[name] - truth[name]) / result.errors[name])
    for name, values in pulls.items():
        values = np.array(values)
        # 100 toys: the mean is known to ~0.1, the width to ~0.07
        assert abs(values.mean()) < 0.3, name
        assert 0.8 < values.std() < 1.25, name


def test_weighted_fit_errors_follow_the_effective_statistics():
    masses = bw_cb_toy(20_000, np.random.default_rng(8))
    plain = fit_bw_cb(masses, bin_width=0.2, grid_step=0.1)
    # A constant weight carries no information: same values, same errors, yield scaled.
    weighted = fit_bw_cb(masses, weights=np.full(len(masses), 3.0), bin_width=0.2, grid_step=0.1)
    for name in ("sigma", "mean", "alpha"):
        assert weighted.values[name] == pytest.approx(plain.values[name], rel=1e-3), name
        assert weighted.errors[name] == pytest.approx(plain.errors[name], rel=0.02), name
    assert weighted.values["yield"] == pytest.approx(3 * plain.values["yield"], rel=1e-3)
    assert weighted.chi2 == pytest.approx(plain.chi2, rel=0.02)


def test_gaussian_smeared_breit_wigner_gives_a_large_alpha():
    rng = np.random.default_rng(6)
    masses = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=100_000) - 0.5)) \
        + rng.normal(0, 1.8, 100_000)
    result = fit_bw_cb(masses, grid_step=0.05)
    # No tail: the CB's power-law tail starts beyond 2 sigma, where the BW tails dominate.
    assert result.values["alpha"] > 2
    assert result.values["sigma"] == pytest.approx(1.8, abs=0.1)


def test_non_convergent_fits_report_failure():
    with pytest.raises(FitError, match="only"):
        fit_bw_cb(np.full(20, 91.0))
    with pytest.raises(FitError):
        fit_bw_cb(np.random.default_rng(7).uniform(0, 1, 5000))  # nothing in range


@pytest.fixture(scope="module")
def z_skims(tmp_path_factory, sim, calibration, default_config):
    """Skimmed MC Z -> ee and Z -> mumugamma objects, large enough for Z-peak fits."""
    from egcalib.simulation import simulate_file
    from egcalib.skim import skim_file

    out = tmp_path_factory.mktemp("zskims")
    frames = []
    for dataset, process, n in (("mc_zee", "zee", 700), ("mc_zmumug", "zmumug", 4000)):
        simulate_file(out / f"{dataset}.root", dataset, process, "mc", 0, n, sim, calibration)
        skim_file(str(out / f"{dataset}.root"), str(out / f"{dataset}.parquet"),
                  str(out / f"{dataset}.csv"), dataset=dataset, file_name="f000", kind="mc",
                  process=process, ntuple=default_config["ntuple"],
                  selection=default_config["selection"], skim=default_config["skim"],
                  native_shapes=default_config["images"]["native_shapes"])
        frames.append(pd.read_parquet(out / f"{dataset}.parquet"))
    return pd.concat(frames, ignore_index=True)


def test_z_fits_rebuild_each_process_with_the_model_energy(z_skims, default_config, tmp_path):
    """Z -> ee from both electrons, Z -> mumugamma from the photon: a "model" that smears the
    baseline energy by 8 % must widen both peaks, so the fits really use the model energies."""
    from egcalib.evaluation import z_fits

    smear = np.random.default_rng(5).normal(1.0, 0.08, len(z_skims))
    predictions = z_skims.assign(e_pred=z_skims["e_baseline"] * smear)
    datasets = {name: default_config["datasets"][name] for name in ("mc_zee", "mc_zmumug")}
    fits = z_fits(predictions, datasets, default_config["evaluation"]["z_fit"], tmp_path, "smeared")
    assert fits.loc[fits["dataset"] == "mc_zmumug", "process"].eq("zmumug").all()
    assert "error" not in fits or fits["error"].isna().all(), fits
    for dataset in datasets:
        rows = fits[fits["dataset"] == dataset].set_index("energy")
        assert 0.5 < rows.loc["baseline", "sigma"] < 5.0
        assert rows.loc["smeared", "sigma"] > 1.3 * rows.loc["baseline", "sigma"], rows["sigma"]
        assert rows.loc["smeared", "sigma_improvement"] < -0.3
        for energy in ("baseline", "smeared"):
            assert (tmp_path / f"{dataset}_{energy}.png").stat().st_size > 10_000
