"""The photon-identification stage's datasets and labels (egcalib.photon_id.candidates)."""

import numpy as np
import pytest

from egcalib.photon_id.candidates import (
    BACKGROUND,
    SIGNAL,
    UNLABELLED,
    stage_datasets,
    truth_labels,
)

DATASETS = {
    "mc_pgun": {"kind": "mc", "process": "pgun"},
    "mc_zmumug": {"kind": "mc", "process": "zmumug"},
    "mc_jets": {"kind": "mc", "process": "jets"},
    "data_zmumug": {"kind": "data", "process": "zmumug"},
    "mc_zee": {"kind": "mc", "process": "zee"},
}
SECTION = {
    "datasets": ["mc_pgun", "mc_zmumug", "mc_jets"],
    "radiative_z": {"data": "data_zmumug", "mc": "mc_zmumug"},
}


def test_prompt_photon_origins_are_signal_and_the_jets_mesons_background():
    # SinglePhot 3, FSRPhot 40, ISRPhot 39 prompt; PiZero 42, LightMeson 23, NonDefined 0 not.
    origin = np.array([3, 40, 39, 42, 23, 0])
    labels = truth_labels(origin, is_mc=True)
    assert labels.tolist() == [SIGNAL] * 3 + [BACKGROUND] * 3


def test_data_candidates_have_no_label_and_mc_ones_need_an_origin():
    assert (truth_labels(np.array([-1, 3]), is_mc=False) == UNLABELLED).all()
    with pytest.raises(ValueError, match="1 MC photon candidates have no truth origin"):
        truth_labels(np.array([3, -1]), is_mc=True)


def test_the_stage_reads_its_datasets_once_each_in_order():
    assert stage_datasets(SECTION, DATASETS) == ["mc_pgun", "mc_zmumug", "mc_jets", "data_zmumug"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"datasets": ["mc_pgun", "mc_typo"]}, "photon_id.datasets: unknown dataset 'mc_typo'"),
        ({"datasets": ["mc_zee"]}, "dataset 'mc_zee' is mc zee; it must be mc of process"),
        (
            {"radiative_z": {"data": "mc_zmumug", "mc": "mc_zmumug"}},
            "photon_id.radiative_z.data: dataset 'mc_zmumug' is mc zmumug; it must be data",
        ),
    ],
)
def test_a_wrong_dataset_is_named_with_its_key(change, message):
    with pytest.raises(ValueError, match=message):
        stage_datasets({**SECTION, **change}, DATASETS)


def _skim(default_config, ntuple_dir, tmp_path, dataset, process):
    import pyarrow.parquet as pq
    from ntuple_builder import skim_with

    out = tmp_path / f"{dataset}.parquet"
    skim_with(
        default_config,
        ntuple_dir / f"{dataset}.root",
        out,
        dataset=dataset,
        kind="mc",
        process=process,
    )
    return pq.read_table(out)


def test_the_table_labels_gun_photons_and_jets_and_counts_what_it_drops(
    default_config, ntuple_dir, tmp_path
):
    import pyarrow as pa

    from egcalib.photon_id.candidates import identification_table
    from egcalib.photon_id.inputs import MENU_VARIABLES
    from egcalib.shards.splits import table_splits

    shapes, splits = default_config["images"]["native_shapes"], default_config["splits"]
    photons = _skim(default_config, ntuple_dir, tmp_path, "mc_pgun", "pgun")
    jets = _skim(default_config, ntuple_dir, tmp_path, "mc_jets", "jets")
    frame, dropped = identification_table(photons, shapes, splits, is_mc=True)
    assert (frame["label"] == SIGNAL).all() and len(frame) + dropped == photons.num_rows
    # The shards' split of each candidate's event.
    expected = photons.select(["eventNumber", "object_index"]).to_pandas()
    expected["split"] = table_splits(photons, splits)
    joined = frame.merge(expected, on=["eventNumber", "object_index"], suffixes=("", "_shards"))
    assert len(joined) == len(frame) and (joined["split"] == joined["split_shards"]).all()
    frame, dropped = identification_table(jets, shapes, splits, is_mc=True)
    assert (frame["label"] == BACKGROUND).all() and len(frame) > 50
    assert np.isfinite(frame[list(MENU_VARIABLES)].to_numpy()).all()
    # No E_had for the first candidate: its R_had is undefined, it is dropped and counted.
    e_had1 = jets["e_had1"].to_numpy(zero_copy_only=False).copy()
    e_had1[0] = np.nan
    broken = jets.set_column(
        jets.schema.get_field_index("e_had1"), "e_had1", pa.array(e_had1, pa.float32())
    )
    fewer, more = identification_table(broken, shapes, splits, is_mc=True)
    assert (len(fewer), more) == (len(frame) - 1, dropped + 1)
