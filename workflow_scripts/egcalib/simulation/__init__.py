"""The embedded default input: a toy ATLAS-like EM calorimeter simulation (DESIGN.md section 4).

``simulation_config(config)`` builds the dict every function here takes from the workflow config;
``derive_baseline_calibration`` derives the standard calibration from the simulator's own single-
particle sample; ``simulate_file`` writes one contract ntuple.
"""
from __future__ import annotations

import numpy as np

from egcalib.simulation.events import (SHOWER_TYPE_NAMES, calibration_sample, simulate_file,
                                       stream_seed)
from egcalib.simulation.reconstruction import derive_calibration

__all__ = ["simulation_config", "derive_baseline_calibration", "simulate_file"]


def simulation_config(simulation: dict, images: dict) -> dict:
    """The `simulation:` config section plus the cell-window shapes shared with `images:`."""
    return {**simulation, "native_shapes": images["native_shapes"]}


def derive_baseline_calibration(sim: dict) -> dict:
    """Calibration tables per shower type, derived with the MC detector (as ATLAS does)."""
    cal = sim["calibration"]
    eta_edges = np.arange(0.0, sim["generator"]["eta_max"] + cal["eta_bin_width"],
                          cal["eta_bin_width"])
    lo, hi = cal["et_range"]
    log_e_edges = np.linspace(np.log(lo), np.log(hi * np.cosh(sim["generator"]["eta_max"])),
                              cal["energy_bins"] + 1)
    tables = {}
    for code, name in SHOWER_TYPE_NAMES.items():
        rng = np.random.default_rng(stream_seed(sim["seed"], "calibration", name))
        e_true, clusters = calibration_sample(cal["objects_per_type"][name], code, sim,
                                              sim["detectors"]["mc"], rng)
        tables[name] = derive_calibration(np.abs(clusters["cl_eta"]), e_true, clusters["cl_Eacc"],
                                          clusters["cl_E0"], eta_edges, log_e_edges)
    return tables
