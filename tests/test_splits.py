"""Deterministic splits: stable, event-level, independent of other files, right fractions."""

import numpy as np
import pytest

from egcalib.shards.splits import assign_splits, event_uniform

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
