"""The embedded default input: a toy ATLAS-like EM calorimeter simulation
(docs/design.md section 4).

``simulation_config(config)`` builds the dict every function here takes from the workflow config;
``derive_baseline_calibration`` derives the standard calibration (an MVA, as ATLAS's, and the
older binned one) from the simulator's own single-particle sample; ``simulate_file`` writes one
contract ntuple.
"""

from __future__ import annotations

from egcalib.simulation.calibration import derive_baseline_calibration
from egcalib.simulation.events import simulate_file

__all__ = ["derive_baseline_calibration", "simulate_file", "simulation_config"]


def simulation_config(simulation: dict, images: dict) -> dict:
    """The `simulation:` config section plus the cell-window shapes shared with `images:`."""
    return {**simulation, "native_shapes": images["native_shapes"]}
