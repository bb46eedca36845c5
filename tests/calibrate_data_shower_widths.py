"""Calibrate the data detector's middle-layer eta width scales (docs/toy-detector.md).

For each region (barrel, endcap), finds the core and tail factors of
``detectors.data.eta_width_scales.lr2`` for which the toy's data - MC shift of the mean R_eta and
w_eta2 of 40 GeV ET electrons equals ATLAS's (ATLAS_SHOWER_SHAPE_SHIFTS), by Newton's method on
the 2 x 2 system, with the same random numbers for data and MC. Prints the factors to put in
config.yaml; tests/test_detector_effects.py checks the shifts they give.

    python tests/calibrate_data_shower_widths.py [config.yaml]
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import yaml

from egcalib.core.shower_shapes import shower_shapes
from egcalib.simulation.calorimeter import simulate_showers
from egcalib.simulation.config import simulation_config
from egcalib.simulation.detector import ELECTRON
from egcalib.simulation.validation import ATLAS_SHOWER_SHAPE_SHIFTS

N_ELECTRONS = 40000
STEP = 0.02


def mean_shapes(sim, detector, abs_eta, seed, region_index=None, factors=None):
    """Mean (R_eta, w_eta2) of N_ELECTRONS 40 GeV ET electrons flat in ``abs_eta``."""
    sim = copy.deepcopy(sim)
    if factors is not None:
        widths = sim["detectors"]["data"]["eta_width_scales"]["lr2"]
        widths["core"][region_index], widths["tail"][region_index] = factors
    rng = np.random.default_rng(seed)
    n = N_ELECTRONS
    eta = rng.uniform(*abs_eta, n) * np.where(rng.uniform(size=n) < 0.5, 1, -1)
    showers = simulate_showers(
        40.0 * np.cosh(eta),
        eta,
        rng.uniform(-3, 3, n),
        np.where(np.arange(n) % 2, 1, -1),
        np.full(n, ELECTRON),
        np.full(n, 35.0),
        sim,
        sim["detectors"][detector],
        rng,
    )
    shapes = shower_shapes(showers.cells)
    return np.array([np.nanmean(shapes["r_eta"]), np.nanmean(shapes["w_eta2"])])


def calibrate_region(sim: dict, index: int, region: str) -> tuple[np.ndarray, np.ndarray]:
    """The (core, tail) factors of one region (``index`` 0 barrel, 1 endcap) and the shifts of
    (R_eta, w_eta2) they give."""
    shift = ATLAS_SHOWER_SHAPE_SHIFTS[region]
    target = np.array([shift["r_eta"], shift["w_eta2"]])
    mc = mean_shapes(sim, "mc", shift["abs_eta"], 5)
    widths = sim["detectors"]["data"]["eta_width_scales"]["lr2"]
    factors = np.array([widths["core"][index], widths["tail"][index]])

    def residual(f):
        return mean_shapes(sim, "data", shift["abs_eta"], 5, index, f) - mc - target

    for _ in range(4):
        now = residual(factors)
        jacobian = np.column_stack(
            [(residual(factors + STEP * np.eye(2)[j]) - now) / STEP for j in range(2)]
        )
        factors = factors - np.linalg.solve(jacobian, now)
    return factors, residual(factors) + target


def main(path: str = "config.yaml") -> None:
    config = yaml.safe_load(Path(path).read_text())
    sim = simulation_config(copy.deepcopy(config["simulation"]), config["images"])
    for index, region in enumerate(("barrel", "endcap")):
        factors, shifts = calibrate_region(sim, index, region)
        atlas = ATLAS_SHOWER_SHAPE_SHIFTS[region]
        print(
            f"{region}: core {factors[0]:.3f}, tail {factors[1]:.3f}; shift R_eta "
            f"{shifts[0]:+.5f}, w_eta2 {shifts[1]:+.6f} (ATLAS {atlas['r_eta']:+.5f}, "
            f"{atlas['w_eta2']:+.6f})"
        )


if __name__ == "__main__":
    main(*sys.argv[1:])
