"""The simulated ntuple's branches: per-object arrays of a chunk of events assembled into the
contract's event-level and jagged branches (docs/design.md#input-ntuple-contract), the muon
identification and the triggers, and the dtype of every branch a simulated file holds.

Event-level branches are numpy arrays (n_events,); per-object branches awkward arrays jagged per
event. Energies and momenta in GeV, angles in radians.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from egcalib.core.contract import LAYERS, all_branches
from egcalib.simulation.generator import MUON_PDG

if TYPE_CHECKING:
    from egcalib.simulation.calorimeter import Showers

# ATLAS's dataset numbers: Z -> ee, Z -> mumugamma, the single-electron and single-photon
# particle guns of the e/gamma calibration (ParticleGun_single_{electron,photon}_egammaET) and
# the first of its Pythia 8 dijet slices (jetjet_JZ0W) for the jets.
MC_CHANNEL = {"zee": 361106, "zmumug": 301535, "egun": 423000, "pgun": 423001, "jets": 364700}

# Branches the simulator writes beyond the contract: the binned reference calibration, the
# reconstructed photon conversion variables of the MVA calibration (0 without a reconstructed
# conversion) and, in MC, the always-correct generator energy (the contract's truth_e is
# deliberately mismatched for a fraction of objects) and the true conversion radius (0 for a
# photon that did not convert in the tracker, whatever its reconstructed convType). The
# hadronic energies behind each cluster, E_had1 and E_had (the contract's optional fields), and
# in MC the truth origin (MCTruthClassifier's ParticleOrigin) and, for the jets' photon
# candidates, the leading meson's pdgId, energy fraction z and the opening angle of its two
# photons [rad] (0 for other candidates).
EXTRA_BRANCHES = {
    "el_binned_e": "float32",
    "ph_binned_e": "float32",
    "ph_convRadius": "float32",
    "ph_convPtRatio": "float32",
    "el_Ehad1": "float32",
    "el_Ehad": "float32",
    "ph_Ehad1": "float32",
    "ph_Ehad": "float32",
}
MC_EXTRA_BRANCHES = {
    "el_gen_e": "float32",
    "ph_gen_e": "float32",
    "ph_truth_convRadius": "float32",
    "el_truth_origin": "int32",
    "ph_truth_origin": "int32",
    "ph_truth_mesonPdgId": "int32",
    "ph_truth_mesonZ": "float32",
    "ph_truth_openingAngle": "float32",
}


def branch_dtypes(is_mc: bool) -> dict[str, str]:
    """Every branch a simulated file of this kind holds, with its dtype."""
    return {**all_branches(is_mc), **EXTRA_BRANCHES, **(MC_EXTRA_BRANCHES if is_mc else {})}


def counts_to_jagged(
    values: dict, event: np.ndarray, n_events: int, prefix: str
) -> dict[str, ak.Array]:
    """``{prefix}_{name}`` branches jagged per event from flat arrays (n,) sorted by ``event``
    (n,), the event index of each entry."""
    counts = np.bincount(event, minlength=n_events)
    return {f"{prefix}_{name}": ak.unflatten(np.asarray(v), counts) for name, v in values.items()}


def windows_to_jagged(
    showers: Showers, event: np.ndarray, n_events: int, prefix: str, selection: np.ndarray
) -> dict[str, ak.Array]:
    """The cell and time windows of the objects in ``selection`` (boolean (n,)), each
    (n_sel, n_eta, n_phi) per layer, flattened per event: ``{prefix}_{cells,time}_{layer}``."""
    counts = np.bincount(event, minlength=n_events)
    out = {}
    for kind, source in (("cells", showers.cells), ("time", showers.times)):
        for layer in LAYERS:
            window = source[layer][selection]
            out[f"{prefix}_{kind}_{layer}"] = ak.unflatten(
                window.reshape(-1), counts * int(np.prod(window.shape[1:]))
            )
    return out


def _egamma_branches(cand, showers, clusters, reco, n_events, is_mc):
    """The el_ and ph_ branches of the candidates (electrons: not photons): reconstructed
    quantities (with the hadronic energies), the electrons' charge and track match, the photons'
    reconstructed conversion, the truth record in MC (with the truth origin, the photons' true
    conversion radius and the jets' leading meson), and the cell windows.
    No random numbers."""
    branches = {}
    ev = cand["event"]
    for prefix, sel in (("el", ~cand["photon"]), ("ph", cand["photon"])):
        values = {k: v[sel] for k, v in reco["objects"].items()}
        if prefix == "el":
            values["charge"] = cand["charge"][sel]
            values.update({k: v[sel] for k, v in reco["el_track"].items()})
        else:
            values["convType"] = clusters["conversion_type"][sel]
            values["convRadius"] = clusters["conversion_radius"][sel]
            values["convPtRatio"] = clusters["conversion_pt_ratio"][sel]
        if is_mc:
            values.update({k: v[sel] for k, v in reco["truth"].items()})
            values["truth_origin"] = cand["origin"][sel]
            if prefix == "ph":
                values["truth_convRadius"] = clusters["true_conversion_radius"][sel]
                values["truth_mesonPdgId"] = cand["meson_pdg"][sel]
                values["truth_mesonZ"] = cand["meson_z"][sel]
                values["truth_openingAngle"] = cand["opening_angle"][sel]
        branches.update(counts_to_jagged(values, ev[sel], n_events, prefix))
        branches.update(windows_to_jagged(showers, ev[sel], n_events, prefix, sel))
    return branches


def _muon_branches(particles, mu_reco_pt, n_events, gen, rng):
    """The mu_ branches of the generator's muons within |eta| < 2.5, with the medium
    identification drawn at ``muon_medium_efficiency``."""
    muons = particles["pdg"] == MUON_PDG
    mu_values = {
        "pt": mu_reco_pt,
        "eta": particles["eta"][muons],
        "phi": particles["phi"][muons],
        "charge": particles["charge"][muons],
        "isMedium": rng.uniform(size=muons.sum()) < gen["muon_medium_efficiency"],
    }
    mu_accept = np.abs(mu_values["eta"]) < 2.5
    return counts_to_jagged(
        {k: v[mu_accept] for k, v in mu_values.items()},
        particles["event"][muons][mu_accept],
        n_events,
        "mu",
    )


def _trigger_branches(el_pt, mu_pt, n_events, gen, rng):
    """Trigger decisions (n_events,): a dielectron (2e17) or single-electron (e26) trigger, and
    the muon analogues, each passing at ``trigger_efficiency``. ``el_pt``, ``mu_pt`` jagged."""
    el_et = ak.to_numpy(ak.fill_none(ak.max(el_pt, axis=1), 0.0))
    n_el17 = ak.to_numpy(ak.sum(el_pt > 17.0, axis=1))
    n_mu14 = ak.to_numpy(ak.sum(mu_pt > 14.0, axis=1))
    mu_max = ak.to_numpy(ak.fill_none(ak.max(mu_pt, axis=1), 0.0))
    efficiency = rng.uniform(size=(n_events, 2)) < gen["trigger_efficiency"]
    return {
        "trigPassed_e": ((n_el17 >= 2) | (el_et > 26.0)) & efficiency[:, 0],
        "trigPassed_mu": ((n_mu14 >= 2) | (mu_max > 26.0)) & efficiency[:, 1],
    }


def assemble_branches(
    process: str,
    is_mc: bool,
    n_events: int,
    first_event: int,
    run_number: int,
    event: dict,
    particles: dict,
    cand: dict,
    showers: Showers,
    clusters: dict,
    reco: dict,
    gen: dict,
    rng: np.random.Generator,
) -> dict:
    """One chunk's branches: event-level (n_events,) numpy arrays, then the jagged el_, ph_, mu_
    and trk_ branches, then the triggers. ``event`` holds the per-event ``mu`` and ``n_vtx``;
    ``reco`` is events._reconstruct's dict. Draws the muon identification and the trigger
    efficiencies, in this order."""
    branches = {
        "runNumber": np.full(n_events, run_number),
        "eventNumber": first_event + np.arange(n_events),
        "mcChannelNumber": np.full(n_events, MC_CHANNEL[process] if is_mc else 0),
        "averageInteractionsPerCrossing": event["mu"],
        "NvtxReco": event["n_vtx"],
        "mcEventWeight": np.ones(n_events),
    }
    branches.update(_egamma_branches(cand, showers, clusters, reco, n_events, is_mc))
    tracks = reco["tracks"]
    branches.update(_muon_branches(particles, tracks["muon_pt"], n_events, gen, rng))
    branches.update(counts_to_jagged(tracks["branches"], tracks["event"], n_events, "trk"))
    branches.update(_trigger_branches(branches["el_pt"], branches["mu_pt"], n_events, gen, rng))
    return branches
