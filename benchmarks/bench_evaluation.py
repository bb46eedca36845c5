"""Evaluation speed, each figure beside a bound measured in the same run:

- the BW (x) CB fit of a 300-bin histogram of 500k events: wall time beside the time of the
  model evaluations MINUIT asked for (calls x one evaluation), as a ratio (the fit's overhead);
- one evaluation of the fit's model (CB density, its FFT against the BW's transform taken once,
  the CDF) beside scipy.signal.fftconvolve of the same BW and CB alone (ratio: above 1, one
  evaluation costs less than transforming both on every call, as the fit once did);
- metrics throughput: eIQR75/95 + the differential table in objects/s beside np.percentile of
  the same array (ratio).

    .venv/bin/python benchmarks/bench_evaluation.py
"""

from __future__ import annotations

import time

import numpy as np
from numba_stats import crystalball
from scipy.signal import fftconvolve

from egcalib.stats.bw_cb import BreitWignerCrystalBall, fit_bw_cb
from egcalib.stats.metrics import differential, eiqr


def main() -> None:
    rng = np.random.default_rng(0)
    n = 500_000
    grid = np.linspace(-40, 15, 60001)
    tail = np.interp(rng.uniform(size=n), crystalball.cdf(grid, 1.4, 3.0, -0.4, 2.0), grid)
    masses = 91.19 + 1.25 * np.tan(np.pi * (rng.uniform(size=n) - 0.5)) + tail
    mass_range, bin_width = (76.0, 106.0), 0.1  # 300 bins
    start = time.perf_counter()
    result = fit_bw_cb(masses, mass_range=mass_range, bin_width=bin_width)
    fit_seconds = time.perf_counter() - start
    model = BreitWignerCrystalBall(*mass_range, 91.19, 2.5, bin_width / 5)
    edges = result.edges
    start = time.perf_counter()
    for _ in range(20):
        model(edges, n, -0.4, 2.0, 1.4, 3.0)
    one_call = (time.perf_counter() - start) / 20
    print(f"Z fit: {len(edges) - 1} bins, {n} events, {result.n_calls} model calls")
    print(
        f"  fit wall time          : {fit_seconds:8.2f} s "
        f"(sigma_CB = {result.values['sigma']:.3f} +- {result.errors['sigma']:.3f})"
    )
    print(f"  calls x one evaluation : {result.n_calls * one_call:8.2f} s  (bound)")
    print(f"  ratio                  : {result.n_calls * one_call / fit_seconds:8.3f}")
    kernel = crystalball.pdf(model.kernel_x, 1.4, 3.0, -0.4, 2.0)
    start = time.perf_counter()
    for _ in range(20):
        fftconvolve(model.bw, kernel, mode="same")
    convolution = (time.perf_counter() - start) / 20
    print(f"  one evaluation         : {one_call * 1e3:8.3f} ms")
    print(f"  fftconvolve BW, CB     : {convolution * 1e3:8.3f} ms  (bound)")
    print(f"  ratio                  : {convolution / one_call:8.3f}")

    m = 1_000_000
    re_base, re_model = 1 + rng.normal(0, 0.03, m), 1 + rng.normal(0, 0.025, m)
    et, abs_eta = rng.uniform(20, 70, m), rng.uniform(0, 2.47, m)
    start = time.perf_counter()
    for values in (re_base, re_model):
        eiqr(values, 75), eiqr(values, 95)
    differential(re_model, re_base, et, abs_eta, n_bootstrap=20)
    metrics_seconds = time.perf_counter() - start
    start = time.perf_counter()
    np.percentile(re_base, [2.5, 25, 50, 75, 97.5])
    percentile_seconds = time.perf_counter() - start
    print(f"metrics on {m} objects (differential with 20 bootstrap resamples per bin):")
    print(f"  eIQR + differential    : {m / metrics_seconds:12.0f} objects/s")
    print(f"  one np.percentile      : {m / percentile_seconds:12.0f} objects/s  (bound)")
    print(f"  ratio                  : {percentile_seconds / metrics_seconds:12.4f}")


if __name__ == "__main__":
    main()
