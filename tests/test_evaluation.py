"""eIQR / rIQR, the Z-mass rebuild and the BW (x) CB fitter."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import vector
from numba_stats import crystalball

from egcalib.evaluate.masses import dielectron_masses, mumugamma_masses
from egcalib.stats.bw_cb import (
    LIMITS,
    SEED_TAIL,
    BreitWignerCrystalBall,
    FitError,
    fit_bw_cb,
    quality_flags,
)
from egcalib.stats.metrics import differential, eiqr, riqr
from egcalib.stats.sigma_improvement import bootstrap_error, paired_sigma_improvement


def test_eiqr_against_percentiles_and_on_gaussians():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.03, 400_000)
    assert eiqr(values, 75) == pytest.approx(0.03, rel=0.01)
    assert eiqr(values, 95) == pytest.approx(0.03, rel=0.01)
    skewed = rng.exponential(1.0, 10_000) + 1
    p = np.percentile(skewed, [2.5, 50, 97.5])
    assert eiqr(skewed, 95) == pytest.approx((p[2] - p[0]) / 3.919928 / p[1])
    assert eiqr(skewed, 75, relative=False) == pytest.approx(
        np.subtract(*np.percentile(skewed, [75, 25])) / 1.3489795
    )
    assert np.isnan(eiqr([], 75))


def test_riqr_and_its_bootstrap_error():
    rng = np.random.default_rng(1)
    truth = np.ones(20_000)
    baseline = truth + rng.normal(0, 0.04, truth.size)
    model = truth + rng.normal(0, 0.03, truth.size)
    value, error, flags = riqr(model, baseline, 75)
    assert value == pytest.approx(0.25, abs=4 * error)
    assert 0.002 < error < 0.02 and flags == ""
    assert np.isnan(riqr(model[:5], baseline[:5])[0])


def test_differential_table_has_every_bin_and_nan_for_empty_ones():
    rng = np.random.default_rng(2)
    n = 5000
    table = differential(
        1 + rng.normal(0, 0.02, n),
        1 + rng.normal(0, 0.03, n),
        rng.uniform(20, 50, n),
        rng.uniform(0, 1.0, n),
        n_bootstrap=20,
    )
    assert len(table) == 5 * 8
    filled = table[(table.et_hi <= 50) & (table.abs_eta_hi <= 0.8)]
    assert np.all(filled["riqr75"] > 0.2)
    assert table[table.et_lo >= 50]["riqr75"].isna().all()


def test_mass_rebuild_against_vector():
    rng = np.random.default_rng(3)
    n = 50
    eta, phi, e = (
        rng.uniform(-2, 2, (n, 2)),
        rng.uniform(-3, 3, (n, 2)),
        rng.uniform(20, 80, (n, 2)),
    )
    frame = pd.DataFrame(
        {
            "runNumber": 1,
            "eventNumber": np.repeat(np.arange(n), 2),
            "object_index": np.tile([0, 1], n),
            "eta": eta.ravel(),
            "phi": phi.ravel(),
            "energy": e.ravel(),
        }
    )
    frame = pd.concat([frame, frame.iloc[[0]].assign(eventNumber=999)])  # a lone electron
    masses = dielectron_masses(frame.sample(frac=1, random_state=0), ["energy"])
    assert len(masses) == n
    p = [
        vector.obj(pt=e[i, k] / np.cosh(eta[i, k]), eta=eta[i, k], phi=phi[i, k], mass=0)
        for i in range(n)
        for k in range(2)
    ]
    expected = np.array([(p[2 * i] + p[2 * i + 1]).mass for i in range(n)])
    np.testing.assert_allclose(masses.sort_values("eventNumber")["energy"], expected, rtol=1e-9)
    mumu = vector.obj(pt=30.0, eta=0.3, phi=1.0, mass=70.0)
    photon = pd.DataFrame(
        {
            "runNumber": [1],
            "eventNumber": [1],
            "eta": [-0.5],
            "phi": [-2.0],
            "energy": [25.0],
            "mumu_pt": [30.0],
            "mumu_eta": [0.3],
            "mumu_phi": [1.0],
            "mumu_m": [70.0],
        }
    )
    gamma = vector.obj(pt=25.0 / np.cosh(-0.5), eta=-0.5, phi=-2.0, mass=0)
    assert mumugamma_masses(photon, ["energy"])["energy"][0] == pytest.approx((mumu + gamma).mass)


def bw_cb_toy(n, rng, mean=-0.4, sigma=2.0, alpha=1.4, n_cb=3.0):
    bw = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
    x = np.linspace(-40, 15, 60001)
    cdf = crystalball.cdf(x, alpha, n_cb, mean, sigma)
    return bw + np.interp(rng.uniform(size=n), cdf, x)


@pytest.mark.parametrize("hi, step", [(100.0, 0.02), (100.05, 0.05)])  # 4001 and 1602 points
def test_bw_cb_density_is_the_direct_convolution(hi, step):
    """The density's FFT (the BW transformed once) is the plain sum over the grid, for odd and
    even grid lengths: a wrong padding would wrap a tail around, a wrong slice would shift the
    peak by a grid step."""
    model = BreitWignerCrystalBall(80.0, hi, 91.19, 2.5, step)
    kernel = crystalball.pdf(model.kernel_x, 1.2, 2.5, -0.4, 1.8)
    direct = np.convolve(model.bw, kernel, mode="same") * step
    np.testing.assert_allclose(
        model.density(-0.4, 1.8, 1.2, 2.5), direct, rtol=0, atol=1e-12 * direct.max()
    )


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


@pytest.mark.slow
def test_weighted_fit_with_negative_weights_is_unbiased_with_honest_errors():
    # NLO-like weights: 15 % of the events carry -1, drawn from the same peak, the rest +1.43
    # (the same sum of weights per event). sum(w) and sum(w^2) per bin must give unbiased widths
    # and errors that match the spread over toys.
    rng = np.random.default_rng(12)
    pulls = []
    for _ in range(40):
        masses = bw_cb_toy(12_000, rng)
        weights = np.where(rng.uniform(size=len(masses)) < 0.15, -1.0, 1.0 / 0.7)
        result = fit_bw_cb(masses, weights=weights, bin_width=0.2, grid_step=0.1)
        pulls.append((result.values["sigma"] - 2.0) / result.errors["sigma"])
    pulls = np.array(pulls)
    assert abs(pulls.mean()) < 0.45  # 40 toys: the mean is known to ~0.16
    assert 0.7 < pulls.std() < 1.35


def test_a_fit_of_few_events_fixes_the_tail_and_never_returns_a_bound_plainly():
    masses = bw_cb_toy(60, np.random.default_rng(13))
    masses = masses[(masses > 80) & (masses < 100)]
    result = fit_bw_cb(masses)
    # 60 events cannot measure a CB tail: it is fixed at the seed's values and says so.
    assert {"alpha", "n"} <= set(result.fixed)
    assert result.values["alpha"] == SEED_TAIL["alpha"] and result.values["n"] == SEED_TAIL["n"]
    lo, hi = LIMITS["sigma"]
    at_bound = min(result.values["sigma"] - lo, hi - result.values["sigma"]) < 1e-3 * (hi - lo)
    assert not at_bound or "sigma at limit" in result.flags


def test_quality_flags_name_limits_and_unconstrained_tails():
    values = {"mean": 0.0, "sigma": 1.8, "alpha": 2.5, "n": 1.01}
    errors = {"mean": 0.05, "sigma": 0.07, "alpha": 0.3, "n": 2.4}
    assert quality_flags(values, errors, []) == ["n at limit", "n unconstrained"]
    assert quality_flags(values, errors, ["n"]) == []
    assert quality_flags({**values, "sigma": 0.05, "n": 3.0}, {**errors, "n": 1.0}, []) == [
        "sigma at limit"
    ]
    assert quality_flags({**values, "n": 3.0}, {**errors, "alpha": 2.0, "n": 1.0}, []) == [
        "alpha unconstrained"
    ]
    # chi2 194 on 194 degrees of freedom is a good fit; 376 (p ~ 1e-13) is not.
    assert quality_flags(values, errors, ["n"], chi2=194.0, ndf=194) == []
    assert quality_flags(values, errors, ["n"], chi2=376.0, ndf=194) == ["poor fit (chi2/ndf 1.94)"]
    # An undefined error or chi2 fails its check (NaN is not a pass).
    nan = float("nan")
    assert quality_flags({**values, "n": 3.0}, {**errors, "alpha": nan, "n": nan}, []) == [
        "alpha unconstrained",
        "n unconstrained",
    ]
    assert quality_flags(values, errors, ["n"], chi2=nan, ndf=194) == ["undefined chi2"]
    # A Gaussian peak (no tail) leaves n on its limit: the fit says so.
    rng = np.random.default_rng(6)
    masses = (
        91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=3000) - 0.5)) + rng.normal(0, 1.8, 3000)
    )
    result = fit_bw_cb(masses)
    assert result.flags or {"n", "alpha"} & set(result.fixed)


def test_paired_bootstrap_carries_the_correlation_of_the_two_widths():
    # The "model" is the baseline with 20 % less smearing on the same events: the improvement
    # is nearly deterministic, so the paired error is far below two independent fits' errors.
    rng = np.random.default_rng(14)
    n = 6000
    peak = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
    noise = rng.normal(0, 2.0, n)
    baseline, model = peak + noise, peak + 0.8 * noise
    fit_base, fit_model = fit_bw_cb(baseline), fit_bw_cb(model)
    paired = paired_sigma_improvement(model, baseline, fit_model, fit_base, n_bootstrap=30)
    ratio = fit_model.values["sigma"] / fit_base.values["sigma"]
    independent = ratio * np.hypot(
        fit_model.errors["sigma"] / fit_model.values["sigma"],
        fit_base.errors["sigma"] / fit_base.values["sigma"],
    )
    assert paired["value"] == pytest.approx(1 - ratio)
    assert paired["value"] == pytest.approx(0.2, abs=0.05)
    assert paired["bootstrap_ok"] >= 25
    assert 0 < paired["error"] < 0.6 * independent


@pytest.mark.slow
def test_paired_bootstrap_error_matches_the_spread_over_toys():
    rng = np.random.default_rng(15)
    values, errors = [], []
    for _ in range(20):
        n = 4000
        peak = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5))
        noise = rng.normal(0, 2.0, n)
        baseline = peak + noise
        model = peak + 0.8 * noise + rng.normal(0, 0.8, n)  # partly independent resolution
        paired = paired_sigma_improvement(
            model,
            baseline,
            fit_bw_cb(model),
            fit_bw_cb(baseline),
            n_bootstrap=25,
            seed=int(rng.integers(1 << 30)),
        )
        values.append(paired["value"])
        errors.append(paired["error"])
    spread = np.std(values, ddof=1)
    # 20 toys know the spread to ~16 %.
    assert 0.6 < np.median(errors) / spread < 1.6, (np.median(errors), spread)


def test_bootstrap_error_is_not_inflated_by_a_fit_in_another_minimum():
    """49 resamples spread by 0.02 and one fit that landed far off (as on the default run's 300
    Z -> mumugamma events, whose standard deviation came out 2.4): the error stays the spread
    of the 49, and the stray fit is counted, so the evaluation flags the number."""
    draws = np.random.default_rng(9).normal(0.1, 0.02, 49).tolist() + [-15.0]
    error, outliers = bootstrap_error(draws)
    assert error == pytest.approx(0.02, rel=0.25) and outliers == 1
    assert np.std(draws) > 1.0  # what the standard deviation would have said
    assert bootstrap_error(draws[:9]) == (pytest.approx(float("nan"), nan_ok=True), 0)


def test_gaussian_smeared_breit_wigner_gives_a_large_alpha():
    rng = np.random.default_rng(6)
    masses = (
        91.19
        + 1.25 * np.tan(np.pi * (rng.uniform(size=100_000) - 0.5))
        + rng.normal(0, 1.8, 100_000)
    )
    result = fit_bw_cb(masses, grid_step=0.05)
    # No tail: the CB's power-law tail starts beyond 2 sigma, where the BW tails dominate.
    assert result.values["alpha"] > 2
    assert result.values["sigma"] == pytest.approx(1.8, abs=0.1)


def test_a_peak_the_shape_does_not_describe_is_flagged():
    """Two populations 6 GeV apart (a miscalibrated half of the detector) under a tail fixed at
    the seed's: the fit converges, and its chi2 says the sigma_CB is no resolution."""
    rng = np.random.default_rng(8)
    masses = np.concatenate(
        [bw_cb_toy(15_000, rng, mean=-3.0, sigma=1.0), bw_cb_toy(15_000, rng, mean=3.0, sigma=1.0)]
    )
    result = fit_bw_cb(masses, bin_width=0.2, grid_step=0.1, tail=SEED_TAIL)
    assert any(flag.startswith("poor fit") for flag in result.flags), result.flags
    good = fit_bw_cb(
        bw_cb_toy(30_000, rng, alpha=1.4, n_cb=1.5), bin_width=0.2, grid_step=0.1, tail=SEED_TAIL
    )
    assert good.flags == [], good.flags


def test_non_convergent_fits_report_failure():
    with pytest.raises(FitError, match="only"):
        fit_bw_cb(np.full(20, 91.0))
    with pytest.raises(FitError):
        fit_bw_cb(np.random.default_rng(7).uniform(0, 1, 5000))  # nothing in range


@pytest.fixture(scope="module")
def z_skims(tmp_path_factory, sim, calibration, default_config):
    """Skimmed MC Z -> ee and Z -> mumugamma objects, large enough for Z-peak fits."""
    from ntuple_builder import skim_with

    from egcalib.simulation.events import simulate_file

    out = tmp_path_factory.mktemp("zskims")
    frames = []
    for dataset, process, n in (("mc_zee", "zee", 700), ("mc_zmumug", "zmumug", 4000)):
        simulate_file(out / f"{dataset}.root", dataset, process, "mc", 0, n, sim, calibration)
        skim_with(
            default_config,
            out / f"{dataset}.root",
            out / f"{dataset}.parquet",
            out / f"{dataset}.csv",
            dataset=dataset,
            file_name="f000",
            process=process,
        )
        frames.append(pd.read_parquet(out / f"{dataset}.parquet"))
    return pd.concat(frames, ignore_index=True)


def test_z_fits_rebuild_each_process_with_the_model_energy(z_skims, default_config, tmp_path):
    """Z -> ee from both electrons, Z -> mumugamma from the photon: a "model" that smears the
    baseline energy by 8 % must widen both peaks, so the fits really use the model energies."""
    from egcalib.evaluate.z_fits import z_fits

    smear = np.random.default_rng(5).normal(1.0, 0.08, len(z_skims))
    predictions = z_skims.assign(e_pred=z_skims["e_baseline"] * smear)
    datasets = {name: default_config["datasets"][name] for name in ("mc_zee", "mc_zmumug")}
    fits = z_fits(
        predictions,
        datasets,
        default_config["evaluation"]["z_fit"],
        tmp_path,
        "smeared",
        n_bootstrap=12,
    )
    assert fits.loc[fits["dataset"] == "mc_zmumug", "process"].eq("zmumug").all()
    assert "error" not in fits or fits["error"].isna().all(), fits
    for dataset in datasets:
        rows = fits[fits["dataset"] == dataset].set_index("energy")
        assert 0.5 < rows.loc["baseline", "sigma"] < 5.0
        assert rows.loc["smeared", "sigma"] > 1.3 * rows.loc["baseline", "sigma"], rows["sigma"]
        assert rows.loc["smeared", "sigma_improvement"] < -0.3
        for energy in ("baseline", "smeared"):
            assert (tmp_path / f"{dataset}_{energy}.png").stat().st_size > 10_000


def synthetic_zee(n_events, rng, resolution):
    """Z -> ee predictions: electron pairs with Breit-Wigner masses and, per energy column, the
    true energy smeared by its Gaussian ``resolution`` (relative)."""
    mass = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n_events) - 0.5))
    eta = rng.uniform(-1.5, 1.5, (n_events, 2))
    phi = rng.uniform(-np.pi, np.pi, n_events)
    phi = np.stack([phi, phi + np.pi + rng.normal(0, 0.3, n_events)], axis=1)
    e1 = rng.uniform(35, 60, n_events)
    # Massless pair: m^2 = 2 E1 E2 (1 - cos theta12).
    p = [
        np.stack([np.cos(phi[:, k]), np.sin(phi[:, k]), np.sinh(eta[:, k])], 1)
        / np.cosh(eta[:, k])[:, None]
        for k in (0, 1)
    ]
    cos_theta = np.sum(p[0] * p[1], axis=1)
    e2 = mass**2 / (2 * e1 * (1 - cos_theta))
    truth = np.stack([e1, e2], axis=1).ravel()
    frame = pd.DataFrame(
        {
            "dataset": "mc_zee",
            "runNumber": 1,
            "eventNumber": np.repeat(np.arange(n_events), 2),
            "object_index": np.tile([0, 1], n_events),
            "eta": eta.ravel(),
            "phi": np.angle(np.exp(1j * phi.ravel())),
            "e_truth": truth,
        }
    )
    for column, sigma in resolution.items():
        frame[column] = truth * rng.normal(1.0, sigma, truth.size)
    return frame


def evaluate(frame, tmp_path, name, default_config):
    from egcalib.evaluate.model_evaluation import evaluate_model

    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    out = {
        key: tmp_path / name / f"{key}.png"
        for key in ("relative_error", "et_2d", "eiqr_vs_eta", "pulls", "closure")
    }
    out.update(
        metrics=tmp_path / name / "metrics.json",
        differential=tmp_path / name / "d.csv",
        zfits=tmp_path / name / "zfits.csv",
        zfits_dir=tmp_path / name / "zfits",
        pulls_table=tmp_path / name / "pulls.csv",
        closure_table=tmp_path / name / "closure.csv",
    )
    evaluation = {**default_config["evaluation"], "bootstrap": 30, "sigma_bootstrap": 12}
    evaluate_model(name, [path], {"mc_zee": default_config["datasets"]["mc_zee"]}, evaluation, out)
    return out


def test_binned_reference_is_reported_beside_the_baseline(default_config, tmp_path):
    """A binned reference 2.5 % wide, an MVA baseline 1.5 %, a model 1.2 %: the metrics, Z fits,
    ablation row and summary show the binned -> MVA step; without binned energies (NaN, as from
    ntuples without the branch) those entries are absent and nothing fails."""
    from egcalib.evaluate.comparison import compare

    frame = synthetic_zee(
        3000,
        np.random.default_rng(8),
        {"e_baseline": 0.015, "e_pred": 0.012, "e_baseline_binned": 0.025},
    )
    with_binned = evaluate(frame, tmp_path, "model", default_config)
    without = evaluate(
        frame.assign(e_baseline_binned=np.float32("nan")), tmp_path, "other", default_config
    )
    metrics = json.loads(with_binned["metrics"].read_text())
    inclusive = metrics["inclusive"]
    assert inclusive["n_baseline_binned"] == len(frame)
    assert inclusive["eiqr75_baseline_binned"] == pytest.approx(0.025, rel=0.1)
    assert inclusive["eiqr95_baseline_binned"] == pytest.approx(0.025, rel=0.1)
    assert inclusive["riqr75_baseline_vs_binned"] == pytest.approx(0.4, abs=0.08)
    assert 0 < inclusive["riqr75_baseline_vs_binned_error"] < 0.05
    assert inclusive["riqr75_flags"] == inclusive["riqr75_baseline_vs_binned_flags"] == ""
    fits = pd.read_csv(with_binned["zfits"]).set_index("energy")
    assert fits.index.tolist() == ["baseline", "baseline_binned", "model"]
    assert (
        fits.loc["baseline_binned", "sigma"]
        > fits.loc["baseline", "sigma"]
        > fits.loc["model", "sigma"]
    )
    assert (
        fits.loc["baseline_binned", "sigma_improvement"]
        < 0
        < fits.loc["model", "sigma_improvement"]
    )
    assert (with_binned["zfits_dir"] / "mc_zee_baseline_binned.png").stat().st_size > 10_000

    # The closure: every hypothesis's response peak per bin, the binned one only where finite.
    closure = pd.read_csv(with_binned["closure_table"])
    assert set(closure["hypothesis"]) == {"baseline", "model", "baseline_binned"}
    assert set(pd.read_csv(without["closure_table"])["hypothesis"]) == {"baseline", "other"}
    filled = closure[closure["flags"].isna()]
    # Synthetic energies closed by construction: each peak is 1 within its fit error.
    assert len(filled) and ((filled["peak"] - 1).abs() < 4 * filled["peak_error"] + 1e-3).all()
    assert with_binned["closure"].stat().st_size > 10_000

    other = json.loads(without["metrics"].read_text())
    assert not any("binned" in key for key in other["inclusive"])
    assert [f["energy"] for f in other["z_fits"]] == ["baseline", "other"]

    out = {
        "csv": tmp_path / "ablation.csv",
        "markdown": tmp_path / "ablation.md",
        "png": tmp_path / "ablation.png",
        "summary": tmp_path / "summary.md",
    }
    table = compare([without["metrics"], with_binned["metrics"]], "model", out).set_index("model")
    assert table.index.tolist() == ["other", "model", "baseline_binned"]
    binned = table.loc["baseline_binned"]
    assert binned["particle"] == "electron"
    # Measured against the MVA baseline like the models: worse, so negative.
    assert binned["riqr75"] == pytest.approx(1 - binned["eiqr75_model"] / binned["eiqr75_baseline"])
    assert binned["riqr75"] < -0.3 and binned["sigma_improvement_zee_mc"] < 0
    assert binned["eiqr75_baseline"] == pytest.approx(inclusive["eiqr75_baseline"])
    assert "baseline_binned" in out["markdown"].read_text()
    summary = out["summary"].read_text()
    assert "## The baseline over the binned reference (electrons)" in summary
    assert "1 - sigma_CB^baseline / sigma_CB^binned" in summary
    # Only models without binned energies: no binned row, no binned lines.
    table = compare([without["metrics"]], "other", out)
    assert table["model"].tolist() == ["other"]
    assert "binned" not in out["summary"].read_text()


@pytest.mark.parametrize("scale, width", [(1.0, 1.0), (0.5, 2.0)])
def test_mdn_pulls_measure_the_predicted_resolution(default_config, tmp_path, scale, width):
    """Objects smeared by a per-object sigma that the model predicts exactly (scale 1) give pull
    width 1 and 68.3 % / 95 % coverage; a model claiming half its real sigma gives width 2."""
    frame = synthetic_zee(2000, np.random.default_rng(21), {"e_baseline": 0.02})
    rng = np.random.default_rng(22)
    sigma = rng.uniform(0.01, 0.04, len(frame))  # per-object relative resolution
    frame["e_pred"] = frame["e_truth"] * rng.normal(1.0, sigma)
    frame["sigma_e_pred"] = scale * sigma * frame["e_truth"]
    out = evaluate(frame.assign(weight=1.0), tmp_path, f"mdn{scale}", default_config)
    table = pd.read_csv(out["pulls_table"]).set_index("bin")
    inclusive = table.loc["inclusive"]
    assert inclusive["pull_width"] == pytest.approx(width, rel=0.06)
    if scale == 1.0:
        assert inclusive["coverage68"] == pytest.approx(0.683, abs=0.02)
        assert inclusive["coverage95"] == pytest.approx(0.95, abs=0.01)
    else:
        assert inclusive["coverage68"] < 0.45
    assert len(table.loc["abs_eta"]) == 8 and len(table.loc["et"]) == 5
    metrics = json.loads(out["metrics"].read_text())
    assert metrics["pulls"]["pull_width"] == pytest.approx(inclusive["pull_width"])
    assert out["pulls"].stat().st_size > 10_000


def test_models_without_a_resolution_write_an_empty_pull_table(default_config, tmp_path):
    frame = synthetic_zee(500, np.random.default_rng(23), {"e_baseline": 0.02, "e_pred": 0.015})
    out = evaluate(frame, tmp_path, "plain", default_config)
    assert out["pulls_table"].read_text().strip() == ""
    assert "pulls" not in json.loads(out["metrics"].read_text())


@pytest.mark.parametrize("data_tail", ["mc", "free"])
def test_data_fits_take_their_tail_from_the_same_energy_fit_in_mc(
    default_config, tmp_path, data_tail
):
    """A small data sample (1,500 events) cannot measure the CB tail: with data_tail "mc" each
    data fit fixes alpha and n at the MC fit of the same energy (and says so in tail_from), its
    resamples too; with "free" the data fit its own tail."""
    from egcalib.evaluate.z_fits import z_fits

    rng = np.random.default_rng(21)
    mc = synthetic_zee(20_000, rng, {"e_baseline": 0.025, "e_pred": 0.02})
    data = synthetic_zee(1_500, rng, {"e_baseline": 0.03, "e_pred": 0.025})
    data["dataset"] = "data_zee"
    datasets = {
        "data_zee": default_config["datasets"]["data_zee"],  # data listed first
        "mc_zee": default_config["datasets"]["mc_zee"],
    }
    fits = z_fits(
        pd.concat([data, mc], ignore_index=True),
        datasets,
        default_config["evaluation"]["z_fit"],
        tmp_path,
        "model",
        n_bootstrap=10,
        data_tail=data_tail,
    ).set_index(["dataset", "energy"])
    for energy in ("baseline", "model"):
        mc_fit, data_fit = fits.loc[("mc_zee", energy)], fits.loc[("data_zee", energy)]
        assert mc_fit["tail_from"] in ("", None) or pd.isna(mc_fit["tail_from"])
        if data_tail == "mc":
            assert data_fit["tail_from"] == "mc_zee"
            assert data_fit["alpha_error"] == 0 and data_fit["n_error"] == 0  # fixed: no error
            assert {"alpha", "n"} <= set(data_fit["fixed"].split("; "))
            assert data_fit["alpha"] == pytest.approx(mc_fit["alpha"])
            assert data_fit["n"] == pytest.approx(mc_fit["n"])
        else:
            assert not isinstance(data_fit["tail_from"], str) or not data_fit["tail_from"]
            assert data_fit["alpha"] != pytest.approx(mc_fit["alpha"])
    assert fits.loc[("data_zee", "model"), "bootstrap_failed"] < 5
    assert np.isfinite(fits.loc[("data_zee", "model"), "sigma_improvement_error"])


def test_insitu_scale_factors_recover_a_miscalibrated_data_detector(default_config, tmp_path):
    """Data electrons measured 2 % high, 3 % and 5 % low in three |eta| bins: the in-situ scale
    factors recover each to a few per mille, and with them the data Z peak has the width of the
    same resolution in MC instead of the spread of three shifted peaks."""
    from egcalib.evaluate.masses import dielectron_masses
    from egcalib.evaluate.z_fits import z_fits
    from egcalib.stats.insitu_scale import scale_factors

    edges, alpha = [0.0, 0.5, 1.0, 1.5], np.array([0.02, -0.03, -0.05])
    rng = np.random.default_rng(31)
    mc = synthetic_zee(40_000, rng, {"e_baseline": 0.02, "e_pred": 0.02})
    data = synthetic_zee(20_000, rng, {"e_baseline": 0.02, "e_pred": 0.02})
    data["dataset"] = "data_zee"
    scale = 1.0 + alpha[np.digitize(np.abs(data["eta"]), edges) - 1]
    data["e_baseline"] *= scale  # the baseline mis-scaled, the "model" not
    found = scale_factors(
        dielectron_masses(data, ["e_baseline"]),
        dielectron_masses(mc, ["e_baseline"]),
        "e_baseline",
        edges,
    )
    np.testing.assert_allclose(found, alpha, atol=0.003)
    datasets = {
        "mc_zee": default_config["datasets"]["mc_zee"],
        "data_zee": default_config["datasets"]["data_zee"],
    }
    fits = {}
    for label, insitu_edges in (("off", []), ("on", edges)):
        fits[label] = z_fits(
            pd.concat([mc, data], ignore_index=True),
            datasets,
            default_config["evaluation"]["z_fit"],
            tmp_path / label,
            "model",
            n_bootstrap=10,
            insitu_eta_edges=insitu_edges,
        ).set_index(["dataset", "energy"])
    mc_sigma = fits["on"].loc[("mc_zee", "baseline"), "sigma"]
    assert fits["off"].loc[("data_zee", "baseline"), "sigma"] > 1.3 * mc_sigma
    assert fits["on"].loc[("data_zee", "baseline"), "sigma"] == pytest.approx(mc_sigma, rel=0.1)
    # The well-calibrated hypothesis is left (nearly) alone: its alphas are ~0.
    alphas = [float(a) for a in fits["on"].loc[("data_zee", "model"), "insitu_alpha"].split()]
    assert np.abs(alphas).max() < 0.003


# Degenerate statistics (issue 26, item 5): a zero or undefined width gives NaN and a flag that
# says why, in the flags column beside the number, never an exception; the summary and the card
# write "n/a" with the flag.


def test_riqr_of_a_zero_or_undefined_reference_width_is_nan_with_a_flag():
    """A baseline of identical values (eIQR 0), a handful of objects, a model without finite
    values: NaN value and error and the flag, no ZeroDivisionError (nor warning)."""
    model = 1 + np.linspace(-0.03, 0.03, 50)
    assert riqr(model, np.ones(50), 75) == (
        pytest.approx(float("nan"), nan_ok=True),
        pytest.approx(float("nan"), nan_ok=True),
        "zero baseline width",
    )
    assert riqr(model, np.ones(50), 95, names=("baseline", "binned"))[2] == ("zero binned width")
    # A model of identical values: rIQR 1 is a number, but not a resolution: flagged.
    value, error, flags = riqr(np.ones(50), model, 75)
    assert value == 1.0 and error == 0.0 and flags == "zero model width"
    for n in (0, 1, 2, 9):
        value, error, flags = riqr(model[:n], 1 + model[:n] / 2, 75)
        assert np.isnan(value) and np.isnan(error)
        assert flags == f"undefined width ({n} objects < 10)"
    value, _, flags = riqr(np.full(50, np.nan), model, 75)
    assert np.isnan(value) and flags == "undefined model width"
    # A width of fewer than 2 values, or relative to a median that is not positive, is NaN.
    assert np.isnan(eiqr([1.02], 75)) and np.isnan(eiqr(np.zeros(20), 75))


def test_riqr_bootstrap_leaves_out_resamples_without_a_width_and_counts_them():
    """A baseline whose central objects are identical: its eIQR75 is positive, but a resample
    often draws only the identical ones into P25..P75 (width 0). The error comes from the other
    resamples, and the flag counts the left-out ones."""
    baseline = np.r_[np.linspace(0.9, 0.98, 5), np.ones(10), np.linspace(1.02, 1.1, 5)]
    model = 1 + np.linspace(-0.03, 0.03, 20)
    value, error, flags = riqr(model, baseline, 75, n_bootstrap=200)
    assert value == pytest.approx(1 - eiqr(model, 75) / eiqr(baseline, 75))
    assert np.isfinite(error) and error > 0
    degenerate = int(flags.split("(")[1].split()[0])
    assert 0 < degenerate < 200
    assert flags == f"degenerate bootstrap ({degenerate} of 200 resamples without a width)"


def test_differential_bins_without_a_width_are_nan_and_flagged():
    """One |eta| x ET bin whose baseline values are all equal, one with 3 objects: NaN rIQR with
    the flag, the other bins as usual."""
    rng = np.random.default_rng(41)
    n = 400
    et, abs_eta = rng.uniform(20, 30, n), rng.uniform(0.0, 0.4, n)
    abs_eta[:60] = 0.5  # the 0.4-0.8 bin
    abs_eta[60:63] = 1.0  # the 0.8-1.2 bin: 3 objects
    baseline = 1 + rng.normal(0, 0.03, n)
    baseline[:60] = 1.0
    table = differential(1 + rng.normal(0, 0.02, n), baseline, et, abs_eta, n_bootstrap=20)
    rows = table[table.et_lo == 20].set_index("abs_eta_lo")
    assert rows.loc[0.0, "riqr75"] > 0 and rows.loc[0.0, "riqr75_flags"] == ""
    assert np.isnan(rows.loc[0.4, "riqr75"]) and rows.loc[0.4, "riqr75_flags"] == (
        "zero baseline width"
    )
    assert np.isnan(rows.loc[0.8, "riqr95"])
    assert rows.loc[0.8, "riqr95_flags"] == "undefined width (3 objects < 10)"
    assert table[table.et_lo >= 30]["riqr75_flags"].str.startswith("undefined width (0").all()


def test_pulls_without_a_sigma_are_nan_and_too_few_pulls_are_flagged():
    from egcalib.stats.metrics import pull_summary, pulls

    values = pulls([1.0, 2.0, 3.0], [0.0, -1.0, 0.5], [1.0, 1.0, 2.0])  # no divide warning
    assert np.isnan(values[:2]).all() and values[2] == pytest.approx(2.0)
    few = pull_summary(values)
    assert few["n"] == 1 and np.isnan(few["pull_width"])
    assert few["flags"] == "undefined width (1 objects < 10)"
    assert pull_summary(np.linspace(-1, 1, 50))["flags"] == ""


def _fake_fit(sigma: float):
    from types import SimpleNamespace

    return SimpleNamespace(values={"sigma": sigma}, start=None, tail=None)


def test_sigma_improvement_of_a_zero_baseline_sigma_is_nan_with_a_flag():
    nominal, zero = _fake_fit(1.8), _fake_fit(0.0)
    masses = np.full(100, 91.0)
    paired = paired_sigma_improvement(masses, masses, nominal, zero, n_bootstrap=5)
    assert np.isnan(paired["value"]) and np.isnan(paired["error"])
    assert paired["flags"] == ["zero baseline sigma"]


def test_sigma_improvement_bootstrap_leaves_out_degenerate_resamples(monkeypatch):
    """Resamples whose baseline fit has sigma 0 are left out and counted; with fewer than 10
    converged resamples the error is NaN and says so."""
    from egcalib.stats import sigma_improvement

    calls = iter(range(10_000))

    def fit(masses, weights=None, start=None, tail=None, **config):
        call = next(calls)
        # Calls alternate model, baseline; every third baseline fit is degenerate.
        if call % 2 == 0:
            return _fake_fit(1.8 + 0.01 * np.mean(masses - 91.0))
        return _fake_fit(0.0 if call % 6 == 1 else 2.4)

    monkeypatch.setattr(sigma_improvement, "fit_bw_cb", fit)
    rng = np.random.default_rng(42)
    masses = 91.0 + rng.normal(0, 2, 500)
    paired = paired_sigma_improvement(
        masses, masses, _fake_fit(1.8), _fake_fit(2.4), n_bootstrap=30
    )
    assert paired["value"] == pytest.approx(0.25)
    assert paired["bootstrap_degenerate"] == 10 and paired["bootstrap_ok"] == 20
    assert np.isfinite(paired["error"])
    assert paired["flags"] == ["degenerate bootstrap (10 of 30 resamples with zero baseline sigma)"]

    def failing(masses, weights=None, start=None, tail=None, **config):
        if next(calls) % 4 == 0:
            return _fake_fit(2.0)
        raise FitError("did not converge")

    monkeypatch.setattr(sigma_improvement, "fit_bw_cb", failing)
    paired = paired_sigma_improvement(
        masses, masses, _fake_fit(1.8), _fake_fit(2.4), n_bootstrap=12
    )
    assert np.isnan(paired["error"]) and paired["bootstrap_failed"] == 12
    assert paired["flags"] == ["undefined error (0 of 12 resamples converged, fewer than 10)"]


def _degenerate_metrics(path, name: str, particle: str = "electron"):
    """A metrics.json as evaluate_model writes it, where every width is degenerate: the rIQRs
    NaN with "zero baseline width", the baseline's eIQR75 over the binned one 0 (rIQR 1), a
    Z -> ee sigma improvement NaN for a zero baseline sigma_CB and the binned sigma_CB 0
    (improvement 1)."""
    nan = float("nan")
    inclusive = {
        "n": 40,
        "riqr75": nan,
        "riqr75_error": nan,
        "riqr75_flags": "zero baseline width",
        "riqr95": nan,
        "riqr95_error": nan,
        "riqr95_flags": "zero baseline width",
        "eiqr75_baseline": 0.0,
        "eiqr75_model": 0.012,
        "eiqr75_baseline_binned": 0.02,
        "riqr75_baseline_vs_binned": 1.0,
        "riqr75_baseline_vs_binned_error": 0.0,
        "riqr75_baseline_vs_binned_flags": "zero baseline width",
        "riqr95_baseline_vs_binned": 1.0,
        "riqr95_baseline_vs_binned_error": 0.0,
        "riqr95_baseline_vs_binned_flags": "zero baseline width",
    }
    fits = [
        {"process": "zee", "kind": "mc", "energy": "baseline", "sigma": 0.0},
        {
            "process": "zee",
            "kind": "mc",
            "energy": name,
            "sigma_improvement": None,  # NaN is written as null
            "sigma_improvement_error": None,
            "sigma_improvement_flags": "zero baseline sigma",
        },
        {
            "process": "zee",
            "kind": "mc",
            "energy": "baseline_binned",
            "sigma_improvement": 1.0,
            "sigma_improvement_error": 0.01,
            "sigma_improvement_flags": "",
        },
    ]
    summary = {"model": name, "particle": particle, "inclusive": inclusive, "z_fits": fits}
    path.write_text(json.dumps(summary))
    return path


def test_summary_and_card_write_degenerate_numbers_as_flagged_not_nan(tmp_path):
    """NaN rIQRs and sigma_CB ratios with their flags, and ratios whose inversion divides by a
    zero width (the binned row): compare raises nothing, and the summary and the card show
    "n/a" with each flag, never "nan"."""
    from egcalib.card.results_card import ablation_section, mdn_section
    from egcalib.card.sections import percent
    from egcalib.evaluate.comparison import compare

    path = _degenerate_metrics(tmp_path / "metrics.json", "model")
    out = {
        "csv": tmp_path / "ablation.csv",
        "markdown": tmp_path / "ablation.md",
        "png": tmp_path / "ablation.png",
        "summary": tmp_path / "summary.md",
    }
    table = compare([path], "model", out).set_index("model")
    assert np.isnan(table.loc["model", "riqr75"])
    assert table.loc["model", "riqr75_flags"] == "zero baseline width"
    # The binned row inverts 1 - eIQR_baseline / eIQR_binned = 1: eIQR_baseline is 0.
    assert np.isnan(table.loc["baseline_binned", "riqr75"])
    assert table.loc["baseline_binned", "riqr75_flags"] == "zero baseline width"
    assert table.loc["model", "sigma_improvement_zee_mc_flags"] == "zero baseline sigma"
    summary = out["summary"].read_text()
    assert "nan" not in summary.lower()
    assert "- n/a improvement in eIQR75 (+- n/a), n/a in eIQR95" in summary
    assert "(FLAGGED: zero baseline width)" in summary
    assert "1 - sigma_CB^model / sigma_CB^baseline = n/a (paired bootstrap) (FLAGGED: zero " in (
        summary
    )
    assert "100.0 % in eIQR95 (eIQR75: binned 0.0200, baseline 0.0000) (FLAGGED: zero " in summary
    assert "sigma_CB^baseline / sigma_CB^binned = n/a (paired bootstrap) (FLAGGED: zero binned" in (
        summary
    )

    assert percent(float("nan"), float("nan"), "zero baseline width") == (
        "n/a **FLAGGED: zero baseline width**"
    )
    assert percent(None) == "n/a" and percent(0.25, 0.01, float("nan")) == "+25.0 +- 1.0 %"
    card = "\n".join(ablation_section(pd.read_csv(out["csv"])))  # as write_card reads it
    assert "nan" not in card.lower()
    row = next(line for line in card.splitlines() if line.startswith("| model | electron |"))
    assert row.count("n/a **FLAGGED: zero baseline width**") == 2
    assert "n/a **FLAGGED: zero baseline sigma**" in row

    (tmp_path / "eval/model").mkdir(parents=True)
    pulls = {"n": 3, "pull_width": float("nan"), "flags": "undefined width (3 objects < 10)"}
    (tmp_path / "eval/model/metrics.json").write_text(json.dumps({"pulls": pulls}))
    mdn = "\n".join(mdn_section(tmp_path, pd.DataFrame({"model": ["model"]})))
    assert "pull width n/a **FLAGGED: undefined width (3 objects < 10)**" in mdn


def test_card_sets_mc_data_and_combined_training_side_by_side():
    """The seed's data experiment in the card: each electron model's Z -> ee gain in MC and data
    by what it trained on, the drop from MC to data with the errors in quadrature; nothing for
    an older table without ``trained_on``."""
    from egcalib.card.results_card import training_data_section

    table = pd.DataFrame(
        {
            "model": ["recommended", "recommended_data", "recommended_mc_data", "photon"],
            "particle": ["electron", "electron", "electron", "photon"],
            "trained_on": ["mc", "data", "mc+data", "mc"],
            "sigma_improvement_zee_mc": [0.20, 0.05, 0.19, np.nan],
            "sigma_improvement_zee_mc_error": [0.03, 0.02, 0.03, np.nan],
            "sigma_improvement_zee_data": [0.16, 0.07, 0.22, np.nan],
            "sigma_improvement_zee_data_error": [0.04, 0.02, 0.02, np.nan],
        }
    )
    lines = training_data_section(table)
    assert lines[0] == "## Training on MC, on data, on both: Z -> ee data"
    rows = [line for line in lines if line.startswith("| recommended")]
    assert (
        rows[0]
        == "| recommended | mc | +20.0 +- 3.0 % | +16.0 +- 4.0 % | +4.0 +- 5.0 % | 9.4 +- 0.9 % |"
    )
    assert rows[1].startswith("| recommended_data | data |") and rows[1].endswith(
        "| 5.9 +- 0.9 % |"
    )
    assert "| -2.0 +- 2.8 % |" in rows[1]
    assert rows[2].startswith("| recommended_mc_data | mc+data |")
    assert not any("photon" in line for line in lines)
    assert training_data_section(table.drop(columns="trained_on")) == []


def test_photon_riqr_per_dataset_and_conversion_type(tmp_path):
    """A photon model better than the baseline on unconverted photons only (seed 001's split):
    the evaluation gives the rIQR per conversion type over all MC test photons and on each
    dataset (the photon gun, Z -> mumugamma), and the card's photon section shows each row."""
    from egcalib.card.sections import photon_section
    from egcalib.evaluate.model_evaluation import category_metrics

    rng = np.random.default_rng(3)
    n = 6000
    converted = rng.uniform(size=n) < 0.4
    truth = rng.uniform(10.0, 100.0, n)
    frame = pd.DataFrame(
        {
            "dataset": np.where(np.arange(n) < n // 2, "mc_pgun", "mc_zmumug"),
            "conv_type": np.where(converted, 2, 0),
            "e_truth": truth,
            "e_baseline": truth * rng.normal(1.0, np.where(converted, 0.03, 0.015)),
            "e_pred": truth * rng.normal(1.0, np.where(converted, 0.03, 0.0105)),
        }
    )
    rows = category_metrics(frame, ["mc_pgun", "mc_zmumug", "data_zmumug"], "photon", 30)
    assert [(row["dataset"], row["category"]) for row in rows] == [
        ("all", "unconverted"),
        ("all", "converted"),
        ("mc_pgun", "all"),
        ("mc_pgun", "unconverted"),
        ("mc_pgun", "converted"),
        ("mc_zmumug", "all"),
        ("mc_zmumug", "unconverted"),
        ("mc_zmumug", "converted"),
    ]
    for row in rows:
        expected = {"unconverted": 0.3, "converted": 0.0}.get(row["category"])
        if expected is not None:
            assert row["riqr75"] == pytest.approx(expected, abs=0.08), row
    assert rows[0]["n"] + rows[1]["n"] == n and rows[2]["n"] == n // 2
    electrons = category_metrics(frame, ["mc_pgun", "mc_zmumug"], "electron", 10)
    assert [(row["dataset"], row["category"]) for row in electrons] == [
        ("mc_pgun", "all"),
        ("mc_zmumug", "all"),
    ]

    (tmp_path / "eval/photon_model").mkdir(parents=True)
    metrics = {"model": "photon_model", "particle": "photon", "categories": rows}
    (tmp_path / "eval/photon_model/metrics.json").write_text(json.dumps(metrics))
    table = pd.DataFrame({"model": ["photon_model"], "particle": ["photon"]})
    text = "\n".join(photon_section(tmp_path, table))
    assert "## Photon model photon_model: unconverted and converted photons" in text
    assert "| all datasets | unconverted |" in text and "| +29.4 % |" in text
    assert "| mc_pgun | converted |" in text and "| mc_zmumug | all |" in text


def _write_model(results, name, spec, e_pred, frame, val_loss):
    """A model folder as the workflow leaves it, for the card: predictions, metrics.json, an
    ONNX file carrying the spec in its metadata (as the export writes it) and a history."""
    import onnx
    from onnx import TensorProto, helper

    predictions = results / f"predictions/{name}/mc_pgun/c000.parquet"
    predictions.parent.mkdir(parents=True)
    frame.assign(e_pred=e_pred).to_parquet(predictions)
    (results / f"eval/{name}").mkdir(parents=True)
    metrics = {"model": name, "predictions": [str(predictions.relative_to(results))]}
    (results / f"eval/{name}/metrics.json").write_text(json.dumps(metrics))
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    proto = helper.make_model(
        helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    )
    helper.set_model_props(proto, {"model_spec": json.dumps(spec)})
    (results / f"models/{name}").mkdir(parents=True)
    onnx.save(proto, results / f"models/{name}/model.onnx")
    pd.DataFrame({"epoch": [0, 1], "val_loss": [2 * val_loss, val_loss]}).to_csv(
        results / f"models/{name}/history.csv", index=False
    )


def test_card_sets_each_transformer_against_the_cnn_with_its_inputs(tmp_path):
    """A photon transformer twice as sharp as its CNN on unconverted photons and as sharp on
    converted ones: the card pairs it with the CNN of the same inputs, loss and datasets (read
    from the ONNX metadata), not with a CNN of other inputs, and gives rIQR per conversion type."""
    from egcalib.card.sections import transformer_section

    rng = np.random.default_rng(5)
    n = 4000
    converted = rng.uniform(size=n) < 0.5
    truth = rng.uniform(10.0, 100.0, n)
    frame = pd.DataFrame(
        {
            "runNumber": 1,
            "eventNumber": np.arange(n),
            "object_index": 0,
            "dataset": "mc_pgun",
            "file": "f000",
            "conv_type": np.where(converted, 1, 0),
            "e_truth": truth,
        }
    )
    base = {
        "film": ["scalars"],
        "top": ["tracks"],
        "loss": {"name": "mae"},
        "train_on": ["mc_pgun"],
    }
    width_cnn = 0.02
    cnn = truth * rng.normal(1.0, width_cnn, n)
    sharp = truth * rng.normal(1.0, np.where(converted, width_cnn, width_cnn / 2), n)
    transformer = {**base, "kind": "transformer", "transformer": {"d_model": 16, "layers": 2}}
    _write_model(tmp_path, "tf", transformer, sharp, frame, 0.02)
    _write_model(tmp_path, "cnn", {**base, "kind": "cnn"}, cnn, frame, 0.03)
    _write_model(tmp_path, "cnn_top", {**base, "kind": "cnn", "top": []}, sharp, frame, 0.01)
    # An electron transformer whose CNN the run does not have.
    _write_model(tmp_path, "tf_e", {**transformer, "train_on": ["mc_zee"]}, cnn, frame, 0.02)
    table = pd.DataFrame(
        {"model": ["tf", "cnn", "cnn_top", "tf_e"], "particle": ["photon"] * 3 + ["electron"]}
    )
    lines = transformer_section(tmp_path, table, n_bootstrap=50)
    rows = [line.split(" | ") for line in lines if line.startswith("| tf ")]
    assert [row[1:4] for row in rows] == [
        ["cnn", "all", str(n)],
        ["cnn", "unconverted", str((~converted).sum())],
        ["cnn", "converted", str(converted.sum())],
    ]
    riqr75 = {row[2]: float(row[4].split()[0]) / 100 for row in rows}
    assert riqr75["unconverted"] == pytest.approx(0.5, abs=0.07)
    assert riqr75["converted"] == pytest.approx(0.0, abs=0.07)
    # The transformer's settings, and the last validation loss of each.
    assert rows[0][6:] == ["d_model 16, layers 2", "0.0200 (2 epochs)", "0.0300 (2 epochs) |"]
    assert "- tf_e: no CNN with its inputs, loss and training datasets in this run." in lines
    # A run without transformers (or without ONNX exports) has no such section.
    assert transformer_section(tmp_path, table[table["model"] == "cnn"]) == []


def test_card_span_counts_the_cards_models_only(tmp_path):
    """A run's span runs from its first ntuple to its last trained model; a model an overlay
    trained later into the same folder belongs to another run."""
    import os

    from egcalib.card.results_card import run_span_minutes

    for path, minute in [("ntuples/d/f.root", 0), ("models/a/model.keras", 30),
                         ("models/later/model.keras", 300)]:  # fmt: skip
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
        os.utime(tmp_path / path, (60.0 * minute, 60.0 * minute))
    assert run_span_minutes(tmp_path) == pytest.approx(300)
    assert run_span_minutes(tmp_path, ["a"]) == pytest.approx(30)
