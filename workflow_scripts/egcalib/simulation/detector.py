"""The toy detector's shared description: the shower types, the detector effects that can be
switched off, and the material in front of the calorimeter.

Every stage of the simulation (longitudinal and lateral shower shape, tracker, pile-up, events)
reads these; they import nothing else from the simulation, so no module cycle can form.
"""

from __future__ import annotations

import numpy as np

from egcalib.core.contract import LAYERS

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
# Differences of the data detector alone (detectors.data; the MC carries their neutral values),
# each with a switch in simulation.effects; not among EFFECTS, since the MC never shows them.
DATA_EFFECTS = ("data_shower_widths",)
# Where the data detector's lateral-width scales change from their barrel to their endcap values
# (the crack's ATLAS shifts are barrel-like: docs/toy-detector.md).
WIDTH_SPLIT_ETA = CRACK_ETA[1]


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


def eta_width_scales(
    abs_eta: np.ndarray, sim: dict, detector: dict
) -> tuple[np.ndarray, np.ndarray]:
    """Factors (n, 4) on each layer's core and tail widths in eta: the detector's
    ``eta_width_scales`` (layer -> {"core": [barrel, endcap], "tail": [barrel, endcap]}; layers
    not named keep 1), the barrel value below |eta| WIDTH_SPLIT_ETA and the endcap value above:
    data showers are wider in eta than simulated ones (docs/toy-detector.md). Ones without the
    data_shower_widths effect or the key."""
    n = len(abs_eta)
    core, tail = np.ones((n, 4)), np.ones((n, 4))
    if not effect_on(sim, "data_shower_widths"):
        return core, tail
    endcap = abs_eta >= WIDTH_SPLIT_ETA
    for layer, widths in detector.get("eta_width_scales", {}).items():
        li = LAYERS.index(layer)
        core[:, li] = np.where(endcap, widths["core"][1], widths["core"][0])
        tail[:, li] = np.where(endcap, widths["tail"][1], widths["tail"][0])
    return core, tail
