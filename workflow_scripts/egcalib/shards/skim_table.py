"""The skimmed object table read back as arrays (docs/design.md#selections-and-labels).

The skim writes one row per object (egcalib.skim.skimming); the shards stage and the normalisation
both read it back: fixed-size list columns (cells, tracks) as 2D numpy arrays, and the cluster
energy E_acc with the regression targets derived from it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def fixed_size(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A fixed-size-list Arrow column (or chunked column) of n rows and list size k as an (n, k)
    numpy array of its value type (pandas would make Python objects)."""
    array = column.combine_chunks() if hasattr(column, "combine_chunks") else column
    return array.flatten().to_numpy().reshape(len(array), array.type.list_size)


def e_acc(table: pa.Table) -> np.ndarray:
    """E_acc = E1 + E2 + E3 of the cluster (n,) float64 [GeV]: what the network's correction
    multiplies."""
    return sum(table[f"cl_E{i}"].to_numpy().astype(np.float64) for i in (1, 2, 3))


def targets(table: pa.Table) -> dict[str, np.ndarray]:
    """Regression targets of the objects of ``table``, each (n,) float32: ``target`` E_true /
    E_acc (MC), ``label_target`` E_label / E_acc (data), NaN where absent or where E_acc <= 0,
    and ``e_acc`` [GeV]."""
    acc = e_acc(table)
    safe = np.where(acc > 0, acc, np.nan)
    return {
        "target": (table["e_truth"].to_numpy() / safe).astype(np.float32),
        "label_target": (table["e_label"].to_numpy() / safe).astype(np.float32),
        "e_acc": acc.astype(np.float32),
    }
