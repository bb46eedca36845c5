"""Duplicated events: one event identity, one copy (docs/design.md#selections-and-labels).

An event's identity is (mcChannelNumber, runNumber, eventNumber); mcChannelNumber is 0 in data
and where a file has no such branch. A production that registers a retried job's output twice,
or two overlapping file lists, gives the same event in two files (UCATLAS/xAODAnaHelpers#306).
As in ATLAS practice the first copy is kept and the others are reported: the first in file order
(files of a dataset sorted by name, entries in file order). `skim.duplicates: error` stops
instead.

Within a file the skim keeps the first entry (``FirstCopies``) and writes the identities of the
events it read (``write_identities``). Across the files of a dataset the per-dataset
``find_duplicates`` rule lists every later copy (``find_later_copies``); the per-file outputs
(skims, shards, predictions) keep them, so appending a file reruns nothing but its own chain,
and every consumer that gathers a dataset drops them by that list (``drop_later_copies``; the
training input pipeline by ``shard_drop_keys``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path

log = logging.getLogger(__name__)

IDENTITY = ["mcChannelNumber", "runNumber", "eventNumber"]
# One row per later copy of an event: where it is, and the file that keeps the first copy.
REPORT_COLUMNS = ["dataset", "file", *IDENTITY, "objects", "kept_in"]


class DuplicateEventsError(ValueError):
    """Events found in more than one file of a dataset under `skim.duplicates: error`."""


class FirstCopies:
    """The first entry of every event identity over the steps of one file (bounded by the
    file's distinct events: three integers each)."""

    def __init__(self):
        self._seen = None

    def first(self, channel: npt.ArrayLike, run: npt.ArrayLike, event: npt.ArrayLike) -> np.ndarray:
        """(n,) bool: True for each entry whose identity has not been seen before, in this step
        or an earlier one. Arguments: (n,) integer arrays."""
        keys = pd.MultiIndex.from_arrays(
            [np.asarray(channel, np.int64), np.asarray(run, np.int64), np.asarray(event, np.int64)]
        )
        first = ~keys.duplicated(keep="first")
        if self._seen is not None:
            first &= ~keys.isin(self._seen)
        new = keys[first]
        self._seen = new if self._seen is None else self._seen.append(new)
        return np.asarray(first)


def write_identities(parts: Sequence[Mapping[str, np.ndarray]], out_path: str | Path) -> None:
    """Write the identities of a file's events (a list of {IDENTITY column: (n,) array}, in
    entry order) as Parquet, atomically."""
    columns = {
        name: np.concatenate([p[name] for p in parts]).astype(np.int64) if parts else np.zeros(0)
        for name in IDENTITY
    }
    table = pa.table({name: pa.array(values, pa.int64()) for name, values in columns.items()})
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp)


def find_later_copies(
    event_paths: Iterable[str | Path],
    skim_paths: Iterable[str | Path],
    files: Iterable[str],
    dataset: str,
) -> pd.DataFrame:
    """The later copies of events found in more than one file of a dataset.

    ``event_paths``, ``skim_paths``: per file of the dataset, in file order, its event
    identities (``write_identities``) and its skim table; ``files`` the file names. Returned:
    one row per (file, identity) that is not the first copy, ``REPORT_COLUMNS`` (``objects``:
    the selected objects of that copy, 0 when the selection kept none; ``kept_in``: the file
    whose copy is kept), in file order.
    """
    frames = []
    for path, file in zip(event_paths, files):
        frame = pq.read_table(path).to_pandas()
        frame.insert(0, "file", file)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    events = pd.concat(frames, ignore_index=True)
    events["kept_in"] = events.groupby(IDENTITY, sort=False)["file"].transform("first")
    later = events[events["file"] != events["kept_in"]]
    if later.empty:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    selected = pd.concat(
        [pq.read_table(path, columns=["file", *IDENTITY]).to_pandas() for path in skim_paths],
        ignore_index=True,
    )
    objects = selected.groupby(["file", *IDENTITY]).size().rename("objects").reset_index()
    later = later.merge(objects, on=["file", *IDENTITY], how="left", validate="one_to_one")
    later["objects"] = later["objects"].fillna(0).astype(np.int64)
    later.insert(0, "dataset", dataset)
    return later[REPORT_COLUMNS].reset_index(drop=True)


def report_text(later: pd.DataFrame) -> list[str]:
    """Lines naming each pair of files that share events and how many (for logs and cutflows)."""
    if later.empty:
        return []
    pairs = later.groupby(["file", "kept_in"], sort=False).agg(
        events=("objects", "size"),
        selected=("objects", lambda n: int((n > 0).sum())),
        objects=("objects", "sum"),
    )
    return [
        f"{file} repeats {row.events} events of {kept} ({row.selected} of them selected, "
        f"{row.objects} objects): the copies in {file} are dropped"
        for (file, kept), row in pairs.iterrows()
    ]


def write_report(
    event_paths: Iterable[str | Path],
    skim_paths: Iterable[str | Path],
    files: Iterable[str],
    dataset: str,
    mode: str,
    out_path: str | Path,
) -> pd.DataFrame:
    """Find the dataset's later copies (``find_later_copies``) and write them (CSV,
    ``REPORT_COLUMNS``) to ``out_path`` atomically; log which files share how many events.

    Raises DuplicateEventsError naming the files when ``mode`` is "error" and any event is in
    two files (nothing is written)."""
    later = find_later_copies(event_paths, skim_paths, files, dataset)
    lines = report_text(later)
    if lines and mode == "error":
        raise DuplicateEventsError(
            f"dataset {dataset}: {len(later)} events are in more than one file "
            "(skim.duplicates: error):\n" + "\n".join(lines)
        )
    for line in lines:
        log.warning("dataset %s: %s", dataset, line)
    log.info("dataset %s: %d later copies of events", dataset, len(later))
    with atomic_path(out_path) as tmp:
        later.to_csv(tmp, index=False)
    return later


def read_reports(paths: Iterable[str | Path]) -> pd.DataFrame:
    """The later copies listed in ``duplicates`` reports (CSV), as one frame."""
    frames = [pd.read_csv(path, dtype={"dataset": str, "file": str}) for path in paths]
    frames = [frame for frame in frames if not frame.empty]
    if not frames:
        return pd.DataFrame(columns=REPORT_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def later_copy_mask(frame: pd.DataFrame, later: pd.DataFrame) -> np.ndarray:
    """(n,) bool: True for the rows of ``frame`` (objects with dataset, file and the identity
    columns) that belong to a later copy listed in ``later``."""
    if later.empty or frame.empty:
        return np.zeros(len(frame), bool)
    keys = ["dataset", "file", *IDENTITY]
    listed = pd.MultiIndex.from_frame(later[keys].astype(frame[keys].dtypes.to_dict()))
    return np.asarray(pd.MultiIndex.from_frame(frame[keys]).isin(listed))


def table_without_later_copies(table: pa.Table, later: pd.DataFrame) -> pa.Table:
    """The Arrow ``table`` (with dataset, file and the identity columns) without the rows of
    ``later`` copies of events (egcalib.skim.duplicates report rows)."""
    if later.empty or table.num_rows == 0:
        return table
    ids = table.select(["dataset", "file", *IDENTITY]).to_pandas()
    return table.filter(pa.array(~later_copy_mask(ids, later)))


def drop_later_copies(frame: pd.DataFrame, later: pd.DataFrame, what: str) -> pd.DataFrame:
    """``frame`` without the objects of later copies of events (logged with their count)."""
    mask = later_copy_mask(frame, later)
    if mask.any():
        log.info("%s: %d objects of events repeated in a later file dropped", what, mask.sum())
    return frame[~mask].reset_index(drop=True)


def shard_drop_keys(
    later: pd.DataFrame, shard_paths: Callable[[str, str], Iterable[str | Path]]
) -> dict[str, np.ndarray]:
    """{TFRecord shard path: (k, 2) int64 (runNumber, eventNumber)} of the later copies with
    selected objects; ``shard_paths(dataset, file)`` gives a file's shard paths (all splits: a
    copy is in one). Records carry no mcChannelNumber: within one file, (runNumber,
    eventNumber) names the event."""
    keys = {}
    selected = later[later["objects"] > 0]
    for (dataset, file), rows in selected.groupby(["dataset", "file"], sort=False):
        pairs = rows[["runNumber", "eventNumber"]].to_numpy(np.int64)
        for path in shard_paths(dataset, file):
            keys[str(path)] = pairs
    return keys
