"""Simulate events into the ntuple contract (docs/design.md#input-ntuple-contract) and write them.

A file is simulated in chunks of events so memory stays bounded; every chunk draws from its own
generator seeded by (simulation seed, dataset, file, chunk), so files are independent and the
same seed gives the same files byte for byte.

A chunk is simulated in steps (simulate_chunk): generate the hard process, the pile-up and the
electromagnetic candidates; shower them in the calorimeter; reconstruct their clusters;
calibrate them with the baseline; reconstruct the candidates, tracks and truth record; assemble
the branches. The steps draw from the chunk's generator in turn: their order, and the order of
the draws within each, fixes the events.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from egcalib.core.contract import PROCESS_PARTICLE
from egcalib.core.kinematics import wrap_phi
from egcalib.core.root_writing import write_tree
from egcalib.simulation.baseline_calibration import BaselineCalibration, as_calibration
from egcalib.simulation.calorimeter import Showers, simulate_showers
from egcalib.simulation.detector import CONVERTED, ELECTRON, UNCONVERTED
from egcalib.simulation.generator import ELECTRON_PDG, PHOTON_PDG, generate
from egcalib.simulation.hadronic import hadronic_energies
from egcalib.simulation.inner_detector import photon_converts
from egcalib.simulation.jets import candidate_sources, generate_jets, jet_candidates
from egcalib.simulation.ntuple import assemble_branches, branch_dtypes
from egcalib.simulation.objects import calibrate_objects, cluster_objects
from egcalib.simulation.pileup import sample_mu
from egcalib.simulation.reconstruction import reconstruct_candidates, truth_record
from egcalib.simulation.tracks import reconstruct_tracks, track_match


def stream_seed(*parts: object) -> np.random.SeedSequence:
    """A seed sequence from any hashable description (stable across Python runs)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return np.random.SeedSequence(int.from_bytes(digest[:16], "little"))


def _generate(process, n_events, sim, detector, rng) -> tuple[dict, dict, dict]:
    """Generate: the hard process's final-state particles (generator.generate: flat arrays with
    their event index; for jets their leading mesons), the event-level pile-up, arrays
    (n_events,) ``mu`` (interactions per crossing), ``n_vtx`` (reconstructed vertices) and
    ``pv_z`` (primary vertex z [mm]), and the electromagnetic candidates (_candidates; for jets
    jets.jet_candidates). Returns ``(particles, event, cand)``."""
    gen = sim["generator"]
    if process == "jets":
        jets = generate_jets(n_events, gen, sim["jets"], rng)
        particles = {
            "event": jets["event"],
            "pdg": jets["meson_pdg"],
            "charge": np.zeros(n_events, int),
            "e": jets["meson_e"],
            "eta": jets["eta"],
            "phi": jets["phi"],
        }
    else:
        particles = generate(process, n_events, gen, rng)
    mu = sample_mu(n_events, detector, rng)
    n_vtx = 1 + rng.poisson(detector["vertices_per_mu"] * mu)
    pv_z = 35.0 * rng.standard_normal(n_events)
    event = {"mu": mu, "n_vtx": n_vtx, "pv_z": pv_z}
    if process == "jets":
        return particles, event, jet_candidates(jets, sim, rng)
    return particles, event, _candidates(particles, process, n_events, gen, rng)


# MCTruthClassifier's ParticleOrigin (athena) of the candidates of each process's particles:
# electrons from the Z (ZBoson 13) or the gun (SingleElec 1), photons from FSR (FSRPhot 40) or
# the gun (SinglePhot 3); the jets' photons are jets.ORIGIN_*; fakes NonDefined (0).
_ORIGIN = {"zee": (13, 40), "zmumug": (13, 40), "egun": (1, 3), "pgun": (1, 3)}


def _candidates(particles, process, n_events, gen, rng) -> dict[str, np.ndarray]:
    """Electromagnetic candidates: electrons and photons in the acceptance, and fakes from
    jets / pile-up (photons in the photon samples, Z -> mumugamma and the photon gun; electrons
    otherwise). Flat arrays (n_cand,) sorted by event: event, e [GeV], eta, phi [rad], charge,
    photon, fake, origin (the MCTruthClassifier origin: _ORIGIN), and the jets' meson_pdg,
    meson_z and opening_angle, 0 here."""
    in_acceptance = np.abs(particles["eta"]) < gen["eta_max"]
    et = particles["e"] / np.cosh(particles["eta"])
    is_el = (particles["pdg"] == ELECTRON_PDG) & in_acceptance
    is_ph = (particles["pdg"] == PHOTON_PDG) & in_acceptance & (et > gen["photon_et_min"])
    n_fake = rng.binomial(1, gen["fake_probability"], n_events).astype(bool)
    fake_event = np.nonzero(n_fake)[0]
    fake_is_photon = PROCESS_PARTICLE[process] == "photon"
    fake_eta = rng.uniform(-gen["eta_max"], gen["eta_max"], len(fake_event))
    fake_et = gen["fake_et_min"] + rng.exponential(gen["fake_et_mean"], len(fake_event))

    cand = {
        "event": np.concatenate([particles["event"][is_el], particles["event"][is_ph], fake_event]),
        "e": np.concatenate(
            [particles["e"][is_el], particles["e"][is_ph], fake_et * np.cosh(fake_eta)]
        ),
        "eta": np.concatenate([particles["eta"][is_el], particles["eta"][is_ph], fake_eta]),
        "phi": np.concatenate(
            [
                particles["phi"][is_el],
                particles["phi"][is_ph],
                rng.uniform(-np.pi, np.pi, len(fake_event)),
            ]
        ),
        "charge": np.concatenate(
            [
                particles["charge"][is_el],
                np.zeros(is_ph.sum(), int),
                np.zeros(len(fake_event), int)
                if fake_is_photon
                else np.where(rng.uniform(size=len(fake_event)) < 0.5, 1, -1),
            ]
        ),
        "photon": np.concatenate(
            [
                np.zeros(is_el.sum(), bool),
                np.ones(is_ph.sum(), bool),
                np.full(len(fake_event), fake_is_photon),
            ]
        ),
        "fake": np.concatenate(
            [np.zeros(is_el.sum() + is_ph.sum(), bool), np.ones(len(fake_event), bool)]
        ),
    }
    el_origin, ph_origin = _ORIGIN[process]
    cand["origin"] = np.concatenate(
        [
            np.full(is_el.sum(), el_origin),
            np.full(is_ph.sum(), ph_origin),
            np.zeros(len(fake_event)),
        ]
    ).astype(np.int64)
    for name in ("meson_pdg", "meson_z", "opening_angle"):
        cand[name] = np.zeros(len(cand["event"]), int if name == "meson_pdg" else float)
    order = np.argsort(cand["event"], kind="stable")
    return {k: v[order] for k, v in cand.items()}


def _shower(cand, mu, sim, detector, rng) -> tuple[Showers, np.ndarray]:
    """Shower: photon conversions in the tracker, then the calorimeter response to the n_cand
    candidates at their events' pile-up ``mu`` (n_events,). Returns the Showers (cell windows
    (n_cand, n_eta, n_phi) per layer [GeV]) and the shower types (n_cand,)."""
    abs_eta = np.abs(cand["eta"])
    converts = cand["photon"] & photon_converts(abs_eta, sim, detector, rng)
    shower_type = np.where(~cand["photon"], ELECTRON, np.where(converts, CONVERTED, UNCONVERTED))
    cand_mu = mu[cand["event"]]
    showers = simulate_showers(
        cand["e"],
        cand["eta"],
        wrap_phi(cand["phi"]),
        cand["charge"],
        shower_type,
        cand_mu,
        sim,
        detector,
        rng,
        candidate_sources(cand, sim),
    )
    return showers, shower_type


def _reconstruct(cand, particles, event, showers, clusters, sim, rng) -> dict[str, dict]:
    """Reconstruct, from the calibrated clusters: the candidates' reconstructed quantities and
    identification, every track, the electrons' track match and the truth record. Returns
    {"objects", "el_track", "truth"}: dicts of (n_cand,) arrays, and "tracks":
    tracks.reconstruct_tracks's dict."""
    objects = reconstruct_candidates(cand, showers, clusters, sim["generator"], rng)
    tracks = reconstruct_tracks(cand, particles, showers, clusters, event, rng)
    el_track = track_match(cand, showers, clusters, tracks["electron_pt"], sim, rng)
    truth = truth_record(cand, sim["generator"], rng)
    # The hadronic energies draw from a stream of their own (spawning draws nothing from
    # ``rng``), so the branches the other processes had before them keep their values.
    zeros = np.zeros(len(cand["e"]))
    objects.update(
        hadronic_energies(
            showers.e_leak,
            cand.get("hadrons_had1", zeros),
            cand.get("hadrons_had", zeros),
            sim,
            rng.spawn(1)[0],
        )
    )
    return {"objects": objects, "tracks": tracks, "el_track": el_track, "truth": truth}


def simulate_chunk(
    process: str,
    kind: str,
    n_events: int,
    first_event: int,
    run_number: int,
    sim: dict,
    calibration: dict | BaselineCalibration | None,
    rng: np.random.Generator,
) -> dict:
    """One chunk of events as a dict of branch arrays (numpy for event-level, awkward jagged).

    Steps: generate (particles, pile-up, candidates), shower, reconstruct the clusters, calibrate
    them (baseline), reconstruct candidates, tracks and truth, assemble the branches. They draw
    from ``rng`` in this order, which must not change (module docstring)."""
    gen, detector = sim["generator"], sim["detectors"][kind]
    particles, event, cand = _generate(process, n_events, sim, detector, rng)
    showers, shower_type = _shower(cand, event["mu"], sim, detector, rng)
    clusters = cluster_objects(showers, shower_type, sim, rng)
    calibrate_objects(clusters, shower_type, calibration)
    reco = _reconstruct(cand, particles, event, showers, clusters, sim, rng)
    return assemble_branches(
        process=process,
        is_mc=kind == "mc",
        n_events=n_events,
        first_event=first_event,
        run_number=run_number,
        event=event,
        particles=particles,
        cand=cand,
        showers=showers,
        clusters=clusters,
        reco=reco,
        gen=gen,
        rng=rng,
    )


# Events per random stream, simulated (and held in memory) at once. Fixed: the events of a file
# must not depend on how much memory a job has, so this is no config knob.
BLOCK_EVENTS = 2000


def simulate_file(
    path: str | Path,
    dataset: str,
    process: str,
    kind: str,
    file_index: int,
    n_events: int,
    sim: dict,
    calibration: dict,
    tree: str = "egamma",
) -> None:
    """Simulate ``n_events`` events of one dataset file and write them atomically to ``path``,
    in blocks of BLOCK_EVENTS, each with its own random stream (seed, dataset, file, block)."""
    chunk = BLOCK_EVENTS
    run_number = sim["run_number"][kind]
    baseline = as_calibration(calibration)
    first = file_index * sim["max_events_per_file"] + 1

    def chunks():
        for start in range(0, max(n_events, 1), chunk):
            rng = np.random.default_rng(stream_seed(sim["seed"], dataset, file_index, start))
            size = min(chunk, n_events - start)
            yield simulate_chunk(process, kind, size, first + start, run_number, sim, baseline, rng)

    write_tree(path, tree, chunks(), branch_dtypes(kind == "mc"))
