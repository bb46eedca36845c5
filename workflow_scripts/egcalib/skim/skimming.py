"""Skim one ntuple into the per-object table (results/skim/{dataset}/{file}.parquet).

The file is streamed with uproot in steps; each step is selected, turned into one row per object
(ids, kinematics, the seed's scalars, the baseline energy and its binned reference when the file
has one, truth energies or data labels, cell windows and the nearest tracks) and appended to a
Parquet file that appears only when complete.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import vector

from egcalib.core import contract
from egcalib.core.atomic import atomic_path
from egcalib.skim import layouts, plausibility
from egcalib.skim.branch_mapping import Source
from egcalib.skim.duplicates import IDENTITY, DuplicateEventsError, FirstCopies, write_identities
from egcalib.skim.finite_inputs import check_weights, finite_objects
from egcalib.skim.object_features import nearest_tracks, scalars
from egcalib.skim.reading import iterate
from egcalib.skim.selection import (
    Cutflow,
    collection,
    select_egun,
    select_jets,
    select_pgun,
    select_zee,
    select_zmumug,
)

log = logging.getLogger(__name__)
vector.register_awkward()

# The fields the skim reads, as the contract lists them: every object, muon and track branch;
# of the event branches all but the triggers (named in config) and mcChannelNumber.
ELECTRON_FIELDS = contract.fields(contract.ELECTRON_BRANCHES, "el")
PHOTON_FIELDS = contract.fields(contract.PHOTON_BRANCHES, "ph")
MUON_FIELDS = contract.fields(contract.MUON_BRANCHES, "mu")
TRACK_FIELDS = contract.fields(contract.TRACK_BRANCHES, "trk")
EVENT_FIELDS = tuple(
    name
    for name in contract.EVENT_BRANCHES
    if name != "mcChannelNumber" and not name.startswith("trigPassed")
)


def collection_prefix(process: str) -> str:
    """The collection a skim of ``process`` keeps: ``ph`` (photon processes) or ``el``."""
    return "ph" if contract.PROCESS_PARTICLE[process] == "photon" else "el"


def needed_branches(process: str, is_mc: bool, trigger_names: Iterable[str]) -> list[str]:
    """The logical branches a skim of this process and kind reads."""
    prefix = collection_prefix(process)
    fields = PHOTON_FIELDS if prefix == "ph" else ELECTRON_FIELDS
    names = list(EVENT_FIELDS) + list(trigger_names)
    names += [f"{prefix}_{f}" for f in fields] + contract.cell_branches(prefix)
    names += [f"trk_{f}" for f in TRACK_FIELDS]
    if process == "zmumug":
        names += [f"mu_{f}" for f in MUON_FIELDS]
    if is_mc:
        names.append(f"{prefix}_truth_e")
    return names


def optional_branches(process: str, is_mc: bool = False) -> list[str]:
    """The optional logical branches a skim of this process and kind reads when the file has
    them: mcChannelNumber (0 when absent), the collection's optional fields and, in MC, its
    optional truth fields (the truth origin)."""
    prefix = collection_prefix(process)
    truth = list(contract.optional_truth_branches(prefix)) if is_mc else []
    return ["mcChannelNumber", *contract.optional_branches(prefix), *truth]


def with_optional_fields(events: ak.Array, prefix: str) -> ak.Array:
    """Every optional field of the collection, NaN per object where the file lacks the branch
    (the truth origin: -1, also in data, where it is not read), and mcChannelNumber, 0 where it
    lacks that, so selection and the table see one layout whatever the file carries."""
    if "mcChannelNumber" not in events.fields:
        events = ak.with_field(events, np.zeros(len(events), np.int32), "mcChannelNumber")
    for name in contract.optional_branches(prefix):
        if name not in events.fields:
            events = ak.with_field(events, ak.full_like(events[f"{prefix}_e"], np.nan), name)
    for name, dtype in contract.optional_truth_branches(prefix).items():
        if name not in events.fields:
            missing = contract.MISSING_TRUTH_ORIGIN
            events = ak.with_field(
                events, ak.full_like(events[f"{prefix}_e"], missing, dtype=dtype), name
            )
    return events


def arrow_schema(native_shapes: dict) -> pa.Schema:
    """The full skim-table schema: every column, also for an empty selection."""
    fields = [
        pa.field(n, pa.string() if t == "string" else pa.from_numpy_dtype(np.dtype(t)))
        for n, t in {**contract.SKIM_ID_COLUMNS, **contract.SKIM_OBJECT_COLUMNS}.items()
    ]
    fields += [pa.field(n, pa.float32()) for n in contract.SCALAR_COLUMNS]
    for kind in ("cells", "time"):
        for layer in contract.LAYERS:
            size = int(np.prod(native_shapes[layer]))
            fields.append(pa.field(f"{kind}_{layer}", pa.list_(pa.float32(), size)))
    n_tracks, n_features = contract.N_TRACKS, len(contract.TRACK_FEATURES)
    fields.append(pa.field("tracks", pa.list_(pa.float32(), n_tracks * n_features)))
    fields.append(pa.field("tracks_mask", pa.list_(pa.float32(), n_tracks)))
    return pa.schema(fields)


def _checked_fields(fields, is_mc) -> tuple[str, ...]:
    """The collection's fields whose values must be finite: all but the optional ones (NaN
    there means absent)."""
    return fields + (("truth_e",) if is_mc else ())


def indexed_objects(events: ak.Array, prefix: str, fields: Sequence[str], is_mc: bool) -> ak.Array:
    """The collection ``prefix`` of a chunk (events x objects; ``fields`` and, in MC, the truth
    energy) with the bookkeeping needed after selection: ``event_row``, ``object_index`` (in
    the event's collection) and ``cell_row``, the object's row in the chunk's cell windows."""
    names = (
        _checked_fields(fields, is_mc)
        + tuple(contract.OPTIONAL_FIELDS)
        + tuple(contract.OPTIONAL_TRUTH_FIELDS)
    )
    objects = collection(events, prefix, names)
    counts = ak.num(objects.e)
    objects = ak.with_field(
        objects, ak.broadcast_arrays(np.arange(len(events)), objects.e)[0], "event_row"
    )
    objects = ak.with_field(objects, ak.local_index(objects.e), "object_index")
    return ak.with_field(objects, ak.unflatten(np.arange(ak.sum(counts)), counts), "cell_row")


def _fixed_size(values: np.ndarray) -> pa.FixedSizeListArray:
    values = np.ascontiguousarray(values, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1)), values.shape[1])


def cell_windows(
    events: ak.Array,
    prefix: str,
    native_shapes: dict,
    path: str,
    sources: Mapping[str, Source],
    entry_start: int,
) -> dict[str, np.ndarray]:
    """Every cell/time window of the chunk's objects: {"cells_lr0": (n_objects, 35), ...},
    objects in event order, from either layout (``egcalib.skim.layouts.cell_windows``)."""
    counts = ak.to_numpy(ak.num(events[f"{prefix}_e"], axis=1))
    return {
        f"{kind}_{layer}": layouts.cell_windows(
            events,
            f"{prefix}_{kind}_{layer}",
            counts,
            native_shapes[layer],
            path,
            sources,
            entry_start,
        )
        for kind in ("cells", "time")
        for layer in contract.LAYERS
    }


def object_inputs(
    events: ak.Array,
    flat: ak.Array,
    prefix: str,
    native_shapes: dict,
    n_tracks: int,
    windows: dict[str, np.ndarray],
) -> tuple[dict, dict, dict]:
    """What a model reads of n objects of a chunk: ``flat`` (n,) records of the collection
    ``prefix`` with ``event_row`` and ``cell_row`` (_objects); ``windows`` the chunk's cell
    windows (cell_windows), one row per object of the chunk.

    Returns (obj, event, inputs): the objects' fields as numpy (n,) with ``mu``, ``n_vertex`` and
    ``particle``; the event fields (EVENT_FIELDS and mcChannelNumber) per object; and
    {"scalars": {scalar column: (n,)}, "windows": {name: (n, cells)}, "tracks": (n, n_tracks,
    11), "track_mask": (n, n_tracks)}."""
    n = len(flat)
    obj = {name: ak.to_numpy(flat[name]) for name in flat.fields}
    rows = obj["event_row"]
    event = {name: ak.to_numpy(events[name])[rows] for name in EVENT_FIELDS}
    event["mcChannelNumber"] = ak.to_numpy(events["mcChannelNumber"])[rows]
    obj["mu"] = event["averageInteractionsPerCrossing"]
    obj["n_vertex"] = event["NvtxReco"]
    particle = contract.PHOTON if prefix == "ph" else contract.ELECTRON
    obj["particle"] = np.full(n, particle, np.int8)
    windows = {name: values[obj["cell_row"]] for name, values in windows.items()}
    tracks = collection(events, "trk", TRACK_FIELDS)[rows]
    track_features, track_mask = nearest_tracks(tracks, flat.eta, flat.phi, n_tracks)
    inputs = {
        "scalars": scalars(obj, windows["cells_lr2"], native_shapes["lr2"]),
        "windows": windows,
        "tracks": track_features,
        "track_mask": track_mask,
    }
    return obj, event, inputs


def chunk_table(
    events: ak.Array,
    selected: ak.Array,
    prefix: str,
    dataset: str,
    file_name: str,
    process: str,
    is_mc: bool,
    native_shapes: dict,
    n_tracks: int,
    schema: pa.Schema,
    windows: dict[str, np.ndarray],
) -> pa.Table:
    """One row per selected object of a chunk, with the full schema. ``windows``: the chunk's
    cell windows (``cell_windows``), one row per object of the chunk."""
    flat = ak.flatten(selected)
    n = len(flat)
    obj, event, inputs = object_inputs(events, flat, prefix, native_shapes, n_tracks, windows)
    nan = np.full(n, np.nan, np.float32)
    columns = {
        "dataset": pa.array([dataset] * n, pa.string()),
        "file": pa.array([file_name] * n, pa.string()),
        "mcChannelNumber": event["mcChannelNumber"],
        "runNumber": event["runNumber"],
        "eventNumber": event["eventNumber"],
        "object_index": obj["object_index"],
        "particle": obj["particle"],
        "pt": obj["e"] / np.cosh(obj["eta"]),
        "eta": obj["eta"],
        "phi": obj["phi"],
        "e_baseline": obj["e"],
        "e_baseline_binned": obj["binned_e"],
        "charge": obj.get("charge", np.zeros(n)),
        "conv_type": obj.get("convType", np.zeros(n)),
        "cl_eta": obj["cl_eta"],
        "cl_phi": obj["cl_phi"],
        **{f"cl_E{i}": obj[f"cl_E{i}"] for i in range(4)},
        # 0 is no truth energy: an unmatched photon candidate of jets (the others are matched).
        "e_truth": np.where(obj["truth_e"] > 0, obj["truth_e"], np.nan) if is_mc else nan,
        "e_label": obj["e_label"],
        "weight": event["mcEventWeight"] if is_mc else np.ones(n, np.float32),
        "m_candidate": obj["m_candidate"],
        **{f"mumu_{k}": obj.get(f"mumu_{k}", nan) for k in ("pt", "eta", "phi", "m")},
        "e_had1": obj["Ehad1"],
        "e_had": obj["Ehad"],
        # Read in MC only (optional_branches): data keeps the -1 of with_optional_fields.
        "truth_origin": obj["truth_origin"],
        **inputs["scalars"],
        **{name: _fixed_size(values) for name, values in inputs["windows"].items()},
        "tracks": _fixed_size(inputs["tracks"].reshape(n, -1)),
        "tracks_mask": _fixed_size(inputs["track_mask"]),
    }
    arrays = [
        columns[f.name]
        if isinstance(columns[f.name], pa.Array)
        else pa.array(np.asarray(columns[f.name]).astype(f.type.to_pandas_dtype()), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def skim_file(
    path: str,
    out_parquet: str,
    out_cutflow: str,
    *,
    dataset: str,
    file_name: str,
    kind: str,
    process: str,
    ntuple: dict,
    selection: dict,
    skim: dict,
    native_shapes: dict,
    out_events: str | None = None,
) -> Cutflow:
    """Skim one ROOT file; write the object table and the cutflow JSON atomically.

    Every branch is read as its contract type (flags of any integer type as bool), collections
    are checked to line up, energies to be plausible in GeV, and cell windows (flat or one list
    per object) to have the native shapes; a violation raises NtupleContentError (an
    InputFileError) naming the file, the branch and what was found, and leaves no output. A
    first kinematic cut that removes every object is logged and listed under "warnings" in the
    cutflow JSON.

    Entries that repeat an earlier entry's event (egcalib.skim.duplicates) are dropped and counted
    ("first copy of each event"), or raise DuplicateEventsError under ``skim["duplicates"]``
    "error"; objects with a non-finite input are dropped and counted per branch ("finite
    inputs", ``"nonfinite"`` in the cutflow JSON); a non-finite MC weight raises
    NtupleContentError. ``out_events``: where to write the identity of every event read (first
    copies; Parquet, egcalib.skim.duplicates.IDENTITY), which the dataset's duplicates search reads.
    """
    is_mc = kind == "mc"
    prefix = collection_prefix(process)
    # The selection holds the blocks of this process only (settings.selection_of).
    triggers = [selection[process]["trigger"]] if process in ("zee", "zmumug") else []
    names = needed_branches(process, is_mc, triggers)
    schema = arrow_schema(native_shapes)
    cutflow = Cutflow()
    copies = FirstCopies()
    identities = []
    nonfinite: dict[str, int] = {}
    label = process == "zee" and (not is_mc or selection["data_label"]["label_mc"])
    with atomic_path(out_parquet) as tmp, pq.ParquetWriter(tmp, schema) as writer:
        for events, entry_start, sources in iterate(
            path,
            ntuple["tree"],
            names,
            ntuple["branches"],
            skim["step_size"],
            optional=optional_branches(process, is_mc),
            dtypes=dict.fromkeys(triggers, "bool"),
            report=True,
        ):
            layouts.check_collections(events, path, sources, entry_start)
            # A jet's photon candidate is a fake: mostly matched to no truth particle, truth_e 0.
            unmatched = [f"{prefix}_truth_e"] if process == "jets" else []
            plausibility.check_energies(events, path, sources, zero_is_absent=unmatched)
            if is_mc:
                check_weights(events, path, sources, entry_start)
            windows = cell_windows(events, prefix, native_shapes, path, sources, entry_start)
            events = with_optional_fields(events, prefix)
            counts = ak.to_numpy(ak.num(events[f"{prefix}_e"], axis=1))
            first = copies.first(events.mcChannelNumber, events.runNumber, events.eventNumber)
            pre = Cutflow()
            pre.add("all", len(events), counts.sum())
            if skim["duplicates"] == "error" and not first.all():
                repeated = ak.to_numpy(events.eventNumber)[~first]
                raise DuplicateEventsError(
                    f"{path}: {np.sum(~first)} entries repeat an earlier entry's event "
                    f"(mcChannelNumber, runNumber, eventNumber), e.g. eventNumber "
                    f"{repeated[:5].tolist()} (skim.duplicates: error)"
                )
            events = events[first]
            identities.append({name: ak.to_numpy(events[name]) for name in IDENTITY})
            windows = {name: values[np.repeat(first, counts)] for name, values in windows.items()}
            pre.add("first copy of each event", len(events), counts[first].sum())
            fields = ELECTRON_FIELDS if prefix == "el" else PHOTON_FIELDS
            objects = indexed_objects(events, prefix, fields, is_mc)
            objects, dropped = finite_objects(
                events, objects, windows, prefix, _checked_fields(fields, is_mc)
            )
            for name, count in dropped.items():
                nonfinite[name] = nonfinite.get(name, 0) + count
            if process == "zee":
                selected, flow = select_zee(events, objects, selection, is_mc, label)
            elif process == "zmumug":
                muons = collection(events, "mu", MUON_FIELDS)
                selected, flow = select_zmumug(events, objects, muons, selection, is_mc)
            elif process == "pgun":
                selected, flow = select_pgun(events, objects, selection, is_mc)
            elif process == "jets":
                selected, flow = select_jets(events, objects, selection, is_mc)
            else:
                selected, flow = select_egun(events, objects, selection, is_mc)
            # The selection counts from the objects with finite inputs.
            flow.steps[0]["cut"] = "finite inputs"
            pre.steps += flow.steps
            pre.kinematic = flow.kinematic
            flow = pre
            cutflow += flow
            if ak.sum(ak.num(selected)) > 0:
                writer.write_table(
                    chunk_table(
                        events,
                        selected,
                        prefix,
                        dataset=dataset,
                        file_name=file_name,
                        process=process,
                        is_mc=is_mc,
                        native_shapes=native_shapes,
                        n_tracks=selection["n_tracks"],
                        schema=schema,
                        windows=windows,
                    )
                )
    warnings = cutflow.warnings()
    if nonfinite:
        warnings.append(
            "objects with non-finite inputs dropped (per branch): "
            + ", ".join(f"{name} {count}" for name, count in sorted(nonfinite.items()))
        )
    for warning in warnings:
        log.warning("%s: %s", path, warning)
    summary = {
        "dataset": dataset,
        "file": file_name,
        "kind": kind,
        "process": process,
        "steps": cutflow.steps,
        "nonfinite": dict(sorted(nonfinite.items())),
        "warnings": warnings,
    }
    if out_events is not None:
        write_identities(identities, out_events)
    with atomic_path(out_cutflow) as tmp:
        Path(tmp).write_text(json.dumps(summary, indent=1))
    log.info("%s: %s", path, cutflow.steps[-1] if cutflow.steps else "no events")
    return cutflow
