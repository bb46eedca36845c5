"""Non-finite inputs never reach a model or a fit (docs/design.md#selections-and-labels).

A NaN or infinite cell, time, track or object value is a broken object (a bad readout, a failed
reconstruction step), not physics: the skim drops every object that carries one, before any cut,
and counts the objects per logical branch in the cutflow ("finite inputs"). A non-finite MC
event weight stops the skim instead: it would bias every weighted fit of the file, and dropping
events by weight would bias it too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import awkward as ak
import numpy as np

from egcalib.skim.branch_mapping import NtupleContentError, Source

WEIGHT = "mcEventWeight"
# Event values that reach a model (the scalars mu and N_vtx): a non-finite one drops the objects.
EVENT_INPUTS = ("averageInteractionsPerCrossing",)


def check_weights(
    events: ak.Array, path: str, sources: Mapping[str, Source], entry_start: int
) -> None:
    """Raise NtupleContentError naming file, branch, entries and values when an MC event weight
    (``mcEventWeight``, (n_events,)) is NaN or infinite."""
    weights = ak.to_numpy(events[WEIGHT]).astype(np.float64)
    bad = np.nonzero(~np.isfinite(weights))[0]
    if len(bad):
        source = sources[WEIGHT]
        raise NtupleContentError(
            f"{path}: {len(bad)} non-finite MC event weights ({WEIGHT}, branch "
            f"{source.expression}) at entries {(bad[:5] + entry_start).tolist()} with values "
            f"{weights[bad[:5]].tolist()}: a weight cannot be dropped without biasing the fits"
        )


def _finite_per_object(values) -> ak.Array:
    """Jagged bool per object: a jagged (events, objects) or (events, objects, k) array finite."""
    finite = np.isfinite(values)
    while finite.ndim > 2:
        finite = ak.all(finite, axis=-1)
    return finite


def finite_objects(
    events: ak.Array, objects: ak.Array, windows: dict, prefix: str, fields: Iterable[str]
) -> tuple[ak.Array, dict[str, int]]:
    """The objects whose every numeric input is finite, and the count per logical branch.

    ``objects``: the jagged collection (events x objects) with ``cell_row``, its row in the
    (n_objects, cells) arrays of ``windows`` ({"cells_lr0": ..., "time_lr3": ...}); ``fields``
    the collection's fields checked (floats; integers and flags are always finite). Also
    checked: the event's tracks (``trk_*``: any non-finite track drops the event's objects,
    whose nearest tracks are inputs) and ``EVENT_INPUTS``. Returns (objects, {logical branch:
    objects with a non-finite value}), counts only of non-zero branches; an object may be
    counted under several branches.
    """
    checks = {}
    for name in fields:
        values = objects[name]
        if np.issubdtype(ak.to_numpy(ak.flatten(values, axis=None)).dtype, np.floating):
            checks[f"{prefix}_{name}"] = _finite_per_object(values)
    rows = ak.to_numpy(ak.flatten(objects.cell_row))
    counts = ak.num(objects.cell_row)
    for name, values in windows.items():
        finite_rows = np.isfinite(values).all(axis=1)
        checks[f"{prefix}_{name}"] = ak.unflatten(finite_rows[rows], counts)
    ones = ak.ones_like(objects.cell_row, dtype=bool)
    for name in events.fields:
        if name.startswith("trk_") or name in EVENT_INPUTS:
            values = events[name]
            if not np.issubdtype(ak.to_numpy(ak.flatten(values, axis=None)).dtype, np.floating):
                continue
            finite = (
                ak.all(np.isfinite(values), axis=-1) if values.ndim > 1 else np.isfinite(values)
            )
            checks[name] = ones & finite  # the event's verdict broadcast to its objects
    keep = ones
    dropped = {}
    for name, finite in checks.items():
        n_bad = int(ak.sum(~finite))
        if n_bad:
            dropped[name] = n_bad
            keep = keep & finite
    return objects[keep], dropped
