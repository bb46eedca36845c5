"""The toy detector's standard calibration: the MVA (as ATLAS's) and the binned reference."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from egcalib.simulation.baseline_calibration import (
    BaselineCalibration,
    derive_baseline_calibration,
    mva_features,
)
from egcalib.simulation.detector import CONVERTED, ELECTRON, UNCONVERTED
from egcalib.simulation.objects import calibration_sample
from egcalib.stats import metrics


@pytest.mark.parametrize("shower_type", [ELECTRON, UNCONVERTED, CONVERTED])
def test_mva_beats_the_binned_calibration_on_held_out_particles(sim, calibration, shower_type):
    # Another seed than the calibration sample's: objects the MVA never saw.
    rng = np.random.default_rng(2024 + shower_type)
    e_true, clusters = calibration_sample(20000, shower_type, sim, sim["detectors"]["mc"], rng)
    e_mva, e_binned = BaselineCalibration(calibration).apply(
        clusters, np.full(len(e_true), shower_type)
    )
    mva, binned = metrics.eiqr(e_mva / e_true, 75), metrics.eiqr(e_binned / e_true, 75)
    assert mva < 0.97 * binned, (mva, binned)
    assert abs(np.median(e_mva / e_true) - 1) < 0.005  # calibrated: the peak at one


def test_converted_photons_use_the_conversion_variables(sim):
    rng = np.random.default_rng(9)
    _, clusters = calibration_sample(500, CONVERTED, sim, sim["detectors"]["mc"], rng)
    features = mva_features(clusters, CONVERTED)
    assert features.shape == (500, 8)
    radius, share = features[:, 6], features[:, 7]
    r_in, r_out = sim["lateral"]["tracker_radius_mm"]
    assert np.all((radius >= r_in) & (radius <= r_out)) and radius.std() > 50
    assert np.all((share >= 0.5) & (share <= 1.0))
    assert mva_features(clusters, ELECTRON).shape == (500, 6)


def test_calibration_is_deterministic(sim):
    small = copy.deepcopy(sim)
    small["calibration"]["objects_per_type"] = {
        "electron": 3000,
        "unconverted": 3000,
        "converted": 3000,
    }
    small["calibration"]["eta_bin_width"] = 0.5
    first, second = derive_baseline_calibration(small), derive_baseline_calibration(small)
    assert first == second
    assert set(first["mva"]) == {"electron", "unconverted", "converted"}
