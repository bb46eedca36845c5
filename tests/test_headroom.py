"""The headroom study (egcalib.simulation.headroom): an oracle that knows the true losses beats the
MVA baseline and the cells' summary, and the data-mismatch measurement compares like with like."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from egcalib.simulation.headroom import (
    HEADROOM_ESTIMATORS,
    data_mismatch,
    median_aligned,
    resolution_headroom,
)


@pytest.fixture(scope="module")
def small_sim(default_config) -> dict:
    from egcalib.simulation.config import simulation_config

    sim = simulation_config(copy.deepcopy(default_config["simulation"]), default_config["images"])
    sim["calibration"]["objects_per_type"] = {
        "electron": 12000,
        "unconverted": 8000,
        "converted": 8000,
    }
    return sim


def test_the_oracle_bounds_what_the_cells_summary_gains(small_sim):
    rows = resolution_headroom(small_sim, 20000, {"electron": 6000, "photon": 8000}, 50)
    assert [row["category"] for row in rows] == ["electron", "unconverted", "converted"]
    for row in rows:
        gains = row["riqr75"]
        assert set(gains) == set(HEADROOM_ESTIMATORS) - {"mva"} | {
            "cells_summary@reference_size",
            "oracle_all@reference_size",
        }
        value, error = gains["oracle_all"]
        # Knowing what was lost in front of, beside and behind the cluster sharpens the response.
        assert value > 4 * error and value > 0.05, row
        # ... more than the cells' summary, which only hints at those losses.
        assert value > gains["cells_summary"][0] + 2 * error, row
        assert row["reference_size_objects"] < row["training_objects"]
    by_category = {row["category"]: row for row in rows}
    # Electrons shower in the tracker's material; unconverted photons start after it (PDG: the
    # mean free path of a photon is 9/7 X0), so they lose less in front of the presampler.
    assert (
        by_category["electron"]["mean_loss_fraction"]["dead"]
        > 2 * by_category["unconverted"]["mean_loss_fraction"]["dead"]
    )


def test_data_mismatch_is_nil_when_data_are_mc(small_sim):
    same = copy.deepcopy(small_sim)
    same["detectors"]["data"] = copy.deepcopy(same["detectors"]["mc"])
    edges = [0.0, 1.37, 2.47]
    out = data_mismatch(same, 6000, edges, 20)
    assert out["mc"] == out["data"]
    assert out["mc"]["riqr75"][0] > 0  # the cells' summary sharpens MC electrons
    real = data_mismatch(small_sim, 6000, edges, 20)
    assert real["mc"] == out["mc"]  # the MC half does not depend on the data detector
    assert real["data"] != real["mc"] and np.isfinite(real["data"]["riqr75"]).all()


def test_median_aligned_takes_out_the_scale_per_bin():
    abs_eta = np.array([0.1, 0.2, 0.3, 1.6, 1.7, 1.8, 3.0])
    response = np.array([1.0, 1.1, 1.2, 0.9, 0.95, 1.0, 2.0])
    out = median_aligned(response, abs_eta, [0.0, 1.37, 2.47])
    np.testing.assert_allclose(out[:6], [1 / 1.1, 1.0, 1.2 / 1.1, 0.9 / 0.95, 1.0, 1.0 / 0.95])
    assert out[6] == 2.0  # outside the edges: left as it is
