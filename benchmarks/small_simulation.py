"""What the simulation and skim benchmarks set up alike: the default config and the toy
calorimeter with a calibration sample small enough to derive in seconds (not a benchmark)."""

from __future__ import annotations

from pathlib import Path

import yaml

from egcalib.simulation.baseline_calibration import derive_baseline_calibration
from egcalib.simulation.config import simulation_config

REPO = Path(__file__).resolve().parents[1]


def default_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def small_simulation(config: dict, photons_per_type: int) -> tuple[dict, dict]:
    """(sim, calibration): ``config``'s simulation, its baseline calibration derived on 20000
    electrons and ``photons_per_type`` unconverted and converted photons each."""
    sim = simulation_config(config["simulation"], config["images"])
    sim["calibration"]["objects_per_type"] = {
        "electron": 20000,
        "unconverted": photons_per_type,
        "converted": photons_per_type,
    }
    return sim, derive_baseline_calibration(sim)
