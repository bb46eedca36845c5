"""Z-mass rebuild with any energy hypothesis (massless objects; muons with their mass)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
import vector

from egcalib.core.kinematics import massless_momenta


def _momenta(energy: pd.Series, eta: pd.Series, phi: pd.Series) -> vector.MomentumNumpy4D:
    """Massless four-vectors (n,) in float64 from energies [GeV] (their magnitude: a negative
    predicted energy counts as |E|), eta and phi [rad] (n,); cosh(eta) in eta's own type."""
    return massless_momenta(np.abs(np.asarray(energy, float)), eta, phi, dtype=float)


def dielectron_masses(frame: pd.DataFrame, energy_columns: Iterable[str]) -> pd.DataFrame:
    """m_ee [GeV] per event with both electrons present, for each energy column, and the
    electrons' eta (eta1, eta2).

    ``frame`` has one row per electron with runNumber, eventNumber, object_index, eta, phi
    [rad] and the energies [GeV] (and, if present, the event weight ``weight``, carried over per
    event). Returns one row per such event: runNumber, eventNumber, eta1, eta2, (weight) and one
    column of m_ee per energy column, named as it is.
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


def mumugamma_masses(frame: pd.DataFrame, energy_columns: Iterable[str]) -> pd.DataFrame:
    """m_mumugamma [GeV] per photon row, from the stored dimuon system and each photon energy
    (and the event weight ``weight`` where the frame has it).

    ``frame`` has one row per photon with runNumber, eventNumber, eta, phi [rad], the energies
    [GeV] and the dimuon system mumu_pt [GeV], mumu_eta, mumu_phi [rad], mumu_m [GeV]. Returns
    one row per photon: runNumber, eventNumber, (weight) and one column of m_mumugamma per energy
    column, named as it is."""
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
