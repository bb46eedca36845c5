"""Friend trees of calibrated energies: every electron or photon of an ntuple through one or more
self-contained calibrations (a network's: egcalib.infer.calibration_onnx; a BDT control's:
egcalib.bdt.calibration_onnx), written as a ROOT file with the input's entries in the input's
order, so it can be read beside the ntuple (uproot, or ROOT's TTree::AddFriend).

The friend tree holds ``runNumber`` and ``eventNumber`` (to check the alignment) and, per
calibration, ``el_e_<model>`` or ``ph_e_<model>`` [GeV] (and ``..._sigma`` for MDN models):
jagged like the input's collection, one value per object. Every object of the collection is
calibrated: no kinematic or identification selection is applied (the analysis selects), so
objects the workflow's selection would drop get the model's energy too, outside the phase space
it was trained on. Objects with a NaN or infinite input (egcalib.skim.finite_inputs) get NaN,
counted in the returned summary: never a number made from a broken input.

Reading follows the ntuple contract exactly as the skim does (branch mapping, types, cell
layouts, plausibility), so a file the skim refuses is refused here with the same message.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import awkward as ak
import numpy as np

from egcalib.core import contract
from egcalib.core.atomic import atomic_path
from egcalib.skim import layouts, plausibility
from egcalib.skim.finite_inputs import finite_objects
from egcalib.skim.reading import iterate
from egcalib.skim.skimming import (
    ELECTRON_FIELDS,
    EVENT_FIELDS,
    PHOTON_FIELDS,
    TRACK_FIELDS,
    cell_windows,
    indexed_objects,
    object_inputs,
    with_optional_fields,
)

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger(__name__)
PREFIX = {"electron": "el", "photon": "ph"}


@dataclass
class Calibration:
    """One exported calibration: its ONNX session and what its metadata say."""

    path: str
    name: str
    particle: str
    session: onnxruntime.InferenceSession
    metadata: dict[str, str]  # the file's metadata map (egcalib.infer.calibration_onnx)

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Open ``path`` (model.onnx of the export_onnx or export_onnx_bdt rule) with onnxruntime
        on the CPU. Raises ValueError naming the file when its metadata lack the model name,
        particle or inputs (not a self-contained egcalib calibration)."""
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        meta = session.get_modelmeta().custom_metadata_map
        missing = [key for key in ("model_name", "particle", "inputs") if key not in meta]
        if missing:
            raise ValueError(
                f"{path}: not a self-contained egcalib calibration (metadata lack {missing}); "
                "export it with the workflow's export_onnx or export_onnx_bdt rule"
            )
        return cls(str(path), meta["model_name"], meta["particle"], session, dict(meta))

    @functools.cached_property
    def input_shapes(self) -> dict[str, list[int]]:
        """Its inputs' shapes per object, from its metadata (input name -> shape)."""
        return {name: spec["shape"] for name, spec in json.loads(self.metadata["inputs"]).items()}

    @property
    def native_shapes(self) -> dict[str, list[int]]:
        """The cell windows it reads (layer -> [eta, phi]): a network's cell inputs' shapes; a
        BDT's, which reads only the scalars, the windows the skim computed them from (metadata
        ``native_shapes``, egcalib.bdt.calibration_onnx). Raises ValueError naming the file
        when it says neither."""
        cells = {
            name.split("_", 1)[1]: shape
            for name, shape in self.input_shapes.items()
            if name.startswith("cells_")
        }
        if cells:
            return cells
        if "native_shapes" not in self.metadata:
            raise ValueError(
                f"{self.path}: its metadata give neither cell inputs nor the native_shapes of "
                "the windows its scalars come from; export it with the workflow's rules"
            )
        return json.loads(self.metadata["native_shapes"])

    @property
    def n_tracks(self) -> int | None:
        """The number of nearest tracks it reads, None when it reads no tracks."""
        mask = self.input_shapes.get("track_mask")
        return None if mask is None else mask[0]

    @property
    def branch(self) -> str:
        """The friend branch of its energies, e.g. ``el_e_recommended``."""
        return f"{PREFIX[self.particle]}_e_{self.name}"

    @property
    def branches(self) -> list[str]:
        """Its friend branches: the energy's and, for an MDN model, its sigma's (``_sigma``)."""
        outputs = [o.name for o in self.session.get_outputs()]
        return [self.branch] + ([f"{self.branch}_sigma"] if len(outputs) > 1 else [])

    def energies(self, raw: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """The calibrated energy (n,) [GeV], and sigma (n,) [GeV] for MDN models, of n objects'
        raw inputs (the session's input names -> float32 arrays)."""
        feed = {i.name: np.asarray(raw[i.name], np.float32) for i in self.session.get_inputs()}
        if len(next(iter(feed.values()))) == 0:
            return [np.zeros(0, np.float32) for _ in self.session.get_outputs()]
        return list(self.session.run(None, feed))


def calibration_feed(inputs: dict, native_shapes: dict) -> dict[str, np.ndarray]:
    """The calibration inputs (infer.calibration_onnx.raw_inputs names) of n objects from the
    skim's object_inputs: cell windows (n, eta, phi), scalars (n, 16) in contract order, tracks
    (n, 10, 11) and their mask (n, 10), float32."""
    windows = inputs["windows"]
    raw = {
        name: values.reshape(len(values), *native_shapes[name.split("_", 1)[1]])
        for name, values in windows.items()
    }
    raw["scalars"] = np.stack(
        [inputs["scalars"][column] for column in contract.SCALAR_COLUMNS], axis=1
    )
    raw["tracks"] = inputs["tracks"]
    raw["track_mask"] = inputs["track_mask"]
    return raw


def decorate(
    in_path: str,
    out_path: str | Path,
    calibrations: Sequence[Calibration],
    *,
    tree: str = "egamma",
    branches: Mapping[str, str] | None = None,
    step_size: int | str = 5000,
) -> dict:
    """Write the friend tree of ``in_path`` (tree ``tree``; ``branches``: the config's
    ntuple.branches mapping) with every calibration's energies to ``out_path``, atomically (a
    failure leaves no file). The cell-window shapes and the number of tracks are the
    calibrations' (a network's inputs'; a BDT's windows from its metadata). Returns
    {"entries", "objects": {branch: n}, "nonfinite": {branch: n}}. Raises the skim's errors
    (InputFileError, NtupleContentError) naming the file and the branch for what the contract
    forbids, and ValueError for no calibration or calibrations that want different windows or
    numbers of tracks (Calibration.native_shapes, n_tracks)."""
    import uproot

    if not calibrations:
        raise ValueError("no calibration to apply")
    windows = {json.dumps(c.native_shapes, sort_keys=True) for c in calibrations}
    tracks = {c.n_tracks for c in calibrations if c.n_tracks is not None}
    if len(windows) > 1 or len(tracks) > 1:
        raise ValueError(
            "the calibrations read different cell windows or tracks: "
            + ", ".join(f"{c.path}: {c.input_shapes}" for c in calibrations)
        )
    native_shapes = calibrations[0].native_shapes
    # Without a network among them no input holds tracks: any number serves.
    n_tracks = tracks.pop() if tracks else contract.N_TRACKS
    particles = sorted({c.particle for c in calibrations})
    names = list(EVENT_FIELDS) + [f"trk_{f}" for f in TRACK_FIELDS]
    optional = ["mcChannelNumber"]
    for particle in particles:
        prefix = PREFIX[particle]
        fields = PHOTON_FIELDS if prefix == "ph" else ELECTRON_FIELDS
        names += [f"{prefix}_{f}" for f in fields] + contract.cell_branches(prefix)
        optional += contract.optional_branches(prefix)
    summary: dict = {"entries": 0, "objects": {}, "nonfinite": {}}
    types = {"runNumber": "int32", "eventNumber": "int64"}
    for calibration in calibrations:
        for branch in calibration.branches:
            types[branch] = "var * float32"
    with atomic_path(out_path) as tmp, uproot.recreate(tmp) as out:
        # One counter per collection (nel, nph), shared by its calibrations' branches.
        out.mktree(tree, types, counter_name=lambda counted: "n" + counted.split("_", 1)[0])
        for events, entry_start, sources in iterate(
            in_path, tree, names, branches or {}, step_size, optional=optional, report=True
        ):
            layouts.check_collections(events, in_path, sources, entry_start)
            plausibility.check_energies(events, in_path, sources)
            chunk = {
                "runNumber": ak.to_numpy(events.runNumber).astype(np.int32),
                "eventNumber": ak.to_numpy(events.eventNumber).astype(np.int64),
            }
            for particle in particles:
                mine = [c for c in calibrations if c.particle == particle]
                chunk.update(
                    _calibrate(
                        events,
                        PREFIX[particle],
                        mine,
                        in_path,
                        sources,
                        entry_start,
                        native_shapes,
                        n_tracks,
                        summary,
                    )
                )
            summary["entries"] += len(events)
            out[tree].extend(chunk)
    log.info("%s -> %s: %s", in_path, out_path, json.dumps(summary))
    return summary


def _calibrate(
    events, prefix, calibrations, path, sources, entry_start, native_shapes, n_tracks, summary
) -> dict[str, ak.Array]:
    """One collection's friend branches for a chunk: {branch: jagged (events x objects)}, NaN
    where an input is not finite."""
    windows = cell_windows(events, prefix, native_shapes, path, sources, entry_start)
    events = with_optional_fields(events, prefix)
    fields = PHOTON_FIELDS if prefix == "ph" else ELECTRON_FIELDS
    objects = indexed_objects(events, prefix, fields, False)
    counts = ak.to_numpy(ak.num(objects.e))
    finite, _ = finite_objects(events, objects, windows, prefix, fields)
    flat = ak.flatten(finite)
    _, _, inputs = object_inputs(events, flat, prefix, native_shapes, n_tracks, windows)
    raw = calibration_feed(inputs, native_shapes)
    # The objects' places among all the chunk's objects, in event then object order.
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    place = offsets[ak.to_numpy(flat.event_row)] + ak.to_numpy(flat.object_index)
    total = int(counts.sum())
    values = {}
    for calibration in calibrations:
        for branch, output in zip(calibration.branches, calibration.energies(raw), strict=True):
            column = np.full(total, np.nan, np.float32)
            column[place] = output
            values[branch] = ak.unflatten(column, counts)
        branch = calibration.branch
        summary["objects"][branch] = summary["objects"].get(branch, 0) + total
        summary["nonfinite"][branch] = summary["nonfinite"].get(branch, 0) + total - len(place)
    return values
