"""Inputs that go wrong quietly (tests/data/quiet_inputs, written by ROOT through
tests/make_quiet_inputs.py): repeated events, non-finite values and weights are found, counted
and named, or stop the skim; none reaches a model."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from ntuple_builder import skim_with

from egcalib.core.contract import LAYERS
from egcalib.skim.branch_mapping import NtupleContentError
from egcalib.skim.cutflows import LATER_COPIES, merge_cutflows
from egcalib.skim.duplicates import (
    DuplicateEventsError,
    FirstCopies,
    drop_later_copies,
    find_later_copies,
    read_reports,
    shard_drop_keys,
    write_report,
)

DATA = Path(__file__).parent / "data" / "quiet_inputs"
# The reference ntuple (real_ntuples/zee_bool.root) gives 448 objects of 224 events.
REFERENCE_OBJECTS = 448


def skim(config, name, out: Path, duplicates="drop"):
    """Skim one quiet input; (table, cutflow JSON, events path)."""
    table, flow, events = out / f"{name}.parquet", out / f"{name}.cutflow.json", out / f"{name}.ev"
    skim_with(
        config,
        DATA / f"{name}.root",
        table,
        flow,
        dataset="quiet",
        skim={**config["skim"], "duplicates": duplicates},
        out_events=str(events),
    )
    return pq.read_table(table).to_pandas(), json.loads(flow.read_text()), events


def steps(flow) -> dict:
    return {step["cut"]: (step["events"], step["objects"]) for step in flow["steps"]}


@pytest.fixture(scope="module")
def parts(default_config, tmp_path_factory):
    """The two overlapping files of one dataset, skimmed: (tables, flows, event paths, dir)."""
    out = tmp_path_factory.mktemp("parts")
    skims = [skim(copy.deepcopy(default_config), f"zee_part{i}", out) for i in (1, 2)]
    return [s[0] for s in skims], [s[1] for s in skims], [s[2] for s in skims], out


def test_events_repeated_across_files_are_found_counted_and_named(parts):
    tables, _, events, out = parts
    skims = [out / "zee_part1.parquet", out / "zee_part2.parquet"]
    later = find_later_copies(events, skims, ["zee_part1", "zee_part2"], "quiet")
    # Entries 150-249 are in both files: every one is a later copy in zee_part2.
    assert len(later) == 100 and set(later["file"]) == {"zee_part2"}
    assert set(later["kept_in"]) == {"zee_part1"}
    assert sorted(later["eventNumber"]) == list(range(151, 251))
    kept = drop_later_copies(pd.concat(tables, ignore_index=True), later, "quiet")
    assert len(kept) == REFERENCE_OBJECTS
    assert not kept.duplicated(["runNumber", "eventNumber", "object_index"]).any()
    assert later["objects"].sum() == sum(len(t) for t in tables) - REFERENCE_OBJECTS


def test_the_dataset_cutflow_counts_the_later_copies_and_names_the_files(parts, tmp_path):
    _, _, events, out = parts
    skims = [out / "zee_part1.parquet", out / "zee_part2.parquet"]
    report = tmp_path / "duplicates.csv"
    write_report(events, skims, ["zee_part1", "zee_part2"], "quiet", "drop", report)
    table = merge_cutflows(
        [out / "zee_part1.cutflow.json", out / "zee_part2.cutflow.json"],
        tmp_path / "sum.csv",
        tmp_path / "sum.md",
        duplicates=[report],
    )
    assert table["cut"].iloc[-1] == LATER_COPIES
    assert table["objects"].iloc[-1] == REFERENCE_OBJECTS
    assert table["events"].iloc[-1] == REFERENCE_OBJECTS // 2
    text = (tmp_path / "sum.md").read_text()
    assert "zee_part2 repeats 100 events of zee_part1" in text


def test_repeated_events_across_files_stop_the_job_when_asked(parts, tmp_path):
    _, _, events, out = parts
    skims = [out / "zee_part1.parquet", out / "zee_part2.parquet"]
    with pytest.raises(DuplicateEventsError, match="zee_part2 repeats 100 events of zee_part1"):
        write_report(events, skims, ["zee_part1", "zee_part2"], "quiet", "error", tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_a_file_without_repeats_gives_an_empty_report(parts, tmp_path):
    _, _, events, out = parts
    report = tmp_path / "duplicates.csv"
    write_report(events[:1], [out / "zee_part1.parquet"], ["zee_part1"], "quiet", "error", report)
    assert read_reports([report]).empty


def test_events_repeated_within_a_file_are_dropped_in_the_skim(default_config, tmp_path):
    table, flow, _ = skim(copy.deepcopy(default_config), "zee_repeated", tmp_path)
    # Entries 200-249 repeat entries 100-149.
    assert steps(flow)["all"][0] == 250
    assert steps(flow)["first copy of each event"][0] == 200
    assert not table.duplicated(["runNumber", "eventNumber", "object_index"]).any()
    with pytest.raises(DuplicateEventsError, match="50 entries repeat"):
        skim(copy.deepcopy(default_config), "zee_repeated", tmp_path, duplicates="error")


def test_the_same_event_numbers_of_another_process_are_no_duplicates(default_config, tmp_path):
    table, flow, events = skim(copy.deepcopy(default_config), "zee_channels", tmp_path)
    assert steps(flow)["first copy of each event"] == steps(flow)["all"]
    assert set(table["mcChannelNumber"]) == {361106, 361107}
    identities = pq.read_table(events).to_pandas()
    assert len(identities) == 400 and not identities.duplicated().any()


def test_first_copies_span_the_steps_of_a_file():
    copies = FirstCopies()
    np.testing.assert_array_equal(copies.first([0, 0, 0], [1, 1, 1], [5, 6, 5]), [1, 1, 0])
    np.testing.assert_array_equal(copies.first([0, 7, 0], [1, 1, 2], [6, 6, 5]), [0, 1, 1])


def test_non_finite_inputs_never_reach_the_skim_table(default_config, tmp_path):
    table, flow, _ = skim(copy.deepcopy(default_config), "zee_nancell", tmp_path)
    # One bad value per entry: 3 NaN middle cells, +inf in a strip, a NaN scalar (one electron
    # each), a NaN track and a NaN <mu> (both electrons of the event).
    assert flow["nonfinite"] == {
        "averageInteractionsPerCrossing": 2,
        "el_Etilegap": 1,
        "el_cells_lr1": 1,
        "el_cells_lr2": 3,
        "trk_pt": 2,
    }
    assert steps(flow)["finite inputs"] == (400, 800 - 9)
    assert any("non-finite" in warning for warning in flow["warnings"])
    # NaN by definition: no binned reference and no E_had1 / E_had in the file, no data label,
    # no dimuon (Z -> ee).
    absent = ["e_baseline_binned", "e_had1", "e_had", "e_label"]
    absent += ["mumu_pt", "mumu_eta", "mumu_phi", "mumu_m"]
    numeric = table.select_dtypes("number").drop(columns=absent)
    assert np.isfinite(numeric.to_numpy(np.float64)).all()
    for layer in LAYERS:
        assert np.isfinite(np.stack(table[f"cells_{layer}"])).all()
    bad_events = {4, 11, 18, 25, 32, 39, 46}  # eventNumber = entry + 1
    assert not bad_events & set(table["eventNumber"])


def test_a_non_finite_mc_weight_stops_the_skim_naming_branch_and_entry(default_config, tmp_path):
    with pytest.raises(NtupleContentError, match=r"mcEventWeight.*entries \[7\]"):
        skim(copy.deepcopy(default_config), "zee_nanweight", tmp_path)
    assert not list(tmp_path.glob("*.parquet")), "nothing partial is left"


def test_negative_weights_are_read_as_stored(default_config, tmp_path):
    table, _, _ = skim(copy.deepcopy(default_config), "zee_negw", tmp_path)
    assert len(table) == REFERENCE_OBJECTS
    assert set(table["weight"]) == {-1.0, 1.0}


def test_shard_drop_keys_name_the_later_copies_per_shard():
    later = pd.DataFrame(
        {
            "dataset": ["d", "d", "d"],
            "file": ["b", "b", "c"],
            "mcChannelNumber": [0, 0, 0],
            "runNumber": [1, 1, 1],
            "eventNumber": [5, 6, 7],
            "objects": [2, 0, 1],
            "kept_in": ["a", "a", "a"],
        }
    )
    keys = shard_drop_keys(later, lambda d, f: [f"{d}/{f}.train", f"{d}/{f}.val"])
    assert sorted(keys) == ["d/b.train", "d/b.val", "d/c.train", "d/c.val"]
    np.testing.assert_array_equal(keys["d/b.train"], [[1, 5]])


def test_the_input_pipeline_skips_the_later_copies_of_its_shards(default_config, tmp_path):
    """Records named by shard_drop_keys are left out of training and inference alike; the
    other shard of the same events is read whole."""
    pytest.importorskip("tensorflow")
    from tiny_shards import write_tiny_shard

    from egcalib.train.input_pipeline import InputPipeline, numpy_batches
    from egcalib.train.normalisation import identity_statistics

    images = default_config["images"]
    first, _, shards = write_tiny_shard(tmp_path, images, np.ones(6), name="a")
    later_file, _, _ = write_tiny_shard(tmp_path, images, np.ones(6), name="b")
    # Events (1, 2) and (1, 4) of b are later copies of a's.
    skip = {str(later_file): np.array([[1, 2], [1, 4]]), str(first): np.zeros((0, 2))}
    pipeline = InputPipeline(images, shards, identity_statistics(), skip=skip)
    _, record = numpy_batches(pipeline.dataset([first, later_file], 4, False, with_ids=True))
    assert sorted(record["eventNumber"].tolist()) == [0, 0, 1, 1, 2, 3, 3, 4, 5, 5]
    *_, weights = numpy_batches(pipeline.dataset([later_file], 2, training=True))
    assert len(weights) == 4  # 4 records left, in batches of 2


@pytest.mark.slow
def test_a_dataset_of_overlapping_files_is_gathered_once(tmp_path):
    """zee_part1 + zee_part2 as one `source: files` dataset through the workflow: the report
    names the files, the cutflow ends at the reference's objects, and the normalisation, the
    BDT and CNN trainings and the evaluation see each object once."""
    import yaml
    from workflow_utils import REPO, copy_checkout, snakemake

    work = copy_checkout(tmp_path / "work")
    config = yaml.safe_load((REPO / "configs/own-ntuples.yaml").read_text())
    files = [str(DATA / "zee_part1.root"), str(DATA / "zee_part2.root")]
    config["datasets"] = {"my_zee_mc": {**config["datasets"]["my_zee_mc"], "files": files}}
    config.update(selected_datasets=["my_zee_mc"], selected_models=["basic", "bdt"])
    config["training"] = {"epochs": 1, "batch_size": 32}
    (work / "mine.yaml").write_text(yaml.safe_dump(config))
    results = work / "results"
    targets = [
        "results/skim/my_zee_mc.cutflow.csv",
        "results/eval/bdt/metrics.json",
        "results/eval/basic/metrics.json",
    ]
    snakemake(work, *targets, configfiles=("config.yaml", "mine.yaml"), timeout=1200)
    later = read_reports([results / "skim/my_zee_mc.duplicates.csv"])
    assert len(later) == 100 and set(later["file"]) == {"zee_part2"}
    cutflow = pd.read_csv(results / "skim/my_zee_mc.cutflow.csv")
    assert cutflow["cut"].iloc[-1] == LATER_COPIES
    assert cutflow["objects"].iloc[-1] == REFERENCE_OBJECTS
    log = (results / "logs/find_duplicates/my_zee_mc.log").read_text()
    assert "zee_part2 repeats 100 events of zee_part1" in log
    sidecars = pd.concat(
        [
            pd.read_parquet(results / f"shards/my_zee_mc/{f}.parquet")
            for f in ("zee_part1", "zee_part2")
        ]
    )
    unique = drop_later_copies(sidecars, later, "sidecars")
    assert len(unique) == REFERENCE_OBJECTS < len(sidecars)  # the shards keep the later copies
    stats = json.loads((results / "models/basic/normalisation.json").read_text())
    assert stats["n_objects"] == (unique["split"] == "train").sum()
    for model in ("basic", "bdt"):
        metrics = json.loads((results / f"eval/{model}/metrics.json").read_text())
        assert metrics["objects"] == (unique["split"] == "test").sum(), model
