"""The toy detector's standard calibration: the MVA (as ATLAS's) and the binned reference."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from egcalib.simulation.baseline_calibration import (
    BaselineCalibration,
    calibration_category,
    calibration_samples,
    derive_baseline_calibration,
    mva_features,
)
from egcalib.simulation.detector import CONVERTED, ELECTRON, UNCONVERTED
from egcalib.simulation.objects import (
    calibrate_objects,
    calibration_sample,
    photon_calibration_sample,
)
from egcalib.stats import metrics


def _held_out(sim, category, n):
    """Objects of one calibration category from another seed than the calibration sample's:
    electrons, or photons (converting as the material has them) of that reconstructed type."""
    rng = np.random.default_rng(2024 + category)
    detector = sim["detectors"]["mc"]
    if category == ELECTRON:
        return calibration_sample(n, ELECTRON, sim, detector, rng)
    e_true, clusters, types = photon_calibration_sample(n, sim, detector, rng)
    sel = calibration_category(types, clusters["conversion_type"]) == category
    return e_true[sel], {k: np.asarray(v)[sel] for k, v in clusters.items()}


@pytest.mark.parametrize(
    ("category", "n"), [(ELECTRON, 20000), (UNCONVERTED, 25000), (CONVERTED, 60000)]
)
def test_mva_beats_the_binned_calibration_on_held_out_particles(sim, calibration, category, n):
    e_true, clusters = _held_out(sim, category, n)
    assert len(e_true) > 8000
    e_mva, e_binned = BaselineCalibration(calibration).apply(
        clusters, np.full(len(e_true), category)
    )
    mva, binned = metrics.eiqr(e_mva / e_true, 75), metrics.eiqr(e_binned / e_true, 75)
    assert mva < 0.97 * binned, (mva, binned)
    assert abs(np.median(e_mva / e_true) - 1) < 0.005  # calibrated: the peak at one


def test_converted_photons_use_the_conversion_variables(sim):
    rng = np.random.default_rng(9)
    _, clusters = calibration_sample(2000, CONVERTED, sim, sim["detectors"]["mc"], rng)
    reconstructed = clusters["conversion_type"] > 0
    features = mva_features(clusters, CONVERTED)
    assert features.shape == (2000, 8)
    radius, share = features[reconstructed, 6], features[reconstructed, 7]
    r_in = sim["lateral"]["tracker_radius_mm"][0]
    r_max = sim["conversion_reconstruction"]["radius_mm"][-1]
    assert np.all((radius >= r_in) & (radius <= r_max)) and radius.std() > 50
    assert np.all((share >= 0.5) & (share <= 1.0))
    # A true conversion not reconstructed has no conversion variables, as in ATLAS.
    assert np.all(features[~reconstructed, 6:] == 0) and (~reconstructed).sum() > 100
    assert mva_features(clusters, ELECTRON).shape == (2000, 6)


def test_photons_are_calibrated_by_their_reconstructed_type(sim, calibration):
    assert list(
        calibration_category([ELECTRON, CONVERTED, CONVERTED, UNCONVERTED], [0, 0, 3, 0])
    ) == [ELECTRON, UNCONVERTED, CONVERTED, UNCONVERTED]
    rng = np.random.default_rng(11)
    _, clusters = calibration_sample(3000, CONVERTED, sim, sim["detectors"]["mc"], rng)
    types = np.full(3000, CONVERTED)
    calibrate_objects(clusters, types, calibration)
    as_unconverted, _ = BaselineCalibration(calibration).apply(clusters, np.full(3000, UNCONVERTED))
    as_converted, _ = BaselineCalibration(calibration).apply(clusters, types)
    lost = clusters["conversion_type"] == 0
    np.testing.assert_array_equal(clusters["e"][lost], as_unconverted[lost])
    np.testing.assert_array_equal(clusters["e"][~lost], as_converted[~lost])


def _sized(sim: dict, **objects_per_type: int) -> dict:
    """A copy of ``sim`` whose calibration samples have these sizes per shower type."""
    small = copy.deepcopy(sim)
    small["calibration"]["objects_per_type"] = objects_per_type
    return small


def test_calibration_samples_are_split_by_reconstructed_type(sim):
    small = _sized(sim, electron=200, unconverted=3000, converted=3000)
    samples = calibration_samples(small)
    converted = samples["converted"][1]
    unconverted = samples["unconverted"][1]
    assert np.all(converted["conversion_type"] > 0)
    assert np.all(unconverted["conversion_type"] == 0)
    # True conversions lost by the reconstruction are calibrated as unconverted photons.
    assert (unconverted["true_conversion_radius"] > 0).sum() > 50
    assert len(samples["unconverted"][0]) + len(samples["converted"][0]) == 6000
    small["effects"] = {**small["effects"], "conversion_reconstruction": False}
    by_truth = calibration_samples(small)
    assert len(by_truth["converted"][0]) == 3000
    assert np.all(by_truth["converted"][1]["true_conversion_radius"] > 0)


def test_calibration_is_deterministic(sim):
    small = _sized(sim, electron=3000, unconverted=3000, converted=3000)
    small["calibration"]["eta_bin_width"] = 0.5
    first, second = derive_baseline_calibration(small), derive_baseline_calibration(small)
    assert first == second
    # Electrons and photons in their own processes: the same tables, in the same order.
    parallel = derive_baseline_calibration(small, processes=2)
    assert json.dumps(parallel) == json.dumps(first)
    assert set(first["mva"]) == {"electron", "unconverted", "converted"}
