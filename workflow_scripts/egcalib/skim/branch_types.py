"""Contract types of the logical branches: what a stored branch becomes after reading.

Ntuple makers store the same quantity in many ways: a trigger flag as ``Bool_t``, ``Char_t``,
``UChar_t`` or ``Int_t``; an ID flag as ``vector<bool>``, ``vector<char>`` or ``vector<int>``;
a charge as ``int`` or ``float``; an energy as ``float``, ``double`` or ``Double32_t``. Each
logical name has one contract type (``contract.logical_dtypes``), and every array is converted
to it right after reading, so nothing downstream sees a storage type:

- flags (``bool``): true when non-zero, for any integer or char type; anything else is an error;
- integers: any integer width (values checked against the target range), bool, or floats that
  are all whole numbers;
- floats: any integer, float or bool type.

A flag used as a mask must be boolean: an integer array indexes instead of selecting (an int8
trigger of 0/1 once turned every event into a copy of event 1), so ``require_mask`` refuses
anything else.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from egcalib.core import contract
from egcalib.skim.branch_mapping import NtupleContentError

_WRAPPERS = (
    ak.contents.RegularArray,
    ak.contents.ListArray,
    ak.contents.ListOffsetArray,
    ak.contents.IndexedArray,
    ak.contents.IndexedOptionArray,
    ak.contents.ByteMaskedArray,
    ak.contents.BitMaskedArray,
    ak.contents.UnmaskedArray,
)


def _innermost(array):
    """The layout node that holds the values (below every list and option node)."""
    layout = ak.to_layout(array)
    while isinstance(layout, _WRAPPERS) and layout.parameter("__array__") not in (
        "string",
        "bytestring",
    ):
        layout = layout.content
    return layout


def primitive_dtype(array: np.ndarray | ak.Array) -> np.dtype | None:
    """The numpy dtype of the values of a (possibly jagged) array; None for strings, records or
    other non-numeric content, and for an array whose type is unknown (empty)."""
    layout = _innermost(array)
    if (
        isinstance(layout, ak.contents.NumpyArray)
        and not layout.inner_shape
        and layout.parameter("__array__") not in ("char", "byte")
    ):
        return layout.dtype
    return None


def expected_depths(name: str) -> tuple[int, ...]:
    """Allowed list depths of a logical name: 1 per event, 2 per object, and 2 or 3 for cell
    windows (one flat list per event, or one inner list per object)."""
    if contract.is_cell_window(name):
        return (2, 3)
    return (2,) if contract.is_per_object(name) else (1,)


def _flat_values(array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=None)) if array.ndim > 1 else ak.to_numpy(array)


def coerce(array: np.ndarray | ak.Array, dtype: str, what: str) -> np.ndarray | ak.Array:
    """``array`` (numpy or awkward, any list depth) converted to the contract ``dtype``.

    ``what`` describes the source for errors (file, logical name, branch and its type). Raises
    NtupleContentError when the stored type cannot be converted: a non-numeric type, a float
    flag, floats with fractions for an integer, or integers out of the target's range.
    """
    target = np.dtype(dtype)
    array = ak.Array(array) if not isinstance(array, ak.Array) else array
    source = primitive_dtype(array)
    if source is None:
        if isinstance(_innermost(array), ak.contents.EmptyArray):  # no values, no type
            return ak.values_astype(array, target)
        raise NtupleContentError(
            f"{what}: stored type {ak.type(array)} cannot be read as {target} (not a number)"
        )
    if source == target:
        return array
    if target == np.bool_:
        if source.kind in "iu":
            return array != 0  # any integer or char type: true when non-zero
        raise NtupleContentError(
            f"{what}: stored as {source}, which cannot be read as a flag "
            "(a flag must be bool or an integer/char type, true when "
            "non-zero)"
        )
    if target.kind in "iu":
        values = _flat_values(array)
        if source.kind == "f":
            bad = ~np.isfinite(values) | (values != np.round(values))
            if bad.any():
                raise NtupleContentError(
                    f"{what}: stored as {source} with values that are not whole numbers "
                    f"(e.g. {values[bad][:3].tolist()}), cannot be read as {target}"
                )
        if source.kind in "iuf" and len(values):
            info = np.iinfo(target)
            if values.min() < info.min or values.max() > info.max:
                raise NtupleContentError(
                    f"{what}: values {values.min()}..{values.max()} do not fit in {target}"
                )
        elif source.kind not in "biuf":
            raise NtupleContentError(f"{what}: stored as {source}, cannot be read as {target}")
        return ak.values_astype(array, target)
    if target.kind == "f" and source.kind in "biuf":
        return ak.values_astype(array, target)
    raise NtupleContentError(f"{what}: stored as {source}, cannot be read as {target}")


def coerce_events(
    events: ak.Array, dtypes: Mapping[str, str], sources: Mapping, path: str
) -> ak.Array:
    """Every field of ``events`` (one record per event) with its list depth checked and its
    values converted to ``dtypes[field]``; fields without a dtype keep their stored type.

    ``sources`` maps each field to its ``branches.Source`` for the error messages. Raises
    NtupleContentError naming the file, the logical name, the branch and its type.
    """
    converted = {}
    for name in events.fields:
        array = events[name]
        what = f"{path}: {sources.get(name, name)}"
        depths = expected_depths(name)
        if array.ndim not in depths:
            per = {
                1: "one value per event",
                2: "one list per event (one value per object)",
                3: "one inner list per object",
            }
            raise NtupleContentError(
                f"{what}: stored as {ak.type(array).content}, expected "
                f"{' or '.join(per[d] for d in depths)}"
            )
        converted[name] = coerce(array, dtypes[name], what) if name in dtypes else array
    if not converted:
        return events
    return ak.zip(converted, depth_limit=1)


def require_mask(values: np.ndarray | ak.Array, what: str) -> np.ndarray | ak.Array:
    """``values`` if it is boolean; TypeError otherwise (an integer array would index events
    instead of selecting them)."""
    dtype = primitive_dtype(values)
    if dtype is not None and dtype != np.bool_:
        raise TypeError(
            f"{what} is {dtype}, not bool: flags must be converted to bool on read "
            "(egcalib.skim.branch_types.coerce); an integer array would index, not select"
        )
    return values
