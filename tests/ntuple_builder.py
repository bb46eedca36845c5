"""Hand-built contract ntuples for skim tests: events as lists of object dicts; and skim_with,
the skim of one file with a config's settings (the tests' and benchmarks' one call of skim_file).
"""

from __future__ import annotations

from pathlib import Path

import awkward as ak
import numpy as np

from egcalib.core.contract import all_branches
from egcalib.core.root_writing import write_tree
from egcalib.skim.selection import Cutflow
from egcalib.skim.skimming import skim_file

NATIVE_SHAPES = {"lr0": [7, 5], "lr1": [56, 5], "lr2": [7, 11], "lr3": [7, 11]}
ELECTRON = {
    "pt": None,
    "eta": 0.5,
    "phi": 0.1,
    "e": 40.0,
    "charge": 1,
    "isLoose": True,
    "isTight": True,
    "cl_eta": None,
    "cl_phi": None,
    "cl_E0": 0.5,
    "cl_E1": 10.0,
    "cl_E2": 28.0,
    "cl_E3": 0.5,
    "cl_Eacc": None,
    "cl_etaModCalo": 0.01,
    "cl_phiModCalo": 0.01,
    "cl_etaIndex": 20,
    "Ecrack": 0.0,
    "Etilegap": 0.0,
    "trk_pt": 30.0,
    "trk_deta": 0.001,
    "trk_dphiRescaled": 0.002,
    "trk_dpp": 0.1,
    "ntracks": 1,
    "truth_e": None,
    "truth_pt": 0.0,
    "truth_eta": 0.0,
    "truth_phi": 0.0,
    "truth_pdgId": 11,
    "truth_matched": True,
    "convType": 0,
}
MUON = {"pt": 40.0, "eta": 0.0, "phi": 0.0, "charge": 1, "isMedium": True}
TRACK = {
    "pt": 1.0,
    "eta": 0.0,
    "phi": 0.0,
    "charge": 1,
    "d0": 0.01,
    "d0sig": 1.0,
    "z0": 0.0,
    "vertex": 0,
    "nPixHits": 4,
    "nSCTHits": 8,
    "nTRTHits": 30,
}
EVENT = {
    "runNumber": 1,
    "mcChannelNumber": 361106,
    "averageInteractionsPerCrossing": 30.0,
    "NvtxReco": 15,
    "mcEventWeight": 1.0,
    "trigPassed_e": True,
    "trigPassed_mu": True,
}


def electron(**values):
    obj = {**ELECTRON, **values}
    obj["pt"] = obj["pt"] if values.get("pt") is not None else obj["e"] / np.cosh(obj["eta"])
    obj["cl_eta"] = obj["eta"] if values.get("cl_eta") is None else values["cl_eta"]
    obj["cl_phi"] = obj["phi"] if values.get("cl_phi") is None else values["cl_phi"]
    obj["cl_Eacc"] = obj["cl_E1"] + obj["cl_E2"] + obj["cl_E3"]
    obj["truth_e"] = obj["e"] if values.get("truth_e") is None else values["truth_e"]
    return obj


photon = electron


def _jag(rows):
    """Jagged array from lists of numbers, typed even when empty."""
    counts = np.array([len(row) for row in rows], dtype=np.int64)
    flat = np.array([value for row in rows for value in row], dtype=np.float64)
    return ak.unflatten(flat, counts)


def _jagged(rows, name, default):
    return _jag([[obj.get(name, default) for obj in row] for row in rows])


def write_events(
    path,
    events: list[dict],
    is_mc=True,
    tree="egamma",
    rename=None,
    cells=None,
    extra=None,
    drop=(),
):
    """Write events (dicts with 'el', 'ph', 'mu', 'trk' object lists + event fields) to ROOT.

    ``rename`` maps logical names to the stored names (to test the branch mapping); ``cells``
    is a callable (prefix, layer, n_objects_in_event) -> flat window values; ``extra`` adds
    branches (name -> dtype) read from the object dicts; ``drop`` leaves branches out.
    """
    branches = {}
    names = {**all_branches(is_mc), **(extra or {})}
    for name in names:
        if name in drop:
            continue
        prefix, field = name.split("_", 1) if "_" in name else ("", name)
        if prefix in ("el", "ph", "mu", "trk") and not name.startswith(
            ("el_cells", "el_time", "ph_cells", "ph_time")
        ):
            default = {**ELECTRON, **MUON, **TRACK}.get(field, 0.0)
            branches[name] = _jagged([e.get(prefix, []) for e in events], field, default)
        elif name.startswith(("el_cells", "el_time", "ph_cells", "ph_time")):
            prefix, _, layer = name.split("_")
            size = int(np.prod(NATIVE_SHAPES[layer]))
            rows = []
            for event in events:
                k = len(event.get(prefix, []))
                rows.append(list(cells(prefix, layer, k)) if cells else [0.0] * (k * size))
            branches[name] = _jag(rows)
        else:
            branches[name] = np.array(
                [
                    e.get(name, EVENT.get(name, i + 1 if name == "eventNumber" else 0))
                    for i, e in enumerate(events)
                ]
            )
    dtypes = dict(names)
    if rename:
        branches = {rename.get(k, k): v for k, v in branches.items()}
        dtypes = {rename.get(k, k): v for k, v in dtypes.items()}
    write_tree(path, tree, [branches], dtypes)
    return path


def skim_with(
    config: dict,
    source,
    out,
    cutflow=None,
    *,
    dataset: str,
    file_name: str | None = None,
    kind: str = "mc",
    process: str = "zee",
    **settings,
) -> Cutflow:
    """skim_file of ``source`` into the object table ``out`` and the cutflow JSON ``cutflow``
    (by default ``out`` with the suffix .json) under ``config``'s ntuple, selection, skim and
    images.native_shapes. ``file_name`` is ``out``'s stem unless given; ``settings`` (skim=,
    native_shapes=, out_events=, ...) replace or add to what skim_file is given."""
    out = Path(out)
    arguments = {
        "ntuple": config["ntuple"],
        "selection": config["selection"],
        "skim": config["skim"],
        "native_shapes": config["images"]["native_shapes"],
        **settings,
    }
    return skim_file(
        str(source),
        str(out),
        str(out.with_suffix(".json") if cutflow is None else cutflow),
        dataset=dataset,
        file_name=out.stem if file_name is None else file_name,
        kind=kind,
        process=process,
        **arguments,
    )
