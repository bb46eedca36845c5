"""Deterministic splits: stable, event-level, independent of other files, right fractions."""

import numpy as np
import pyarrow as pa
import pytest

from egcalib.shards.splits import (
    SPLITS,
    assign_splits,
    event_uniform,
    table_dataset,
    table_splits,
)

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}


def test_same_ids_same_split_across_calls_and_datasets_differ():
    run, event = np.full(1000, 284500), np.arange(1, 1001)
    first = assign_splits(run, event, "mc_zee", FRACTIONS, "egcalib")
    np.testing.assert_array_equal(first, assign_splits(run, event, "mc_zee", FRACTIONS, "egcalib"))
    assert np.mean(first != assign_splits(run, event, "data_zee", FRACTIONS, "egcalib")) > 0.3


def test_adding_files_never_moves_an_object_and_objects_of_an_event_agree():
    run = np.full(3000, 284500)
    events = np.arange(1, 3001)
    alone = assign_splits(run[:1000], events[:1000], "mc_zee", FRACTIONS, "s")
    together = assign_splits(run, events, "mc_zee", FRACTIONS, "s")
    np.testing.assert_array_equal(alone, together[:1000])
    # two electrons of one event: the same ids give the same split
    pairs = assign_splits(np.repeat(run, 2), np.repeat(events, 2), "mc_zee", FRACTIONS, "s")
    np.testing.assert_array_equal(pairs[0::2], pairs[1::2])


def test_fractions_within_statistical_tolerance():
    n = 200_000
    split = assign_splits(np.full(n, 1), np.arange(n), "d", FRACTIONS, "s")
    for index, fraction in enumerate(FRACTIONS.values()):
        assert abs(np.mean(split == index) - fraction) < 5 * np.sqrt(fraction * (1 - fraction) / n)
    u = event_uniform(np.full(n, 1), np.arange(n), "d", "s")
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 0.01, "consecutive events are not correlated"


def test_bad_fractions_are_rejected():
    with pytest.raises(ValueError, match="sum to 1"):
        assign_splits([1], [1], "d", {"train": 0.5, "val": 0.2, "test": 0.2}, "s")


def test_table_splits_are_those_of_the_table_s_ids_and_dataset():
    """The one assignment the shards and the normalisation share: the skim table's runNumber,
    eventNumber and (first row's) dataset under the splits config."""
    n = 500
    run = np.full(n, 284500, np.int64)
    event = np.arange(10, 10 + n, dtype=np.int64)
    table = pa.table({"runNumber": run, "eventNumber": event, "dataset": pa.array(["mc_zee"] * n)})
    config = {"fractions": FRACTIONS, "salt": "egcalib"}
    split = table_splits(table, config)
    assert split.dtype == np.int8 and split.shape == (n,)
    np.testing.assert_array_equal(split, assign_splits(run, event, "mc_zee", FRACTIONS, "egcalib"))
    assert set(np.unique(split)) == set(range(len(SPLITS)))
    # several record batches (a filtered or concatenated table) give the same
    chunked = pa.concat_tables([table.slice(0, 123), table.slice(123)])
    np.testing.assert_array_equal(table_splits(chunked, config), split)
    assert table_dataset(table) == "mc_zee"


def test_table_splits_of_an_empty_table_and_bad_fractions():
    empty = pa.table(
        {
            "runNumber": pa.array([], pa.int64()),
            "eventNumber": pa.array([], pa.int64()),
            "dataset": pa.array([], pa.string()),
        }
    )
    assert table_dataset(empty) == ""
    assert table_splits(empty, {"fractions": FRACTIONS, "salt": "s"}).shape == (0,)
    with pytest.raises(ValueError, match="sum to 1"):
        table_splits(empty, {"fractions": {"train": 1.0, "val": 0.5, "test": 0.0}, "salt": "s"})
