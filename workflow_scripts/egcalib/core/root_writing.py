"""Writing ROOT TTrees with uproot, atomically.

uproot 5.7 writes an RNTuple for ``file[name] = {...}``, and does not round-trip jagged arrays of
fixed-size arrays, so trees are made with ``mktree``/``extend`` and cell windows are stored as one
flat jagged branch per event (docs/design.md#input-ntuple-contract). Jagged branches of one
collection (``el_*``, ``ph_*``, ...) that share the object count share one counter branch (``nel``,
``nph``, ...)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import cell_branches

WINDOW_BRANCHES = frozenset(cell_branches("el") + cell_branches("ph"))


def _as_branch_array(values, dtype: str):
    if isinstance(values, ak.Array):
        return ak.values_astype(values, dtype)
    return np.asarray(values, dtype=dtype)


def _group(
    chunk: Mapping[str, object], dtypes: Mapping[str, str]
) -> dict[str, np.ndarray | ak.Array]:
    """Zip the jagged per-object branches of each collection so they share one counter.

    Cell and time windows (length n_objects x cells) keep counters of their own. Grouping is by
    name, never by the data, so every chunk of a file gets the same tree layout.
    """
    grouped: dict[str, np.ndarray | ak.Array] = {}
    collections: dict[str, dict[str, ak.Array]] = {}
    for name, values in chunk.items():
        array = _as_branch_array(values, dtypes.get(name, "float32"))
        if isinstance(array, ak.Array) and name not in WINDOW_BRANCHES:
            prefix, field = name.split("_", 1)
            collections.setdefault(prefix, {})[field] = array
        else:
            grouped[name] = array
    for prefix, members in collections.items():
        grouped[prefix] = ak.zip(members)
    return grouped


def write_tree(
    path: str | Path,
    tree: str,
    chunks: Iterable[Mapping[str, object]],
    dtypes: Mapping[str, str] | None = None,
) -> None:
    """Write ``chunks`` (dicts of branch name -> numpy or jagged awkward array) as one TTree.

    The file appears under ``path`` only once it is complete. ``dtypes`` maps branch names to
    numpy dtype strings (default float32).
    """
    dtypes = dict(dtypes or {})
    with atomic_path(path) as tmp, uproot.recreate(tmp) as file:
        out = None
        for chunk in chunks:
            grouped = _group(chunk, dtypes)
            if out is None:
                out = file.mktree(
                    tree,
                    {
                        name: (ak.type(value) if isinstance(value, ak.Array) else value.dtype)
                        for name, value in grouped.items()
                    },
                    counter_name=lambda counted: f"n{counted}",
                )
            out.extend(grouped)
        if out is None:
            raise ValueError(f"{path}: no chunks to write")
