"""Reconstructed tracks of a chunk of events: electron tracks (their momentum reduced by
bremsstrahlung), conversion tracks, muons and in-time charged pile-up near every candidate, with
their impact parameters, vertices and hits; and the electrons' track-cluster match.

Transverse momenta in GeV, angles in radians, impact parameters in mm. ``cand`` is the chunk's
table of electromagnetic candidates (n_cand,) sorted by event (events._candidates), ``particles``
the generator's flat particle table (generator.generate).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from egcalib.core.kinematics import wrap_phi
from egcalib.simulation.detector import endcap_geometry
from egcalib.simulation.generator import MUON_PDG
from egcalib.simulation.inner_detector import (
    DOUBLE_SI_TRT,
    DOUBLE_TRT,
    SINGLE_TRT,
    track_pt_resolution,
)

if TYPE_CHECKING:
    from egcalib.simulation.calorimeter import Showers


def electron_track_pt(cand: dict, showers: Showers, rng: np.random.Generator) -> np.ndarray:
    """Track pT [GeV] (n_cand,) of every candidate (used for the electrons): the track momentum
    is measured from the curvature in the silicon, after the brem there, with the inner
    detector's resolution."""
    n_cand = len(cand["e"])
    pt_true = cand["e"] / np.cosh(cand["eta"])
    return (
        pt_true
        * showers.kept_in_silicon
        * (1 + track_pt_resolution(pt_true) * rng.standard_normal(n_cand))
    )


def muon_pt(particles: dict, rng: np.random.Generator) -> np.ndarray:
    """Reconstructed pT [GeV] (n_muons,) of the generator's muons, 2 % resolution."""
    muons = particles["pdg"] == MUON_PDG
    mu_pt_true = particles["e"][muons] / np.cosh(particles["eta"][muons])
    return mu_pt_true * (1 + 0.02 * rng.standard_normal(muons.sum()))


def _track_table(cand, particles, showers, clusters, trk_el_pt, mu_reco_pt):
    """The chunk's tracks as flat arrays (n_trk,) of event, pt [GeV], eta, phi [rad], charge and
    ``trt_only`` (conversion tracks without silicon hits, from the reconstructed convType), in
    blocks: electrons, muons, reconstructed conversion tracks (leading, then second), pile-up.
    Returns ``(tracks, from_pileup, from_conversion)``, the last two boolean (n_trk,). No
    random numbers."""
    el_sel = ~cand["photon"]
    muons = particles["pdg"] == MUON_PDG
    conv = clusters["conversion_tracks"]
    conv_sel = cand["photon"] & (conv > 0)
    conv_two = conv[conv_sel] == 2
    # TRT-only conversion tracks: both of a TRT conversion, the second of a Si-TRT one.
    conv_type = clusters["conversion_type"][conv_sel]
    trt_leading = np.isin(conv_type, (SINGLE_TRT, DOUBLE_TRT))
    trt_second = np.isin(conv_type[conv_two], (DOUBLE_TRT, DOUBLE_SI_TRT))
    conv_split = clusters["conversion_pt_ratio"][conv_sel]
    pu = showers.pileup
    pu_obj, pu_slot = np.nonzero(pu["mask"])
    tracks = {
        "event": np.concatenate(
            [
                cand["event"][el_sel],
                particles["event"][muons],
                cand["event"][conv_sel],
                cand["event"][conv_sel][conv_two],
                cand["event"][pu_obj],
            ]
        ),
        "pt": np.concatenate(
            [
                trk_el_pt[el_sel],
                mu_reco_pt,
                cand["e"][conv_sel] / np.cosh(cand["eta"][conv_sel]) * conv_split,
                (cand["e"][conv_sel] / np.cosh(cand["eta"][conv_sel]) * (1 - conv_split))[conv_two],
                pu["pt"][pu_obj, pu_slot],
            ]
        ),
        "eta": np.concatenate(
            [
                cand["eta"][el_sel],
                particles["eta"][muons],
                cand["eta"][conv_sel],
                cand["eta"][conv_sel][conv_two],
                pu["eta"][pu_obj, pu_slot],
            ]
        ),
        "phi": np.concatenate(
            [
                cand["phi"][el_sel],
                particles["phi"][muons],
                cand["phi"][conv_sel],
                cand["phi"][conv_sel][conv_two],
                wrap_phi(pu["phi"][pu_obj, pu_slot]),
            ]
        ),
        "charge": np.concatenate(
            [
                cand["charge"][el_sel],
                particles["charge"][muons],
                np.ones(conv_sel.sum(), int),
                -np.ones(conv_two.sum(), int),
                pu["charge"][pu_obj, pu_slot],
            ]
        ),
        "trt_only": np.concatenate(
            [
                np.zeros(el_sel.sum() + muons.sum(), bool),
                trt_leading,
                trt_second,
                np.zeros(len(pu_obj), bool),
            ]
        ),
    }
    n_signal_trk = el_sel.sum() + muons.sum() + conv_sel.sum() + conv_two.sum()
    n_trk = len(tracks["pt"])
    from_pileup = np.arange(n_trk) >= n_signal_trk
    from_conversion = (np.arange(n_trk) >= el_sel.sum() + muons.sum()) & ~from_pileup
    return tracks, from_pileup, from_conversion


def _measure_tracks(tracks, from_pileup, from_conversion, n_vtx, pv_z, rng):
    """Track branches (names without the trk_ prefix) and their events, sorted by event: vertex
    index (0: primary), d0 [mm] and its significance, z0 [mm] (pile-up tracks spread around
    their own vertices) and the pixel, SCT and TRT hit counts. ``n_vtx`` and ``pv_z`` [mm] are
    per event (n_events,)."""
    n_trk = len(tracks["pt"])
    vertex = np.where(from_pileup, rng.integers(1, np.maximum(n_vtx[tracks["event"]], 2)), 0)
    d0_sigma = 0.01 + 0.05 / np.maximum(tracks["pt"], 0.5)
    d0 = d0_sigma * rng.standard_normal(n_trk) + np.where(
        from_conversion, 2.0 * rng.standard_normal(n_trk), 0.0
    )
    z0 = np.where(from_pileup, 45.0 * rng.standard_normal(n_trk), 0.0) + 0.1 * rng.standard_normal(
        n_trk
    )
    central = np.abs(tracks["eta"]) < 2.0
    track_vars = {
        "pt": tracks["pt"],
        "eta": tracks["eta"],
        "phi": tracks["phi"],
        "charge": tracks["charge"],
        "d0": d0,
        "d0sig": d0 / d0_sigma,
        "z0": z0 + pv_z[tracks["event"]] * (~from_pileup),
        "vertex": vertex,
        "nPixHits": np.where(from_conversion, 0, rng.integers(3, 6, n_trk)),
        "nSCTHits": np.where(tracks["trt_only"], 0, rng.integers(6, 10, n_trk)),
        "nTRTHits": np.where(central, rng.integers(20, 40, n_trk), 0),
    }
    torder = np.argsort(tracks["event"], kind="stable")
    track_vars = {k: np.asarray(v)[torder] for k, v in track_vars.items()}
    return track_vars, tracks["event"][torder]


def reconstruct_tracks(
    cand: dict,
    particles: dict,
    showers: Showers,
    clusters: dict,
    event: dict,
    rng: np.random.Generator,
) -> dict:
    """All tracks of the chunk. Returns a dict: ``electron_pt`` (n_cand,) and ``muon_pt``
    (n_muons,) [GeV] (electron_track_pt, muon_pt), ``branches`` (the track branches, flat,
    sorted by event) and ``event`` (their event index). ``event`` holds the per-event ``n_vtx``
    and ``pv_z`` [mm]."""
    trk_el_pt = electron_track_pt(cand, showers, rng)
    mu_reco_pt = muon_pt(particles, rng)
    tracks, from_pileup, from_conversion = _track_table(
        cand, particles, showers, clusters, trk_el_pt, mu_reco_pt
    )
    track_vars, track_event = _measure_tracks(
        tracks, from_pileup, from_conversion, event["n_vtx"], event["pv_z"], rng
    )
    return {
        "electron_pt": trk_el_pt,
        "muon_pt": mu_reco_pt,
        "branches": track_vars,
        "event": track_event,
    }


def track_match(
    cand: dict,
    showers: Showers,
    clusters: dict,
    trk_el_pt: np.ndarray,
    sim: dict,
    rng: np.random.Generator,
) -> dict:
    """Electron track-match quantities (n_cand,): the cluster-energy-rescaled track extrapolated
    to the calorimeter, compared with the cluster (trk_deta, trk_dphiRescaled [rad]); the GSF
    fit's momentum loss from perigee to the last measurement (trk_dpp); the number of tracks
    within Delta-R 0.05 (the electron's own and in-time pile-up)."""
    n_cand = len(cand["e"])
    e_base = clusters["e"]
    y_brem = 1.0 - showers.brem_fraction
    pu = showers.pileup
    return {
        "trk_pt": trk_el_pt,
        "trk_deta": cand["eta"] + 0.001 * rng.standard_normal(n_cand) - clusters["cl_eta"],
        "trk_dphiRescaled": wrap_phi(
            cand["phi"]
            - cand["charge"]
            * sim["lateral"]["track_bend"]
            * endcap_geometry(np.abs(cand["eta"]), sim)[1]
            / np.maximum(e_base / np.cosh(cand["eta"]), 1.0)
            - clusters["cl_phi"]
        ),
        "trk_dpp": 1.0 - y_brem / showers.kept_in_silicon + 0.02 * rng.standard_normal(n_cand),
        "ntracks": 1
        + (
            pu["mask"]
            & (np.hypot(pu["eta"] - cand["eta"][:, None], pu["phi"] - cand["phi"][:, None]) < 0.05)
        ).sum(axis=1),
    }
