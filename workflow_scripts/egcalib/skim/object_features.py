"""The per-object input features the skim computes (docs/design.md#selections-and-labels): the
seed's 16 scalars (contract.SCALARS) and the tracks nearest in Delta-R, 11 features each,
zero-padded with a mask (the TrackNet input)."""

from __future__ import annotations

from collections.abc import Sequence

import awkward as ak
import numpy as np

from egcalib.core import contract
from egcalib.core.kinematics import wrap_phi


def nearest_tracks(
    tracks: ak.Array, obj_eta: np.ndarray, obj_phi: np.ndarray, n_tracks: int
) -> tuple[np.ndarray, np.ndarray]:
    """The ``n_tracks`` tracks nearest in Delta-R to each object: (n, n_tracks, 11) and the mask
    (n, n_tracks).

    ``tracks`` is a jagged per-object record array (the tracks of the object's event). The
    object's own track is included, as in the seed. Padding is zeros with mask 0.
    """
    d_eta = tracks.eta - obj_eta
    d_phi = wrap_phi(tracks.phi - obj_phi)
    d_r = np.sqrt(d_eta**2 + d_phi**2)
    order = ak.argsort(d_r, axis=1, stable=True)[:, :n_tracks]
    tracks, d_r, d_phi = tracks[order], d_r[order], d_phi[order]
    features = [
        tracks.pt * tracks.charge,
        tracks.d0sig,
        d_r,
        tracks.vertex,
        tracks.z0,
        tracks.eta,
        tracks.phi,
        tracks.nPixHits,
        tracks.nSCTHits,
        tracks.nTRTHits,
        tracks.charge * d_phi,
    ]
    padded = [
        ak.to_numpy(ak.fill_none(ak.pad_none(f, n_tracks, axis=1, clip=True), 0.0)).astype(
            np.float32
        )
        for f in features
    ]
    mask = ak.to_numpy(
        ak.fill_none(ak.pad_none(ak.ones_like(d_r), n_tracks, axis=1, clip=True), 0.0)
    ).astype(np.float32)
    return np.stack(padded, axis=2), mask


def conversion_vertex_tracks(obj: dict) -> np.ndarray:
    """Tracks of each object's reconstructed conversion vertex (n,), from its ATLAS convType
    (contract.CONVERSION_TYPE_TRACKS; 0 without a ``convType`` column or for unknown codes)."""
    n = len(obj["cl_Eacc"])
    conv_type = np.asarray(obj.get("convType", np.zeros(n)), np.int64)
    known = (conv_type >= 0) & (conv_type < len(contract.CONVERSION_TYPE_TRACKS))
    return np.where(
        known, np.asarray(contract.CONVERSION_TYPE_TRACKS)[np.where(known, conv_type, 0)], 0
    )


def scalars(
    obj: dict, middle_cells: np.ndarray, middle_shape: Sequence[int]
) -> dict[str, np.ndarray]:
    """The seed's 16 scalars (contract.SCALARS) from flat per-object numpy columns."""
    e_acc = obj["cl_Eacc"]
    abs_eta = np.abs(obj["eta"])
    safe_acc = np.where(e_acc != 0, e_acc, np.nan)
    # Hottest middle cell: its lower eta edge follows from the window centre's eta index.
    hottest = middle_cells.reshape(len(e_acc), *middle_shape).sum(axis=2).argmax(axis=1)
    hot_edge = (obj["cl_etaIndex"] + hottest - middle_shape[0] // 2) * contract.MIDDLE_CELL_ETA
    electron = obj["particle"] == contract.ELECTRON
    values = {
        "E_acc": e_acc,
        "eta_index": obj["cl_etaIndex"],
        "f0": np.where(abs_eta < 1.8, obj["cl_E0"] / safe_acc, 0.0),
        "R12": obj["cl_E1"] / np.where(obj["cl_E2"] != 0, obj["cl_E2"], np.nan),
        "p_track": np.where(electron, obj.get("trk_pt", 0.0), 0.0),
        "E_crack_ratio": np.where((abs_eta > 1.4) & (abs_eta < 1.6), obj["Ecrack"] / safe_acc, 0.0),
        "E_tilegap": obj["Etilegap"],
        "eta": obj["eta"],
        "dphi_rescaled": np.where(electron, obj.get("trk_dphiRescaled", 0.0), 0.0),
        "eta_modcalo": obj["cl_etaModCalo"],
        "deta": np.where(electron, obj.get("trk_deta", 0.0), 0.0),
        "poscs2": 2.0 * (obj["cl_eta"] - hot_edge) / contract.MIDDLE_CELL_ETA - 1.0,
        "dphi_h3": np.mod(2 * np.pi + obj["cl_phi"], np.pi / 32) - np.pi / 64,
        "mu": obj["mu"],
        # Photons: the tracks of the reconstructed conversion vertex (from the ATLAS convType),
        # so the BDT and the CNNs see the reconstructed conversion status.
        "n_tracks": np.where(electron, obj.get("ntracks", 0), conversion_vertex_tracks(obj)),
        "n_vertex": obj["n_vertex"],
    }
    # A zero-energy layer gives an undefined ratio: 0, not NaN, for the network.
    return {
        f"scalar_{k}": np.nan_to_num(
            np.asarray(v, np.float64), nan=0.0, posinf=0.0, neginf=0.0
        ).astype(np.float32)
        for k, v in values.items()
    }
