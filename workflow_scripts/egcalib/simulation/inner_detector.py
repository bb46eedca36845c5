"""The inner detector: bremsstrahlung of electrons and conversions of photons in its material,
and the resolution of the track momentum it measures.

Energies and transverse momenta in GeV, material in X0, radii in mm, phi offsets in radians.
"""

from __future__ import annotations

import numpy as np

from egcalib.core.contract import CONVERSION_TYPE_TRACKS
from egcalib.simulation.detector import CONVERTED, effect_on, upstream_material

# The reconstructed conversion types in ATLAS convType order 1..5 (0: unconverted), as named in
# config simulation.conversion_reconstruction.
CONVERSION_TYPES = ("single_si", "single_trt", "double_si", "double_trt", "double_si_trt")
SINGLE_SI, SINGLE_TRT, DOUBLE_SI, DOUBLE_TRT, DOUBLE_SI_TRT = range(1, 6)
TRT_TYPES = (SINGLE_TRT, DOUBLE_TRT, DOUBLE_SI_TRT)  # a conversion track without silicon hits


def bremsstrahlung(
    energy: np.ndarray,
    pt: np.ndarray,
    charge: np.ndarray,
    x_tracker: np.ndarray,
    sim: dict,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bremsstrahlung of electrons in the inner-detector material, in ``steps`` slices of radius.

    Bethe-Heitler: the fraction y of its energy an electron keeps after X radiation lengths has
    -ln y ~ Gamma(X / ln 2) (Bethe and Heitler 1934; the model of ATLAS's GSF track fit,
    ATLAS-CONF-2012-047). In a uniform solenoid field the track's phi offset at radius r is
    s(r) = B0 (r / R_calo)^2 with B0 = track_bend / pT (0.3 B R_calo / 2pT); after an emission
    its curvature grows by 1/y, while the photon flies on along the tangent. Material is spread
    uniformly in radius over the tracker (``tracker_radius_mm``; R_calo = ``calo_radius_mm``).

    Returns (electron_offset (n,), photon_offsets (n, steps), photon_fractions (n, steps),
    kept (n,), kept_in_silicon (n,)): phi offsets [rad] counted from the vertex direction against
    the bending (phi_calo = phi_vertex - q * offset), energy fractions (kept + sum(photons) = 1)
    and the mean fraction kept over the silicon (r < ``silicon_radius_mm``), where the track's
    curvature, hence its momentum, is measured.
    """
    lateral = sim["lateral"]
    n, steps = len(energy), lateral["brem_subshowers"]
    bend = np.abs(charge) * lateral["track_bend"] / np.maximum(pt, 1.0)
    fractions = np.zeros((n, steps))
    offsets = np.zeros((n, steps))
    if not effect_on(sim, "bremsstrahlung"):
        return bend, offsets, fractions, np.ones(n), np.ones(n)
    r_in, r_out = np.array(lateral["tracker_radius_mm"]) / lateral["calo_radius_mm"]
    edges = np.linspace(r_in, r_out, steps + 1)
    silicon = (
        0.5 * (edges[1:] + edges[:-1]) <= lateral["silicon_radius_mm"] / lateral["calo_radius_mm"]
    )
    kept = np.ones(n)
    kept_in_silicon = np.zeros(n)
    position, slope = np.zeros(n), np.zeros(n)  # s and ds/du, u = r / R_calo
    last = 0.0
    for k in range(steps):
        u = 0.5 * (edges[k] + edges[k + 1])  # emission point of slice k
        curvature = 2.0 * bend / kept
        position += slope * (u - last) + 0.5 * curvature * (u - last) ** 2
        slope += curvature * (u - last)
        last = u
        x_slice = x_tracker * (edges[k + 1] - edges[k]) / (r_out - r_in)
        after = kept * np.exp(-rng.gamma(np.maximum(x_slice, 1e-12) / np.log(2.0)))
        after = np.where(charge != 0, after, kept)
        fractions[:, k] = kept - after
        offsets[:, k] = position + slope * (1.0 - u)  # straight line to the calorimeter
        kept = after
        if silicon[k]:
            kept_in_silicon += kept / max(silicon.sum(), 1)
    curvature = 2.0 * bend / kept
    electron = position + slope * (1.0 - last) + 0.5 * curvature * (1.0 - last) ** 2
    if not silicon.any():
        kept_in_silicon = np.ones(n)
    return electron, offsets, fractions, kept, kept_in_silicon


def conversion_radius(
    t0: np.ndarray, x_tracker: np.ndarray, shower_type: np.ndarray, sim: dict
) -> np.ndarray:
    """Radius [mm] of the conversion point of converted photons (0 for other objects): the
    tracker material is spread uniformly in radius over ``tracker_radius_mm``."""
    r_in, r_out = sim["lateral"]["tracker_radius_mm"]
    depth = np.clip(t0 / np.maximum(x_tracker, 1e-9), 0.0, 1.0)
    return np.where(shower_type == CONVERTED, r_in + depth * (r_out - r_in), 0.0)


def photon_converts(
    abs_eta: np.ndarray, sim: dict, detector: dict, rng: np.random.Generator
) -> np.ndarray:
    """Photon conversions in the tracker: P = 1 - exp(-7/9 X_tracker) (PDG pair production)."""
    x_tracker = sim["longitudinal"]["tracker_fraction"] * upstream_material(abs_eta, detector)
    return rng.uniform(size=len(abs_eta)) < 1.0 - np.exp(-7.0 / 9.0 * x_tracker)


def conversion_type_fractions(radius: np.ndarray, abs_eta: np.ndarray, sim: dict) -> np.ndarray:
    """Probability (n, 5) that a true conversion at ``radius`` [mm] is reconstructed as each
    ATLAS convType 1..5 (CONVERSION_TYPES): config ``conversion_reconstruction``, linear in
    radius between its nodes, none beyond the last node; no TRT-only track beyond the TRT's
    |eta| < ``trt_eta_max``. The rest (1 - row sum) is reconstructed as unconverted."""
    table = sim["conversion_reconstruction"]
    nodes = np.asarray(table["radius_mm"], float)
    radius = np.asarray(radius, float)
    inside = radius <= nodes[-1]
    in_trt = np.asarray(abs_eta) < table["trt_eta_max"]
    fractions = np.zeros((len(radius), len(CONVERSION_TYPES)))
    for k, name in enumerate(CONVERSION_TYPES):
        value = np.interp(radius, nodes, np.asarray(table[name], float)) * inside
        fractions[:, k] = value if k + 1 not in TRT_TYPES else value * in_trt
    return fractions


def reconstruct_conversions(
    true_radius: np.ndarray,
    converted: np.ndarray,
    abs_eta: np.ndarray,
    uniform: np.ndarray,
    sim: dict,
) -> np.ndarray:
    """Reconstructed ATLAS convType (n,) of objects whose photon converted (``converted``) at
    ``true_radius`` [mm], from one uniform draw each (``uniform`` (n,) in [0, 1)).

    With ``effects.conversion_reconstruction`` on, a true conversion is reconstructed as type
    k with conversion_type_fractions's probability, else as unconverted (0). Off, every true
    conversion is reconstructed, with two tracks (double-Si) for a
    ``two_track_conversion_fraction`` of them, else one (single-Si)."""
    if not effect_on(sim, "conversion_reconstruction"):
        two_track = uniform < sim["two_track_conversion_fraction"]
        return np.where(converted, np.where(two_track, DOUBLE_SI, SINGLE_SI), 0)
    cumulative = np.cumsum(conversion_type_fractions(true_radius, abs_eta, sim), axis=1)
    # The type is the first k whose cumulative probability exceeds the draw; none: unconverted.
    k = (uniform[:, None] >= cumulative).sum(axis=1) + 1
    return np.where(converted & (k <= len(CONVERSION_TYPES)), k, 0)


def conversion_tracks(conv_type: np.ndarray) -> np.ndarray:
    """Number of tracks (n,) of the conversion vertex of each ATLAS convType (0: none)."""
    return np.asarray(CONVERSION_TYPE_TRACKS)[np.clip(conv_type, 0, len(CONVERSION_TYPES))]


def track_pt_resolution(pt: np.ndarray) -> np.ndarray:
    """Relative track pT resolution, 0.05 % pT (GeV) (+) 1 %: the ATLAS inner-detector design
    (JINST 3 (2008) S08003, table 1.1)."""
    return np.hypot(0.01, 0.0005 * pt)
