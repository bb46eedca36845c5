"""Z-mass rebuild with any energy hypothesis (massless objects; muons with their mass)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import vector


def _momenta(energy, eta, phi, mass=0.0):
    energy = np.asarray(energy, float)
    return vector.array(
        {
            "pt": np.sqrt(np.maximum(energy**2 - mass**2, 0.0)) / np.cosh(eta),
            "eta": np.asarray(eta, float),
            "phi": np.asarray(phi, float),
            "M": np.full(len(energy), mass),
        }
    )


def dielectron_masses(frame: pd.DataFrame, energy_columns) -> pd.DataFrame:
    """m_ee per event with both electrons present, for each energy column, and the electrons'
    eta (eta1, eta2).

    ``frame`` has one row per electron with runNumber, eventNumber, eta, phi and the energies
    (and, if present, the event weight ``weight``, carried over per event).
    """
    frame = frame.sort_values(["runNumber", "eventNumber", "object_index"], kind="stable")
    key = frame["runNumber"].to_numpy() * (1 << 40) + frame["eventNumber"].to_numpy()
    _, start, count = np.unique(key, return_index=True, return_counts=True)
    first = start[count == 2]  # events where only one electron survived have no mass
    a, b = frame.iloc[first], frame.iloc[first + 1]
    out = pd.DataFrame(
        {
            "runNumber": a["runNumber"].to_numpy(),
            "eventNumber": a["eventNumber"].to_numpy(),
            "eta1": a["eta"].to_numpy(),
            "eta2": b["eta"].to_numpy(),
        }
    )
    if "weight" in frame:
        out["weight"] = a["weight"].to_numpy()
    for column in energy_columns:
        p1 = _momenta(a[column], a["eta"], a["phi"])
        p2 = _momenta(b[column], b["eta"], b["phi"])
        out[column] = (p1 + p2).mass
    return out


def mumugamma_masses(frame: pd.DataFrame, energy_columns) -> pd.DataFrame:
    """m_mumugamma per photon row, from the stored dimuon system and each photon energy (and
    the event weight ``weight`` where the frame has it)."""
    mumu = vector.array(
        {
            "pt": frame["mumu_pt"].to_numpy(float),
            "eta": frame["mumu_eta"].to_numpy(float),
            "phi": frame["mumu_phi"].to_numpy(float),
            "M": frame["mumu_m"].to_numpy(float),
        }
    )
    ids = ["runNumber", "eventNumber"] + (["weight"] if "weight" in frame else [])
    out = frame[ids].reset_index(drop=True).copy()
    for column in energy_columns:
        photon = _momenta(frame[column], frame["eta"], frame["phi"])
        out[column] = (mumu + photon).mass
    return out
