"""The data contracts between stages: the input ntuple branches and the skimmed object table.

Logical names are what the code uses. Real ntuples map each logical name to a branch name or an
uproot alias expression through ``config["ntuple"]["branches"]``; nothing else hard-codes a name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Per-layer native cell windows (eta x phi) around the hottest middle cell
# (docs/design.md#images).
LAYERS = ("lr0", "lr1", "lr2", "lr3")

# The middle layer's cell size, the unit of cl_etaIndex and of the windows' positions: ATLAS
# Collaboration, "ATLAS liquid-argon calorimeter: Technical Design Report", CERN-LHCC-96-041
# (0.025 x 2 pi / 256 in the barrel).
MIDDLE_CELL_ETA = 0.025
MIDDLE_CELL_PHI = 2 * math.pi / 256

# Event-level branches: logical name -> numpy dtype.
EVENT_BRANCHES = {
    "runNumber": "int32",
    "eventNumber": "int64",
    "mcChannelNumber": "int32",
    "averageInteractionsPerCrossing": "float32",
    "NvtxReco": "int32",
    "mcEventWeight": "float32",
    "trigPassed_e": "bool",
    "trigPassed_mu": "bool",
}

# One entry per object; jagged per event.
ELECTRON_BRANCHES = {
    "el_pt": "float32",
    "el_eta": "float32",
    "el_phi": "float32",
    "el_e": "float32",
    "el_charge": "int32",
    "el_isLoose": "bool",
    "el_isTight": "bool",
    "el_cl_eta": "float32",
    "el_cl_phi": "float32",
    "el_cl_E0": "float32",
    "el_cl_E1": "float32",
    "el_cl_E2": "float32",
    "el_cl_E3": "float32",
    "el_cl_Eacc": "float32",
    "el_cl_etaModCalo": "float32",
    "el_cl_phiModCalo": "float32",
    "el_cl_etaIndex": "int32",
    "el_Ecrack": "float32",
    "el_Etilegap": "float32",
    "el_trk_pt": "float32",
    "el_trk_deta": "float32",
    "el_trk_dphiRescaled": "float32",
    "el_trk_dpp": "float32",
    "el_ntracks": "int32",
}
# Tracks of the conversion vertex of each ATLAS photon convType: 0 unconverted, 1 single-Si,
# 2 single-TRT, 3 double-Si, 4 double-TRT, 5 double Si-TRT (xAOD::EgammaParameters::ConversionType).
CONVERSION_TYPE_TRACKS = (0, 1, 1, 2, 2, 2)
PHOTON_BRANCHES = {
    "ph_pt": "float32",
    "ph_eta": "float32",
    "ph_phi": "float32",
    "ph_e": "float32",
    "ph_isLoose": "bool",
    "ph_isTight": "bool",
    "ph_convType": "int32",  # ATLAS convType: CONVERSION_TYPE_TRACKS gives its track count
    "ph_cl_eta": "float32",
    "ph_cl_phi": "float32",
    "ph_cl_E0": "float32",
    "ph_cl_E1": "float32",
    "ph_cl_E2": "float32",
    "ph_cl_E3": "float32",
    "ph_cl_Eacc": "float32",
    "ph_cl_etaModCalo": "float32",
    "ph_cl_phiModCalo": "float32",
    "ph_cl_etaIndex": "int32",
    "ph_Ecrack": "float32",
    "ph_Etilegap": "float32",
}
# MC only. truth_e is what the generator record says the matched particle had; a small fraction
# is deliberately mismatched (docs/design.md#the-embedded-default) so that the k-cut removes real
# outliers.
TRUTH_FIELDS = {
    "truth_e": "float32",
    "truth_pt": "float32",
    "truth_eta": "float32",
    "truth_phi": "float32",
    "truth_pdgId": "int32",
    "truth_matched": "bool",
}
MUON_BRANCHES = {
    "mu_pt": "float32",
    "mu_eta": "float32",
    "mu_phi": "float32",
    "mu_charge": "int32",
    "mu_isMedium": "bool",
}
TRACK_BRANCHES = {
    "trk_pt": "float32",
    "trk_eta": "float32",
    "trk_phi": "float32",
    "trk_charge": "int32",
    "trk_d0": "float32",
    "trk_d0sig": "float32",
    "trk_z0": "float32",
    "trk_vertex": "int32",
    "trk_nPixHits": "int32",
    "trk_nSCTHits": "int32",
    "trk_nTRTHits": "int32",
}


# Optional per-object branches: read when the file has them, NaN in the skim table when not.
# binned_e is the older binned response correction (the simulator writes it beside the MVA
# baseline el_e / ph_e as a reference); real ntuples may map it to an older calibration or lack
# it. A mapping in config ntuple.branches makes it required: a mapped name that is missing is a
# configuration mistake, not an absent reference.
# Ehad1 and Ehad are the energies [GeV] in the first hadronic layer behind the cluster and in
# the whole hadronic calorimeter behind it (ATLAS's hadronic leakage, from which R_had1 and R_had
# are made: core.shower_shapes); the simulator writes them, real ntuples may lack them.
OPTIONAL_FIELDS = {"binned_e": "float32", "Ehad1": "float32", "Ehad": "float32"}
# Optional MC-only per-object branches, read in MC when the file has them; -1 in the skim table
# when not (and in data). truth_origin is MCTruthClassifier's ParticleOrigin of the object's
# truth particle (ATLAS: ph_truthOrigin, mapped in ntuple.branches); photon identification
# separates prompt photons from the fakes of jets with it.
OPTIONAL_TRUTH_FIELDS = {"truth_origin": "int32"}
MISSING_TRUTH_ORIGIN = -1


def optional_branches(prefix: str) -> dict[str, str]:
    """Optional logical branches of one collection ('el' or 'ph'), with their dtypes."""
    return {f"{prefix}_{name}": dtype for name, dtype in OPTIONAL_FIELDS.items()}


def optional_truth_branches(prefix: str) -> dict[str, str]:
    """Optional MC-only logical branches of one collection ('el' or 'ph'), with their dtypes."""
    return {f"{prefix}_{name}": dtype for name, dtype in OPTIONAL_TRUTH_FIELDS.items()}


def cell_branches(prefix: str) -> list[str]:
    """Per-layer cell energy and time branches of one collection ('el' or 'ph').

    Each is one jagged float32 branch per event holding the windows of all objects back to
    back (length n_objects x cells), or one inner list of cells per object
    (``vector<vector<float>>``); both are reshaped on read (``egcalib.skim.layouts``).
    """
    return [f"{prefix}_{kind}_{layer}" for kind in ("cells", "time") for layer in LAYERS]


def fields(branches: dict, prefix: str) -> tuple[str, ...]:
    """The field names of one collection's branches (``el_pt`` -> ``pt``), in contract order."""
    return tuple(name.removeprefix(f"{prefix}_") for name in branches)


# Prefixes of the per-object collections: a branch with one of them has one entry per object.
COLLECTIONS = ("el", "ph", "mu", "trk")


def is_per_object(name: str) -> bool:
    """Whether a logical name holds one value per object (else one value per event)."""
    return name.split("_", 1)[0] in COLLECTIONS


def is_cell_window(name: str) -> bool:
    """Whether a logical name is a cell/time window branch (``el_cells_lr0`` ...)."""
    parts = name.split("_")
    return (
        len(parts) == 3
        and parts[0] in ("el", "ph")
        and parts[1] in ("cells", "time")
        and parts[2] in LAYERS
    )


def logical_dtypes(names: Iterable[str]) -> dict[str, str]:
    """The contract's numpy dtype of each of ``names`` that the contract defines.

    Flags (triggers, IDs, truth_matched) are ``bool``; cell windows ``float32``."""
    known = {**all_branches(True)}
    for prefix in ("el", "ph"):
        known.update({**optional_branches(prefix), **optional_truth_branches(prefix)})
    return {name: known[name] for name in names if name in known}


def truth_branches(prefix: str) -> dict[str, str]:
    return {f"{prefix}_{name}": dtype for name, dtype in TRUTH_FIELDS.items()}


def all_branches(is_mc: bool) -> dict[str, str]:
    """Every logical branch a file of this kind must carry, with its dtype."""
    branches = {
        **EVENT_BRANCHES,
        **ELECTRON_BRANCHES,
        **PHOTON_BRANCHES,
        **MUON_BRANCHES,
        **TRACK_BRANCHES,
    }
    for prefix in ("el", "ph"):
        branches.update(dict.fromkeys(cell_branches(prefix), "float32"))
        if is_mc:
            branches.update(truth_branches(prefix))
    return branches


# ---------------------------------------------------------------------------------------------
# The skimmed object table (one row per selected object; results/skim/{dataset}/{file}.parquet)

# The seed's scalar inputs (seed 000, "The input variables"), in network input order.
SCALARS = (
    "E_acc",  # E1 + E2 + E3 of the cluster [GeV]
    "eta_index",  # eta cell index of the cluster in the middle layer
    "f0",  # E0 / E_acc for |eta| < 1.8, else 0
    "R12",  # E1 / E2
    "p_track",  # track pT (electrons; 0 for photons) [GeV]
    "E_crack_ratio",  # E_crack / E_acc for 1.4 < |eta| < 1.6, else 0
    "E_tilegap",  # tile-gap scintillator energy [GeV]
    "eta",  # object pseudorapidity
    "dphi_rescaled",  # phi(track, rescaled to cluster energy) - phi(cluster) (electrons)
    "eta_modcalo",  # eta position w.r.t. the middle-layer cell edge
    "deta",  # eta(track) - eta(cluster) (electrons)
    "poscs2",  # relative eta position within the hottest middle cell
    "dphi_h3",  # relative phi position within a cell: mod(2 pi + phi, pi/32) - pi/64
    "mu",  # average interactions per bunch crossing
    "n_tracks",  # tracks assigned to the object: the electron's; the photon's conversion vertex's
    "n_vertex",  # reconstructed vertices
)

# The seed's TrackNet features of each of the (up to) 10 tracks nearest in Delta-R, plus the
# charge-signed phi distance to the object, which carries the bending direction.
TRACK_FEATURES = (
    "pt_over_q",
    "d0_over_sigma",
    "dR",
    "vertex",
    "z0",
    "eta",
    "phi",
    "n_pixel",
    "n_sct",
    "n_trt",
    "q_dphi",
)
N_TRACKS = 10

# Object types in the `particle` column.
ELECTRON, PHOTON = 0, 1
# The objects each process's skim keeps: a model is an electron or a photon model by the datasets
# it trains on, and is evaluated on every dataset of its particle.
PROCESS_PARTICLE = {
    "zee": "electron",
    "egun": "electron",
    "zmumug": "photon",
    "pgun": "photon",
    # The photon candidates of jets: fakes, the photon identification's background.
    "jets": "photon",
}

# Columns of the skim table (pyarrow types as strings). Cell/time windows are fixed-size lists of
# float32 in eta-major order, of the native shape in config["images"]["native_shapes"].
SKIM_ID_COLUMNS = {
    "dataset": "string",
    "file": "string",
    # The event's identity: (mcChannelNumber, runNumber, eventNumber); mcChannelNumber is 0 in
    # data and where the file has no such branch.
    "mcChannelNumber": "int32",
    "runNumber": "int64",
    "eventNumber": "int64",
    "object_index": "int32",  # index of the object within its collection in the event
    "particle": "int8",  # ELECTRON or PHOTON
}
SKIM_OBJECT_COLUMNS = {
    "pt": "float32",
    "eta": "float32",
    "phi": "float32",
    "e_baseline": "float32",  # the standard calibration (el_e / ph_e): the baseline to beat
    # The older binned response correction (el_binned_e / ph_binned_e), a reference beside the
    # MVA baseline; NaN when the file has no such branch.
    "e_baseline_binned": "float32",
    "charge": "int8",
    "conv_type": "int8",
    "cl_eta": "float32",
    "cl_phi": "float32",
    "cl_E0": "float32",
    "cl_E1": "float32",
    "cl_E2": "float32",
    "cl_E3": "float32",
    "e_truth": "float32",  # MC truth energy (NaN in data)
    "e_label": "float32",  # Z-mass-constraint label (data Z->ee in the mass window; else NaN)
    "weight": "float32",  # mcEventWeight (1 in data)
    # The event's candidate mass with baseline energies (m_ee, or m_mumugamma for photons) and,
    # for Z->mumugamma, the dimuon system so the mass can be rebuilt with any photon energy.
    "m_candidate": "float32",
    "mumu_pt": "float32",
    "mumu_eta": "float32",
    "mumu_phi": "float32",
    "mumu_m": "float32",
    # The hadronic energies behind the cluster [GeV] (the optional Ehad1 and Ehad; NaN when the
    # file lacks them): photon identification's R_had1 and R_had.
    "e_had1": "float32",
    "e_had": "float32",
    # MCTruthClassifier's ParticleOrigin (the optional truth_origin): -1 in data and where the
    # file lacks it.
    "truth_origin": "int32",
}
SCALAR_COLUMNS = tuple(f"scalar_{name}" for name in SCALARS)
CELL_COLUMNS = tuple(f"cells_{layer}" for layer in LAYERS)
TIME_COLUMNS = tuple(f"time_{layer}" for layer in LAYERS)
TRACK_COLUMNS = ("tracks", "tracks_mask")  # N_TRACKS x TRACK_FEATURES float32; N_TRACKS float32
