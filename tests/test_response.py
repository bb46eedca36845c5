"""The response peak (mode of E / E_true) and the closure table (egcalib.stats.response)."""

from __future__ import annotations

import numpy as np
import pytest

from egcalib.stats.response import MIN_OBJECTS, closure_table, response_peak


def test_peak_of_a_gaussian_core_with_a_low_tail():
    """The peak finds the core's mean where the median is pulled by a one-sided tail, as
    an electron's response is by energy lost upstream."""
    rng = np.random.default_rng(1)
    core = rng.normal(1.02, 0.02, 40_000)
    tail = 1.02 - rng.exponential(0.1, 10_000)
    r = np.concatenate([core, tail])
    out = response_peak(r)
    assert out["flags"] == ""
    # The tail's density under the core moves the fitted peak a little (~0.002), the median 3x more.
    assert out["peak"] == pytest.approx(1.02, abs=0.003)
    assert abs(out["peak"] - 1.02) < abs(out["median"] - 1.02) / 2
    assert 0 < out["peak_error"] < 1e-3
    assert abs(out["core_sigma"] - 0.02) < 0.002
    assert out["median"] < 1.015  # the tail pulls the median, not the peak
    assert out["objects"] == len(r)


def test_too_few_objects_and_no_width_are_flagged_not_raised():
    few = response_peak(np.full(MIN_OBJECTS - 1, 1.0))
    assert np.isnan(few["peak"]) and "fewer than" in few["flags"]
    flat = response_peak(np.full(200, 1.0))
    assert np.isnan(flat["peak"]) and flat["flags"] == "zero width"
    assert flat["median"] == 1.0
    nan = response_peak(np.full(200, np.nan))
    assert nan["objects"] == 0 and np.isnan(nan["median"])


def test_closure_table_bins_and_hypotheses():
    rng = np.random.default_rng(2)
    n = 20_000
    e_true = rng.uniform(10, 200, n)
    abs_eta = rng.uniform(0, 2.4, n)
    # A baseline 3 % low beyond |eta| 1.2, a model that closes everywhere.
    baseline = rng.normal(np.where(abs_eta > 1.2, 0.97, 1.0), 0.02)
    model = rng.normal(1.0, 0.015, n)
    table = closure_table(
        {"baseline": baseline, "model": model}, e_true, abs_eta, [10, 80, 200], [0, 1.2, 2.4]
    )
    assert len(table) == 2 * 2 * 2
    assert set(table["hypothesis"]) == {"baseline", "model"}
    peak = table.set_index(["e_lo", "abs_eta_lo", "hypothesis"])["peak"]
    for e_lo in (10, 80):
        assert peak[(e_lo, 1.2, "baseline")] == pytest.approx(0.97, abs=0.003)
        assert peak[(e_lo, 0.0, "baseline")] == pytest.approx(1.0, abs=0.003)
        assert peak[(e_lo, 1.2, "model")] == pytest.approx(1.0, abs=0.003)


def test_closure_edges_must_increase():
    with pytest.raises(ValueError, match=r"evaluation\.closure\.energy_edges must increase"):
        closure_table({"b": np.ones(3)}, np.ones(3), np.ones(3), [10, 10], [0, 1])
