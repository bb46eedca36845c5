"""Atomic ROOT writing: a failure mid-write leaves nothing that looks complete."""

import awkward as ak
import numpy as np
import pytest
import uproot

from egcalib.core.root_writing import write_tree


def test_round_trip_shares_collection_counters(tmp_path):
    chunk = {
        "runNumber": np.array([1, 2]),
        "el_pt": ak.Array([[1.0, 2.0], []]),
        "el_charge": ak.Array([[1, -1], []]),
        "el_cells_lr0": ak.Array([[1.0] * 70, []]),
    }
    write_tree(
        tmp_path / "a.root", "egamma", [chunk, chunk], {"runNumber": "int32", "el_charge": "int32"}
    )
    tree = uproot.open(tmp_path / "a.root")["egamma"]
    assert tree.num_entries == 4
    assert "nel" in tree and "nel_cells_lr0" in tree
    arrays = tree.arrays(["el_pt", "el_charge", "el_cells_lr0"])
    assert arrays.el_pt.tolist() == [[1.0, 2.0], [], [1.0, 2.0], []]
    assert ak.flatten(arrays.el_charge).to_numpy().dtype == np.int32


def test_failure_mid_write_leaves_no_file(tmp_path):
    def chunks():
        yield {"runNumber": np.array([1]), "el_pt": ak.Array([[1.0]])}
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        write_tree(tmp_path / "a.root", "egamma", chunks())
    assert list(tmp_path.iterdir()) == []
