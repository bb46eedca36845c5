"""Skim on ntuples written by ROOT 6.40 itself (tests/data/real_ntuples, made by
tests/make_root_ntuples.py; no ROOT needed here): storage conventions of real ntuple makers give
the reference result or a clear error naming file, branch and problem."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
from ntuple_builder import skim_with

from egcalib.skim.branch_mapping import InputFileError, NtupleContentError
from egcalib.skim.branch_types import coerce, coerce_events, require_mask
from egcalib.skim.cutflows import merge_cutflows
from egcalib.skim.layouts import cell_windows, check_collections, first_difference
from egcalib.skim.selection import select_zee

DATA = Path(__file__).parent / "data" / "real_ntuples"
REFERENCE = {"objects": 448, "events": 224, "m_ee": 91.17}


@pytest.fixture
def config(default_config):
    return copy.deepcopy(default_config)


def skim(config, name, tmp_path, branches=None, kind="mc"):
    config["ntuple"]["branches"] = dict(branches or {})
    out = tmp_path / f"{Path(name).stem}.parquet"
    flow = skim_with(config, DATA / name, out, dataset="real", kind=kind)
    return pq.read_table(out), flow


@pytest.fixture(scope="module")
def reference(default_config, tmp_path_factory):
    table, _ = skim(copy.deepcopy(default_config), "zee_bool.root", tmp_path_factory.mktemp("r"))
    return table


def assert_reference_result(table):
    ids = list(zip(table["eventNumber"].to_pylist(), table["object_index"].to_pylist()))
    assert table.num_rows == REFERENCE["objects"]
    assert len(set(table["eventNumber"].to_pylist())) == REFERENCE["events"]
    assert len(set(ids)) == len(ids), "no (event, object) pair twice"
    assert np.median(table["m_candidate"].to_numpy()) == pytest.approx(REFERENCE["m_ee"], abs=0.01)


def test_reference_file(reference):
    assert_reference_result(reference)


@pytest.mark.parametrize(
    "name",
    [
        "zee_trigchar.root",  # trigPassed_e Char_t, trigPassed_mu UChar_t
        "zee_flagvectors.root",  # trigPassed_e Int_t, vector<char>/vector<int> ID and truth flags
        "zee_nested.root",  # cells as vector<vector<float>>, one inner vector per electron
        "zee_rntuple.root",  # an RNTuple
    ],
)
def test_same_events_in_other_storage_skim_identically(config, tmp_path, reference, name):
    table, _ = skim(config, name, tmp_path)
    assert_reference_result(table)
    for column in (
        "eventNumber",
        "object_index",
        "e_baseline",
        "e_truth",
        "cells_lr1",
        "time_lr2",
        "tracks",
        "scalar_poscs2",
    ):
        np.testing.assert_array_equal(
            table[column].combine_chunks().to_numpy(False)
            if column not in ("cells_lr1", "time_lr2", "tracks")
            else table[column].combine_chunks().flatten().to_numpy(),
            reference[column].combine_chunks().to_numpy(False)
            if column not in ("cells_lr1", "time_lr2", "tracks")
            else reference[column].combine_chunks().flatten().to_numpy(),
            err_msg=column,
        )


def test_char_trigger_in_data_gives_no_copies_of_one_event(config, tmp_path):
    table, _ = skim(config, "zee_trigchar.root", tmp_path, kind="data")
    assert_reference_result(table)


def test_uchar_trigger_with_zeros_selects_and_never_indexes(config, tmp_path, reference):
    """trigPassed_mu is a UChar_t that is 0 in every odd entry (even eventNumber)."""
    config["selection"]["zee"]["trigger"] = "trigPassed_mu"
    table, flow = skim(config, "zee_trigchar.root", tmp_path)
    odd = reference["eventNumber"].to_numpy() % 2 == 1
    assert flow.steps[3] == {
        "cut": "trigger trigPassed_mu",
        "events": 200,
        "objects": flow.steps[0]["objects"] // 2,
    }
    np.testing.assert_array_equal(
        table["eventNumber"].to_numpy(), reference["eventNumber"].to_numpy()[odd]
    )
    np.testing.assert_array_equal(
        table["e_baseline"].to_numpy(), reference["e_baseline"].to_numpy()[odd]
    )


@pytest.mark.parametrize(
    "branches",
    [
        {"el_e": "el_e / 1000"},  # MeV under the logical name itself
        {"el_e": "el_calE_MeV / 1e3"},
        {"el_e": "el_calE_MeV * 1E-3"},
        {
            "el_e": "fmax(el_calE_MeV, 0) / 1000",
            "el_phi": "arctan2(sin(el_phi), cos(el_phi))",
            "el_eta": "el_eta + 0 * tan(el_phi)",
        },
    ],
)
def test_c_arrays_in_mev_through_expressions(config, tmp_path, reference, branches):
    """C-style arrays with counter branches, UChar_t/Char_t ID flags, a Double32_t el_pt and
    energies in MeV: every expression uproot accepts works, also under the branch's own name."""
    table, _ = skim(config, "zee_carrays.root", tmp_path, branches)
    assert_reference_result(table)
    np.testing.assert_allclose(
        table["e_baseline"].to_numpy(), reference["e_baseline"].to_numpy(), rtol=1e-6
    )


@pytest.mark.parametrize(
    "name, error, pattern",
    [
        pytest.param(
            "zee_carrays.root",
            NtupleContentError,
            r"zee_carrays\.root: el_e \[branch el_e \(float\[\] el_e\[nel\]/F\)\]"
            r".*median 5\.01e\+04 .*above 10000 GeV.*el_e: \"el_e / 1000\"",
            id="mev_unmapped_is_caught",
        ),
        pytest.param(
            "zee_d32.root",
            NtupleContentError,
            r"zee_d32\.root: el_e \[branch el_e \(float\[\] "
            r"el_e\[nel\]/d\[0,200,20\]\)\].*median 3\.\d+e-40 "
            r".*below 0\.001 GeV",
            id="double32_with_range_misread_by_uproot_is_an_error_not_an_empty_skim",
        ),
        pytest.param(
            "zee_float16.root",
            NtupleContentError,
            r"zee_float16\.root: el_e: branch 'el_e' "
            r"\(leaf 'el_e\[nel\]/f'\) cannot be interpreted",
            id="float16_leaf_uproot_cannot_interpret_is_named",
        ),
        pytest.param(
            "zee_friend.root",
            InputFileError,
            r"zee_friend\.root: missing branches .*"
            r"el_truth_e \(unmapped\).*friend trees are not "
            r"followed.*tree 'egamma_truth' .*el_truth_e",
            id="friend_trees_are_not_followed",
        ),
        pytest.param(
            "zee_truthcollection.root",
            NtupleContentError,
            r"zee_truthcollection\.root: collections do not line up: el_truth_e "
            r"\[branch el_truth_e .*\] has 3 entries but el_e \[branch el_e .*\] "
            r"has 2 in entry 6 \(eventNumber 7\)",
            id="truth_collection_of_another_size_is_named",
        ),
    ],
)
def test_a_file_the_skim_cannot_read_right_is_an_error_naming_it(
    config, tmp_path, name, error, pattern
):
    """Each a clear error naming file, branch and problem, and no output (no empty skim)."""
    with pytest.raises(error, match=pattern):
        skim(config, name, tmp_path)
    assert not (tmp_path / Path(name).with_suffix(".parquet")).exists()


def test_rntuple_expressions_are_refused_by_name_and_renames_work(config, tmp_path, reference):
    with pytest.raises(
        InputFileError,
        match=r"zee_rntuple\.root: 'egamma' is an RNTuple, and "
        r"expressions are not supported.*"
        r"el_e -> 'el_e / 1000'",
    ):
        skim(config, "zee_rntuple.root", tmp_path, {"el_e": "el_e / 1000"})
    table, _ = skim(config, "zee_rntuple.root", tmp_path, {"el_binned_e": "el_e"})
    np.testing.assert_array_equal(
        table["e_baseline_binned"].to_numpy(), reference["e_baseline"].to_numpy()
    )


@pytest.mark.parametrize(
    "expression, problem",
    [
        ("el_calEMeV / 1e3", r"el_e -> 'el_calEMeV / 1e3' \(unknown name 'el_calEMeV'\)"),
        ("el_calE_MeV / ", r"maps el_e to 'el_calE_MeV / ', which is not a valid expression"),
        ("frobnicate(el_calE_MeV)", r"unknown name 'frobnicate'"),
    ],
)
def test_bad_mappings_name_the_problem(config, tmp_path, expression, problem):
    with pytest.raises(InputFileError, match=r"zee_carrays\.root: .*" + problem):
        skim(config, "zee_carrays.root", tmp_path, {"el_e": expression})


def test_first_kinematic_cut_removing_everything_is_a_warning(config, tmp_path, caplog):
    config["selection"]["electron"]["et_min"] = 5000.0
    with caplog.at_level(logging.WARNING):
        table, flow = skim(config, "zee_bool.root", tmp_path)
    assert table.num_rows == 0
    summary = json.loads((tmp_path / "zee_bool.json").read_text())
    assert summary["warnings"] == flow.warnings()
    assert "first kinematic cut 'electron: ET > 5000.0 GeV' removes all" in summary["warnings"][0]
    assert "removes all" in caplog.text and "zee_bool.root" in caplog.text
    merge_cutflows([tmp_path / "zee_bool.json"], tmp_path / "sum.csv", tmp_path / "sum.md")
    assert "**warning** zee_bool: the first kinematic cut" in (tmp_path / "sum.md").read_text()


def test_no_warning_for_an_ordinary_skim(config, tmp_path):
    _, flow = skim(config, "zee_bool.root", tmp_path)
    assert flow.warnings() == []


# --- the pieces, on hand-made arrays ------------------------------------------------------------


@pytest.mark.parametrize(
    "values",
    [
        np.array([0, 1, 2], np.int8),
        np.array([0, 1, 255], np.uint8),
        np.array([0, 1, -3], np.int32),
        np.array([0, 1, 1], bool),
    ],
)
def test_flags_of_any_integer_type_are_true_when_non_zero(values):
    assert coerce(values, "bool", "f").tolist() == [False, True, True]
    jagged = ak.unflatten(values, [2, 0, 1])
    assert coerce(jagged, "bool", "f").tolist() == [[False, True], [], [True]]


@pytest.mark.parametrize(
    "values, dtype, problem",
    [
        (np.array([0.0, 1.0]), "bool", "stored as float64, which cannot be read as a flag"),
        (np.array([1.0, -1.5]), "int32", "not whole numbers"),
        (np.array([2**40]), "int32", "do not fit in int32"),
        (ak.Array(["a", "b"]), "float32", "cannot be read as float32"),
    ],
)
def test_types_that_cannot_be_converted_are_named(values, dtype, problem):
    with pytest.raises(NtupleContentError, match=r"f.root: el_x.*" + problem):
        coerce(values, dtype, "f.root: el_x [branch x (t)]")


def test_widths_are_converted():
    assert coerce(np.array([1.0, -1.0]), "int32", "f").type.content.primitive == "int32"
    assert (
        coerce(ak.Array([[1, 2], []]), "float32", "f").type.content.content.primitive == "float32"
    )


def test_event_branch_with_a_list_per_event_is_an_error():
    events = ak.zip({"trigPassed_e": ak.Array([[1], [0]])}, depth_limit=1)
    with pytest.raises(
        NtupleContentError,
        match=r"f.root: trigPassed_e: stored as var \* int64, "
        r"expected one value per event",
    ):
        coerce_events(events, {"trigPassed_e": "bool"}, {}, "f.root")


def test_an_integer_flag_can_never_index(default_config):
    events = ak.zip({"trigPassed_e": np.array([1, 1], np.int8)}, depth_limit=1)
    electrons = ak.zip({"e": ak.Array([[40.0], [41.0]])})
    with pytest.raises(TypeError, match="trigger trigPassed_e is int8, not bool"):
        select_zee(events, electrons, default_config["selection"], False, False)
    with pytest.raises(TypeError, match="not bool"):
        require_mask(ak.Array([[1, 0]]), "el_isLoose")


def events_with(**fields):
    return ak.zip({"eventNumber": np.array([10, 11, 12]), **fields}, depth_limit=1)


def test_nested_cell_window_of_wrong_size_names_branch_event_and_object():
    good = [[0.0] * 6]
    cells = ak.Array([good * 2, [], good + [[0.0] * 5]])
    events = events_with(el_cells_lr0=cells)
    with pytest.raises(
        NtupleContentError,
        match=r"f.root: el_cells_lr0: object 1 of entry 102 \(eventNumber 12\) has "
        r"5 cells, expected 6 cells per object \(2x3",
    ):
        cell_windows(events, "el_cells_lr0", np.array([2, 0, 2]), (2, 3), "f.root", {}, 100)
    fine = events_with(el_cells_lr0=ak.Array([good * 2, [], good * 2]))
    assert cell_windows(fine, "el_cells_lr0", np.array([2, 0, 2]), (2, 3), "f.root", {}).shape == (
        4,
        6,
    )


def test_flat_cell_windows_of_wrong_size_name_branch_and_event():
    events = events_with(el_time_lr2=ak.Array([[0.0] * 12, [0.0] * 5, []]))
    with pytest.raises(
        NtupleContentError,
        match=r"f.root: el_time_lr2: flat cell windows: entry 1 \(eventNumber 11\) "
        r"has 5 values for 1 objects, expected 6 cells per object",
    ):
        cell_windows(events, "el_time_lr2", np.array([2, 1, 0]), (2, 3), "f.root", {})


def test_collections_that_do_not_line_up():
    events = events_with(
        el_e=ak.Array([[1.0], [2.0, 3.0], []]), el_truth_e=ak.Array([[1.0], [2.0], [4.0]])
    )
    with pytest.raises(
        NtupleContentError,
        match=r"el_truth_e has 1 entries but el_e has 2 in entry 1 "
        r"\(eventNumber 11\) \(2 of 3 events differ",
    ):
        check_collections(events, "f.root", {})


def test_dotted_xaod_style_names_and_functions_map(config, tmp_path):
    from ntuple_builder import NATIVE_SHAPES, electron, write_events

    first, second = electron(), electron(eta=-0.7, phi=2.9, charge=-1)
    for obj in (first, second):
        obj["e_MeV"] = obj["e"] * 1000.0
    path = write_events(
        tmp_path / "xaod.root",
        [{"el": [first, second], "runNumber": 7}],
        rename={"runNumber": "EventInfoAux.runNumber"},
        extra={"el_e_MeV": "float32"},
        drop={"el_e"},
    )
    config["ntuple"]["branches"] = {
        "runNumber": "EventInfoAux.runNumber",
        "el_e": "where(el_e_MeV > 0, el_e_MeV, 0) * 1e-3",
    }
    out = tmp_path / "xaod.parquet"
    skim_with(config, path, out, dataset="t", file_name="x", native_shapes=NATIVE_SHAPES)
    table = pq.read_table(out)
    assert table["runNumber"].to_pylist() == [7, 7]
    np.testing.assert_allclose(table["e_baseline"].to_numpy(), [first["e"], second["e"]], rtol=1e-6)


def test_first_difference_names_the_first_index_and_how_many_differ():
    assert first_difference(np.array([1, 2, 3]), np.array([1, 2, 3])) is None
    assert first_difference(np.array([1, 5, 3, 0]), np.array([1, 2, 3, 4])) == (1, 2)
    assert first_difference(np.array([6, 6, 5]), 6) == (2, 1)
    assert first_difference(np.array([], int), np.array([], int)) is None
    row, count = first_difference(np.array([0, 7]), np.array([0, 8]))
    assert isinstance(row, int) and isinstance(count, int)


def test_differing_row_errors_word_for_word():
    """The whole message of each size check, from entry_start on: the first differing entry
    with its eventNumber, the sizes, and (collections) how many events differ."""
    events = events_with(
        el_e=ak.Array([[1.0], [2.0, 3.0], []]), el_truth_e=ak.Array([[1.0], [2.0], [4.0]])
    )
    with pytest.raises(NtupleContentError) as error:
        check_collections(events, "f.root", {"el_truth_e": "el_truthE"}, entry_start=40)
    assert str(error.value) == (
        "f.root: collections do not line up: el_truthE has 1 entries but el_e has 2 in entry 41 "
        "(eventNumber 11) (2 of 3 events differ in this step): el_truth_e must come from the "
        "el_* collection, one entry per object (a truth or other collection of another size "
        "cannot be joined by position)"
    )
    flat = events_with(el_time_lr2=ak.Array([[0.0] * 12, [0.0] * 5, []]))
    with pytest.raises(NtupleContentError) as error:
        cell_windows(flat, "el_time_lr2", np.array([2, 1, 0]), (2, 3), "f.root", {}, 7)
    assert str(error.value) == (
        "f.root: el_time_lr2: flat cell windows: entry 8 (eventNumber 11) has 5 values for 1 "
        "objects, expected 6 cells per object (2x3, eta-major) (6 in all)"
    )
    good = [[0.0] * 6]
    nested = events_with(el_cells_lr0=ak.Array([good * 2, good, good]))
    with pytest.raises(NtupleContentError) as error:
        cell_windows(nested, "el_cells_lr0", np.array([2, 2, 1]), (2, 3), "f.root", {})
    assert str(error.value) == (
        "f.root: el_cells_lr0: entry 1 (eventNumber 11) has 1 cell windows for 2 objects: one "
        "inner list per object expected"
    )
