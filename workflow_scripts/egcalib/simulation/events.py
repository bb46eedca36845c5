"""Assemble simulated events into the ntuple contract (docs/design.md section 3) and write them.

A file is simulated in chunks of events so memory stays bounded; every chunk draws from its own
generator seeded by (simulation seed, dataset, file, chunk), so files are independent and the
same seed gives the same files byte for byte.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import awkward as ak
import numpy as np

from egcalib.contract import LAYERS, all_branches
from egcalib.rootio import write_tree
from egcalib.simulation.calorimeter import (CONVERTED, ELECTRON, UNCONVERTED, simulate_showers,
                                            upstream_material)
from egcalib.simulation.calibration import as_calibration
from egcalib.simulation.generator import ELECTRON_PDG, MUON_PDG, PHOTON_PDG, generate
from egcalib.simulation.reconstruction import reconstruct_clusters

MC_CHANNEL = {"zee": 361106, "zmumug": 301535, "egun": 423000}
CLUSTER_BRANCHES = ("cl_E0", "cl_E1", "cl_E2", "cl_E3", "cl_Eacc", "cl_eta", "cl_phi",
                    "cl_etaModCalo", "cl_phiModCalo", "cl_etaIndex")


def stream_seed(*parts) -> np.random.SeedSequence:
    """A seed sequence from any hashable description (stable across Python runs)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.SeedSequence(int.from_bytes(digest[:16], "little"))


def _wrap(phi):
    return (phi + np.pi) % (2 * np.pi) - np.pi


def sample_mu(n, detector, rng):
    """Average interactions per crossing from the detector's (run period's) mu profile."""
    lo, hi = detector["mu_range"]
    mu = detector["mu_mean"] + detector["mu_sigma"] * rng.standard_normal(n)
    return np.clip(mu, lo, hi)


def track_pt_resolution(pt):
    """Relative track pT resolution, 0.05 % pT (GeV) (+) 1 %: the ATLAS inner-detector design
    (JINST 3 (2008) S08003, table 1.1)."""
    return np.hypot(0.01, 0.0005 * pt)


def photon_converts(abs_eta, sim, detector, rng):
    """Photon conversions in the tracker: P = 1 - exp(-7/9 X_tracker) (PDG pair production)."""
    x_tracker = sim["longitudinal"]["tracker_fraction"] * upstream_material(abs_eta, detector)
    return rng.uniform(size=len(abs_eta)) < 1.0 - np.exp(-7.0 / 9.0 * x_tracker)


def simulate_objects(e, eta, phi, charge, shower_type, mu, sim, detector, rng, calibration=None):
    """Shower + cluster + (optionally) baseline energies for n objects at the vertex (eta, phi).

    Charged particles bend in the solenoid field (calorimeter.bremsstrahlung). Converted photons
    get 1 or 2 tracks (``two_track_conversion_fraction``) sharing the photon's pT: ``clusters``
    carries ``conversion_tracks`` (0 for other objects), ``conversion_radius`` [mm] and
    ``conversion_pt_ratio`` (the leading track's share; 1 for one track, 0 unconverted).
    With a calibration it also carries ``e`` (MVA) and ``e_binned`` [GeV].
    """
    showers = simulate_showers(e, eta, _wrap(phi), charge, shower_type, mu, sim, detector, rng)
    clusters = reconstruct_clusters(showers, sim["native_shapes"], sim["cluster_size"])
    converted = shower_type == CONVERTED
    two_track = rng.uniform(size=len(e)) < sim["two_track_conversion_fraction"]
    share = np.where(two_track, rng.uniform(0.5, 0.8, len(e)), 1.0)
    clusters["conversion_tracks"] = np.where(converted, np.where(two_track, 2, 1), 0)
    clusters["conversion_radius"] = showers.conversion_radius
    clusters["conversion_pt_ratio"] = np.where(converted, share, 0.0)
    calibration = as_calibration(calibration)
    if calibration is not None:
        clusters["e"], clusters["e_binned"] = calibration.apply(clusters, shower_type)
    return showers, clusters


def calibration_sample(n, shower_type, sim, detector, rng):
    """Single particles of one shower type, flat in |eta| and log ET, with the MC pile-up."""
    cal = sim["calibration"]
    et = np.exp(rng.uniform(*np.log(cal["et_range"]), n))
    eta = rng.uniform(-sim["generator"]["eta_max"], sim["generator"]["eta_max"], n)
    e = et * np.cosh(eta)
    charge = np.where(shower_type == ELECTRON, np.where(rng.uniform(size=n) < 0.5, 1, -1), 0)
    mu = sample_mu(n, detector, rng)
    types = np.full(n, shower_type)
    _, clusters = simulate_objects(e, eta, rng.uniform(-np.pi, np.pi, n), charge, types, mu,
                                   sim, detector, rng)
    return e, clusters


def _counts_to_jagged(values: dict, event, n_events, prefix):
    counts = np.bincount(event, minlength=n_events)
    return {f"{prefix}_{name}": ak.unflatten(np.asarray(v), counts) for name, v in values.items()}


def _windows_to_jagged(showers, event, n_events, prefix, selection):
    counts = np.bincount(event, minlength=n_events)
    out = {}
    for kind, source in (("cells", showers.cells), ("time", showers.times)):
        for layer in LAYERS:
            window = source[layer][selection]
            out[f"{prefix}_{kind}_{layer}"] = ak.unflatten(
                window.reshape(-1), counts * int(np.prod(window.shape[1:])))
    return out


def simulate_chunk(process, kind, n_events, first_event, run_number, sim, calibration, rng):
    """One chunk of events as a dict of branch arrays (numpy for event-level, awkward jagged)."""
    gen, is_mc = sim["generator"], kind == "mc"
    detector = sim["detectors"][kind]
    particles = generate(process, n_events, gen, rng)
    mu = sample_mu(n_events, detector, rng)
    n_vtx = 1 + rng.poisson(detector["vertices_per_mu"] * mu)
    pv_z = 35.0 * rng.standard_normal(n_events)

    # Electromagnetic candidates: electrons, FSR photons, and fakes from jets / pile-up.
    in_acceptance = np.abs(particles["eta"]) < gen["eta_max"]
    et = particles["e"] / np.cosh(particles["eta"])
    is_el = (particles["pdg"] == ELECTRON_PDG) & in_acceptance
    is_ph = (particles["pdg"] == PHOTON_PDG) & in_acceptance & (et > gen["photon_et_min"])
    n_fake = rng.binomial(1, gen["fake_probability"], n_events).astype(bool)
    fake_event = np.nonzero(n_fake)[0]
    fake_is_photon = process == "zmumug"
    fake_eta = rng.uniform(-gen["eta_max"], gen["eta_max"], len(fake_event))
    fake_et = gen["fake_et_min"] + rng.exponential(gen["fake_et_mean"], len(fake_event))

    cand = {
        "event": np.concatenate([particles["event"][is_el], particles["event"][is_ph], fake_event]),
        "e": np.concatenate([particles["e"][is_el], particles["e"][is_ph],
                             fake_et * np.cosh(fake_eta)]),
        "eta": np.concatenate([particles["eta"][is_el], particles["eta"][is_ph], fake_eta]),
        "phi": np.concatenate([particles["phi"][is_el], particles["phi"][is_ph],
                               rng.uniform(-np.pi, np.pi, len(fake_event))]),
        "charge": np.concatenate([particles["charge"][is_el], np.zeros(is_ph.sum(), int),
                                  np.zeros(len(fake_event), int) if fake_is_photon
                                  else np.where(rng.uniform(size=len(fake_event)) < .5, 1, -1)]),
        "photon": np.concatenate([np.zeros(is_el.sum(), bool), np.ones(is_ph.sum(), bool),
                                  np.full(len(fake_event), fake_is_photon)]),
        "fake": np.concatenate([np.zeros(is_el.sum() + is_ph.sum(), bool),
                                np.ones(len(fake_event), bool)]),
    }
    order = np.argsort(cand["event"], kind="stable")
    cand = {k: v[order] for k, v in cand.items()}
    n_cand = len(cand["e"])
    abs_eta = np.abs(cand["eta"])
    converts = cand["photon"] & photon_converts(abs_eta, sim, detector, rng)
    shower_type = np.where(~cand["photon"], ELECTRON, np.where(converts, CONVERTED, UNCONVERTED))
    cand_mu = mu[cand["event"]]
    showers, clusters = simulate_objects(cand["e"], cand["eta"], cand["phi"], cand["charge"],
                                         shower_type, cand_mu, sim, detector, rng, calibration)
    conv = clusters.pop("conversion_tracks")
    e_base = clusters["e"]
    eta_reco = cand["eta"] + 0.0005 * rng.standard_normal(n_cand)
    phi_reco = _wrap(cand["phi"] + 0.0005 * rng.standard_normal(n_cand))
    loose_eff = np.where(cand["fake"], gen["fake_loose_efficiency"], gen["loose_efficiency"])
    tight_eff = np.where(cand["fake"], gen["fake_tight_efficiency"], gen["tight_efficiency"])
    u_id = rng.uniform(size=n_cand)
    object_vars = {
        "pt": e_base / np.cosh(eta_reco), "eta": eta_reco, "phi": phi_reco, "e": e_base,
        "isLoose": u_id < loose_eff, "isTight": u_id < loose_eff * tight_eff,
        **{k: v for k, v in clusters.items() if k in CLUSTER_BRANCHES},
        "binned_e": clusters["e_binned"],
        "Ecrack": showers.e_crack, "Etilegap": showers.e_tilegap,
    }

    # Tracks: electron tracks (momentum reduced by bremsstrahlung), conversion tracks, muons and
    # in-time charged pile-up near every candidate.
    el_sel = ~cand["photon"]
    # The track momentum is measured from the curvature in the silicon, after the brem there;
    # the GSF fit's momentum loss from perigee to the last measurement is trk_dpp.
    y_brem = 1.0 - showers.brem_fraction
    pt_true = cand["e"] / np.cosh(cand["eta"])
    trk_el_pt = pt_true * showers.kept_in_silicon * (
        1 + track_pt_resolution(pt_true) * rng.standard_normal(n_cand))
    muons = particles["pdg"] == MUON_PDG
    mu_pt_true = particles["e"][muons] / np.cosh(particles["eta"][muons])
    mu_reco_pt = mu_pt_true * (1 + 0.02 * rng.standard_normal(muons.sum()))
    conv_sel = cand["photon"] & (conv > 0)
    conv_two = conv[conv_sel] == 2
    conv_split = clusters["conversion_pt_ratio"][conv_sel]
    pu = showers.pileup
    pu_obj, pu_slot = np.nonzero(pu["mask"])
    tracks = {
        "event": np.concatenate([cand["event"][el_sel], particles["event"][muons],
                                 cand["event"][conv_sel], cand["event"][conv_sel][conv_two],
                                 cand["event"][pu_obj]]),
        "pt": np.concatenate([trk_el_pt[el_sel], mu_reco_pt,
                              cand["e"][conv_sel] / np.cosh(cand["eta"][conv_sel]) * conv_split,
                              (cand["e"][conv_sel] / np.cosh(cand["eta"][conv_sel])
                               * (1 - conv_split))[conv_two],
                              pu["pt"][pu_obj, pu_slot]]),
        "eta": np.concatenate([cand["eta"][el_sel], particles["eta"][muons],
                               cand["eta"][conv_sel], cand["eta"][conv_sel][conv_two],
                               pu["eta"][pu_obj, pu_slot]]),
        "phi": np.concatenate([cand["phi"][el_sel], particles["phi"][muons],
                               cand["phi"][conv_sel], cand["phi"][conv_sel][conv_two],
                               _wrap(pu["phi"][pu_obj, pu_slot])]),
        "charge": np.concatenate([cand["charge"][el_sel], particles["charge"][muons],
                                  np.ones(conv_sel.sum(), int), -np.ones(conv_two.sum(), int),
                                  pu["charge"][pu_obj, pu_slot]]),
    }
    n_signal_trk = el_sel.sum() + muons.sum() + conv_sel.sum() + conv_two.sum()
    n_trk = len(tracks["pt"])
    from_pileup = np.arange(n_trk) >= n_signal_trk
    from_conversion = (np.arange(n_trk) >= el_sel.sum() + muons.sum()) & ~from_pileup
    vertex = np.where(from_pileup, rng.integers(1, np.maximum(n_vtx[tracks["event"]], 2)), 0)
    d0_sigma = 0.01 + 0.05 / np.maximum(tracks["pt"], 0.5)
    d0 = d0_sigma * rng.standard_normal(n_trk) + np.where(from_conversion, 2.0 * rng.standard_normal(n_trk), 0.0)
    z0 = np.where(from_pileup, 45.0 * rng.standard_normal(n_trk), 0.0) + 0.1 * rng.standard_normal(n_trk)
    central = np.abs(tracks["eta"]) < 2.0
    track_vars = {
        "pt": tracks["pt"], "eta": tracks["eta"], "phi": tracks["phi"], "charge": tracks["charge"],
        "d0": d0, "d0sig": d0 / d0_sigma, "z0": z0 + pv_z[tracks["event"]] * (~from_pileup),
        "vertex": vertex,
        "nPixHits": np.where(from_conversion, 0, rng.integers(3, 6, n_trk)),
        "nSCTHits": rng.integers(6, 10, n_trk),
        "nTRTHits": np.where(central, rng.integers(20, 40, n_trk), 0),
    }
    torder = np.argsort(tracks["event"], kind="stable")
    track_vars = {k: np.asarray(v)[torder] for k, v in track_vars.items()}
    track_event = tracks["event"][torder]

    # Electron track-match quantities: the cluster-energy-rescaled track extrapolated to the
    # calorimeter, compared with the cluster.
    el_track = {
        "trk_pt": trk_el_pt,
        "trk_deta": cand["eta"] + 0.001 * rng.standard_normal(n_cand) - clusters["cl_eta"],
        "trk_dphiRescaled": _wrap(cand["phi"] - cand["charge"] * sim["lateral"]["track_bend"]
                                  / np.maximum(e_base / np.cosh(cand["eta"]), 1.0)
                                  - clusters["cl_phi"]),
        "trk_dpp": 1.0 - y_brem / showers.kept_in_silicon + 0.02 * rng.standard_normal(n_cand),
        "ntracks": 1 + (pu["mask"] & (np.hypot(pu["eta"] - cand["eta"][:, None],
                                               pu["phi"] - cand["phi"][:, None]) < 0.05)).sum(axis=1),
    }

    # Truth record: dressed generator energy; a fraction is matched to the wrong particle.
    mismatch = rng.uniform(size=n_cand) < gen["truth_mismatch_fraction"]
    factor = np.exp(rng.uniform(np.log(0.25), np.log(4.0), n_cand))
    truth = {
        "truth_e": np.where(cand["fake"], 0.0, cand["e"] * np.where(mismatch, factor, 1.0)),
        "truth_pt": np.where(cand["fake"], 0.0, cand["e"] / np.cosh(cand["eta"])),
        "truth_eta": cand["eta"], "truth_phi": cand["phi"],
        "truth_pdgId": np.where(cand["fake"], 0, np.where(cand["photon"], PHOTON_PDG,
                                                          -ELECTRON_PDG * cand["charge"])),
        "truth_matched": ~cand["fake"],
        "gen_e": cand["e"],
    }

    branches = {
        "runNumber": np.full(n_events, run_number), "eventNumber": first_event + np.arange(n_events),
        "mcChannelNumber": np.full(n_events, MC_CHANNEL[process] if is_mc else 0),
        "averageInteractionsPerCrossing": mu, "NvtxReco": n_vtx,
        "mcEventWeight": np.ones(n_events),
    }
    ev = cand["event"]
    for prefix, sel in (("el", ~cand["photon"]), ("ph", cand["photon"])):
        values = {k: v[sel] for k, v in object_vars.items()}
        if prefix == "el":
            values["charge"] = cand["charge"][sel]
            values.update({k: v[sel] for k, v in el_track.items()})
        else:
            values["convType"] = conv[sel]
            values["convRadius"] = clusters["conversion_radius"][sel]
            values["convPtRatio"] = clusters["conversion_pt_ratio"][sel]
        if is_mc:
            values.update({k: v[sel] for k, v in truth.items()})
        branches.update(_counts_to_jagged(values, ev[sel], n_events, prefix))
        branches.update(_windows_to_jagged(showers, ev[sel], n_events, prefix, sel))
    mu_values = {"pt": mu_reco_pt, "eta": particles["eta"][muons], "phi": particles["phi"][muons],
                 "charge": particles["charge"][muons],
                 "isMedium": rng.uniform(size=muons.sum()) < gen["muon_medium_efficiency"]}
    mu_accept = np.abs(mu_values["eta"]) < 2.5
    branches.update(_counts_to_jagged({k: v[mu_accept] for k, v in mu_values.items()},
                                      particles["event"][muons][mu_accept], n_events, "mu"))
    branches.update(_counts_to_jagged(track_vars, track_event, n_events, "trk"))

    # Triggers: a dielectron (2e17) or single-electron (e26) trigger, and the muon analogues.
    el_et = ak.to_numpy(ak.fill_none(ak.max(branches["el_pt"], axis=1), 0.0))
    n_el17 = ak.to_numpy(ak.sum(branches["el_pt"] > 17.0, axis=1))
    n_mu14 = ak.to_numpy(ak.sum(branches["mu_pt"] > 14.0, axis=1))
    mu_max = ak.to_numpy(ak.fill_none(ak.max(branches["mu_pt"], axis=1), 0.0))
    efficiency = rng.uniform(size=(n_events, 2)) < gen["trigger_efficiency"]
    branches["trigPassed_e"] = ((n_el17 >= 2) | (el_et > 26.0)) & efficiency[:, 0]
    branches["trigPassed_mu"] = ((n_mu14 >= 2) | (mu_max > 26.0)) & efficiency[:, 1]
    return branches


# Branches the simulator writes beyond the contract: the binned reference calibration, the
# photon conversion variables of the MVA calibration and, in MC, the always-correct generator
# energy (the contract's truth_e is deliberately mismatched for a fraction of objects).
EXTRA_BRANCHES = {"el_binned_e": "float32", "ph_binned_e": "float32",
                  "ph_convRadius": "float32", "ph_convPtRatio": "float32"}
MC_EXTRA_BRANCHES = {"el_gen_e": "float32", "ph_gen_e": "float32"}


def branch_dtypes(is_mc: bool) -> dict[str, str]:
    """Every branch a simulated file of this kind holds, with its dtype."""
    return {**all_branches(is_mc), **EXTRA_BRANCHES, **(MC_EXTRA_BRANCHES if is_mc else {})}


# Events per random stream, simulated (and held in memory) at once. Fixed: the events of a file
# must not depend on how much memory a job has, so this is no config knob.
BLOCK_EVENTS = 2000


def simulate_file(path: str | Path, dataset: str, process: str, kind: str, file_index: int,
                  n_events: int, sim: dict, calibration: dict, tree: str = "egamma") -> None:
    """Simulate ``n_events`` events of one dataset file and write them atomically to ``path``,
    in blocks of BLOCK_EVENTS, each with its own random stream (seed, dataset, file, block)."""
    chunk = BLOCK_EVENTS
    run_number = sim["run_number"][kind]
    calibration = as_calibration(calibration)
    first = file_index * sim["max_events_per_file"] + 1

    def chunks():
        for start in range(0, max(n_events, 1), chunk):
            rng = np.random.default_rng(stream_seed(sim["seed"], dataset, file_index, start))
            size = min(chunk, n_events - start)
            yield simulate_chunk(process, kind, size, first + start, run_number, sim,
                                 calibration, rng)

    write_tree(path, tree, chunks(), branch_dtypes(kind == "mc"))
