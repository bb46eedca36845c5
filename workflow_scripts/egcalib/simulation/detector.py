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
# The EM barrel (EMB) ends and the end-cap (EMEC) takes over at |eta| 1.475 (ATLAS, JINST 3
# S08003, Section 5.2): showers beyond it are at a fixed |z|, not a fixed radius.
BARREL_ETA_MAX = 1.475
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
    "endcap_geometry",
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


def endcap_geometry(abs_eta: np.ndarray, sim: dict) -> tuple[np.ndarray, np.ndarray]:
    """Per object (n,), what the end-cap's geometry does to a shower at |eta| ``abs_eta``, as
    factors relative to the barrel: (lateral, bending).

    ``lateral``: a shower's transverse size (a Moliere radius R_M) spans R_M / r in eta and in
    phi, r the calorimeter's distance from the beam: R_calo (``lateral.calo_radius_mm``) in the
    barrel, z_EC / sinh|eta| in the end-cap (``lateral.endcap_z_mm``), so its width in cells
    grows as R_calo sinh|eta| / z_EC beyond BARREL_ETA_MAX (x0.86 at 1.5, x2.4 at 2.47 with
    ATLAS's 1.5 m and 3.7 m; the cells of the end-cap are physically smaller, which is why ATLAS
    clusters its end-cap electrons in 5 x 5 middle cells, not 3 x 7: Eur. Phys. J. C 77 (2017)
    195).

    ``bending``: a track's phi offset at the calorimeter over the barrel's, for a uniform field
    that ends at |z| = ``lateral.solenoid_half_length_mm``: a helix leaving the field at radius
    r_f flies straight on to r_c, so its offset is (r_f / R)(1 - r_f / 2 r_c) against
    R_calo / 2R in the barrel (R the curvature radius); 1 where r_f = r_c = R_calo.

    Ones when the effect endcap_geometry is off.
    """
    n = len(abs_eta)
    if not effect_on(sim, "endcap_geometry"):
        return np.ones(n), np.ones(n)
    lateral = sim["lateral"]
    r_barrel = lateral["calo_radius_mm"]
    sinh = np.maximum(np.sinh(abs_eta), 1e-6)
    endcap = abs_eta > BARREL_ETA_MAX
    r_calo = np.where(endcap, lateral["endcap_z_mm"] / sinh, r_barrel)
    r_field = np.minimum(lateral["solenoid_half_length_mm"] / sinh, r_calo)
    bending = (2.0 * r_field / r_barrel) * (1.0 - r_field / (2.0 * r_calo))
    return r_barrel / r_calo, bending


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
