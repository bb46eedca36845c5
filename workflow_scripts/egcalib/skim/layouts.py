"""How the per-object data of an event line up: collection sizes and cell windows.

Every ``el_*`` branch must have one entry per electron (``ph_*`` per photon, ...): a branch
mapped to another collection (a truth record with its own length) would be zipped against the
wrong objects, so it stops the job with both branches, their sizes and the first event where
they differ. Cell/time windows come in two layouts, told apart by the list depth uproot reads:

- flat: one list per event, the windows of all objects back to back (n_objects x cells), as the
  simulator writes them (uproot 5.7 does not round-trip ``float[][35]``);
- nested: one inner list per object (``vector<vector<float>>``), as ntuple makers write them.

Both become one (n_objects, cells) float32 matrix per chunk, objects in event order.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import awkward as ak
import numpy as np

from egcalib.core import contract
from egcalib.skim.branch_mapping import NtupleContentError

# The branch each collection's size is taken from (the first present).
REFERENCE_FIELDS = ("e", "pt", "eta")


def _where(events, row: int, entry_start: int) -> str:
    """'entry N (eventNumber M)' for error messages."""
    text = f"entry {entry_start + row}"
    if "eventNumber" in events.fields:
        text += f" (eventNumber {int(events['eventNumber'][row])})"
    return text


def _source(sources: Mapping, name: str) -> str:
    return str(sources[name]) if name in sources else name


def first_difference(found: np.ndarray, expected: np.ndarray | int) -> tuple[int, int] | None:
    """Where sizes disagree, for the error that names the first place: ``found`` (n,) against
    ``expected`` (n,, or one size for all), as (the first index where they differ, how many
    differ); None where all agree."""
    differ = np.flatnonzero(found != expected)
    return (int(differ[0]), len(differ)) if len(differ) else None


def collection_reference(fields: Collection[str], prefix: str) -> str | None:
    """The logical name whose per-event length defines collection ``prefix``."""
    for field in REFERENCE_FIELDS:
        if f"{prefix}_{field}" in fields:
            return f"{prefix}_{field}"
    return None


def check_collections(events: ak.Array, path: str, sources: Mapping, entry_start: int = 0) -> None:
    """Raise NtupleContentError if a per-object field of a collection has another length in some
    event than the collection's reference field (``el_e`` for ``el_*``, ...).

    ``events``: one record per event, per-object fields jagged (n_events, var). The message names
    the file, both logical names with their branches, their sizes and the first entry (and
    eventNumber) where they differ, and how many events differ. ``sources``: logical name ->
    branch (or alias) read, for the message; ``entry_start``: the chunk's first entry.
    """
    fields = [
        f for f in events.fields if contract.is_per_object(f) and not contract.is_cell_window(f)
    ]
    for prefix in contract.COLLECTIONS:
        reference = collection_reference(fields, prefix)
        if reference is None:
            continue
        counts = ak.to_numpy(ak.num(events[reference], axis=1))
        for name in fields:
            if not name.startswith(prefix + "_") or name == reference:
                continue
            other = ak.to_numpy(ak.num(events[name], axis=1))
            differ = first_difference(other, counts)
            if differ is not None:
                row, n_differ = differ
                raise NtupleContentError(
                    f"{path}: collections do not line up: {_source(sources, name)} has "
                    f"{other[row]} entries but {_source(sources, reference)} has {counts[row]} "
                    f"in {_where(events, row, entry_start)} ({n_differ} of {len(counts)} "
                    f"events differ in this step): {name} must come from the {prefix}_* "
                    "collection, one entry per object (a truth or other collection of another "
                    "size cannot be joined by position)"
                )


def cell_windows(
    events: ak.Array,
    name: str,
    counts: np.ndarray,
    shape: Sequence[int],
    path: str,
    sources: Mapping,
    entry_start: int = 0,
) -> np.ndarray:
    """The windows of logical branch ``name`` as a (sum(counts), prod(shape)) float32 matrix.

    ``counts``: objects per event (n_events,). ``shape``: the layer's native (eta, phi) shape.
    The layout (flat per event, or one inner list per object) is read from the list depth.
    Raises NtupleContentError naming the file, the branch, the event (entry and eventNumber),
    the object index for the nested layout, the size found and the expected shape.
    """
    values = events[name]
    size = int(np.prod(shape))
    what = f"{path}: {_source(sources, name)}"
    expected = f"expected {size} cells per object ({shape[0]}x{shape[1]}, eta-major)"
    if values.ndim == 2:  # flat: n_objects x size values per event
        found = ak.to_numpy(ak.num(values, axis=1))
        differ = first_difference(found, counts * size)
        if differ is not None:
            row = differ[0]
            raise NtupleContentError(
                f"{what}: flat cell windows: {_where(events, row, entry_start)} has "
                f"{found[row]} values for {counts[row]} objects, {expected} "
                f"({counts[row] * size} in all)"
            )
        flat = ak.to_numpy(ak.flatten(values, axis=1))
    elif values.ndim == 3:  # nested: one inner list per object
        windows = ak.to_numpy(ak.num(values, axis=1))
        differ = first_difference(windows, counts)
        if differ is not None:
            row = differ[0]
            raise NtupleContentError(
                f"{what}: {_where(events, row, entry_start)} has {windows[row]} cell windows "
                f"for {counts[row]} objects: one inner list per object expected"
            )
        per_object = ak.flatten(values, axis=1)
        found = ak.to_numpy(ak.num(per_object, axis=1))
        wrong = first_difference(found, size)
        if wrong is not None:
            first = wrong[0]
            row = int(np.searchsorted(np.cumsum(counts), first, side="right"))
            index = first - (int(np.sum(counts[:row])))
            raise NtupleContentError(
                f"{what}: object {index} of {_where(events, row, entry_start)} has "
                f"{found[first]} cells, {expected}"
            )
        flat = ak.to_numpy(ak.flatten(per_object, axis=1))
    else:
        raise NtupleContentError(
            f"{what}: stored as {ak.type(values).content}, expected one "
            "flat list of cells per event or one inner list per object"
        )
    return np.asarray(flat, dtype=np.float32).reshape(-1, size)
