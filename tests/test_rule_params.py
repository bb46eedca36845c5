"""Rule params: canonical form and execution knobs (egcalib.core.rule_params)."""

from __future__ import annotations

import functools
import operator

import pytest

from egcalib.core.rule_params import canonical, output_settings, selection_of, with_execution_knobs


def test_reordered_keys_give_the_same_repr_at_every_depth():
    one = {"b": {"y": 1, "x": [{"q": 1, "p": 2}]}, "a": 2}
    two = {"a": 2, "b": {"x": [{"p": 2, "q": 1}], "y": 1}}
    assert repr(one) != repr(two)
    assert repr(canonical(one)) == repr(canonical(two))
    assert canonical(one) == one  # same meaning


def test_execution_knobs_are_not_settings_but_reach_the_script(default_config):
    training = output_settings(default_config, "training")
    assert not {"multi_gpu", "jit_compile_cpu", "parallel_reads"} & set(training)
    assert training["learning_rate"] == default_config["training"]["learning_rate"]
    assert "step_size" not in output_settings(default_config, "skim")
    full = with_execution_knobs(training, default_config, "training")
    assert full == default_config["training"]


def test_each_process_carries_its_own_cuts(default_config):
    selection = default_config["selection"]
    zee, zmumug, egun, pgun = (
        selection_of(selection, p) for p in ("zee", "zmumug", "egun", "pgun")
    )
    assert {"electron", "zee", "data_label", "truth_match_k", "n_tracks"} == set(zee)
    assert {"zmumug", "truth_match_k", "n_tracks"} == set(zmumug)
    assert {"electron", "truth_match_k", "n_tracks"} == set(egun)
    assert {"pgun", "truth_match_k", "n_tracks"} == set(pgun)


def test_file_chunks_change_only_at_the_end_when_a_file_is_appended():
    from egcalib.core.chunks import file_chunks

    files = [f"run{i:04d}" for i in range(120)]
    chunks = file_chunks(files, 50)
    assert list(chunks) == ["c000", "c001", "c002"] and len(chunks["c002"]) == 20
    assert functools.reduce(operator.iadd, chunks.values(), []) == files
    grown = file_chunks(files + ["run0120"], 50)
    assert {c: f for c, f in grown.items() if grown[c] != chunks.get(c)} == {
        "c002": files[100:] + ["run0120"]
    }
    assert list(file_chunks(files[:100] + ["run0100"], 50)) == ["c000", "c001", "c002"]
    assert file_chunks([], 50) == {}
    with pytest.raises(ValueError, match="files_per_job"):
        file_chunks(files, 0)
