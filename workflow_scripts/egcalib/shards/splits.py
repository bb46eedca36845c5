"""Deterministic train/val/test assignment from a hash of (runNumber, eventNumber, dataset).

Both objects of an event share a split, and adding files never moves an existing object: the
split depends on nothing but the event's own ids and the configured salt and fractions.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    import pyarrow as pa

SPLITS = ("train", "val", "test")
_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """A well-mixing 64-bit finaliser (SplitMix64), vectorised; wraps modulo 2^64."""
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return x ^ (x >> np.uint64(31))


def dataset_key(dataset: str, salt: str) -> np.uint64:
    """A stable 64-bit key of a dataset name (not Python's per-process hash())."""
    return np.uint64(
        int.from_bytes(hashlib.sha256(f"{salt}/{dataset}".encode()).digest()[:8], "little")
    )


def event_uniform(run: ArrayLike, event: ArrayLike, dataset: str, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per event (n,) float64, a pure function of its ids: run and
    event numbers (n,) (non-negative integers), the dataset's name and the salt."""
    run = np.asarray(run).astype(np.uint64)
    event = np.asarray(event).astype(np.uint64)
    mixed = _splitmix64(_splitmix64(event ^ dataset_key(dataset, salt)) ^ run)
    return (mixed >> np.uint64(11)).astype(np.float64) / float(2**53)


def assign_splits(
    run: ArrayLike, event: ArrayLike, dataset: str, fractions: dict, salt: str
) -> np.ndarray:
    """Split index per object (n,) int8 (0 train, 1 val, 2 test, see SPLITS) from its event's
    run and event numbers (n,), its dataset's name and the configured ``fractions`` (split name
    -> fraction) and ``salt``. Raises ValueError unless the fractions are non-negative and sum
    to 1."""
    weights = np.array([fractions[name] for name in SPLITS], float)
    if np.any(weights < 0) or not np.isclose(weights.sum(), 1.0):
        raise ValueError(f"splits: fractions {fractions} must be non-negative and sum to 1")
    edges = np.cumsum(weights)[:-1]
    return np.searchsorted(edges, event_uniform(run, event, dataset, salt), side="right").astype(
        np.int8
    )


def table_dataset(table: pa.Table) -> str:
    """The dataset of a skim table (a skim file holds one): its first row's; "" for no rows."""
    return table["dataset"][0].as_py() if table.num_rows else ""


def table_splits(table: pa.Table, splits: dict) -> np.ndarray:
    """Split index per row (n_rows,) int8 of a skim table (columns runNumber, eventNumber and
    dataset), as ``assign_splits`` gives it under the ``splits`` config (fractions, salt): the
    one assignment the shards and the normalisation share. Raises ValueError as
    ``assign_splits`` does."""
    return assign_splits(
        table["runNumber"].to_numpy(),
        table["eventNumber"].to_numpy(),
        table_dataset(table),
        splits["fractions"],
        splits["salt"],
    )
