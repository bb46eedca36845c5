"""The toy detector's shared description: the shower types, the detector effects that can be
switched off, and the material in front of the calorimeter.

Every stage of the simulation (longitudinal and lateral shower shape, tracker, pile-up, events)
reads these; they import nothing else from the simulation, so no module cycle can form.
"""

from __future__ import annotations

import numpy as np

ELECTRON, UNCONVERTED, CONVERTED = 0, 1, 2  # shower types
CRACK_ETA = (1.37, 1.52)
# The detector effects with an on/off switch (config simulation.effects). With all of them off
# only the sampling term is left: the resolution floor of simulation.validation.
EFFECTS = (
    "bremsstrahlung",
    "shower_fluctuations",
    "lateral_depth",
    "pileup",
    "noise",
    "constant_term",
    "modulation",
)
# Reconstruction effects with a switch in the same config block; they change what is
# reconstructed, not the electrons' resolution, so the effect study leaves them as configured.
RECONSTRUCTION_EFFECTS = ("conversion_reconstruction",)


def effect_on(sim: dict, name: str) -> bool:
    """Whether effect ``name`` (one of EFFECTS or RECONSTRUCTION_EFFECTS) is switched on
    (default: on)."""
    return bool(sim.get("effects", {}).get(name, True))


def upstream_material(abs_eta: np.ndarray, detector: dict) -> np.ndarray:
    """Material in front of the calorimeter, in X0 (including the presampler)."""
    crack_centre = 0.5 * sum(CRACK_ETA)
    return detector["upstream_x0"] * (1.0 + detector["upstream_eta2"] * abs_eta**2) + detector[
        "crack_x0"
    ] * np.exp(-0.5 * ((abs_eta - crack_centre) / 0.06) ** 2)
