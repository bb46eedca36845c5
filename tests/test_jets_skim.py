"""Process jets as a dataset: select_jets (photon cuts, no truth matching), the skim table's
hadronic energies and truth origin, the config schema, and the regression chain leaving jets out.
"""

from __future__ import annotations

import copy

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
from ntuple_builder import photon, skim_with, write_events
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from egcalib.core.model_specs import evaluation_datasets, model_particle


@pytest.fixture
def config(default_config):
    return copy.deepcopy(default_config)


def skim(config, path, tmp_path, process="jets", kind="mc", name="out"):
    out = tmp_path / f"{name}.parquet"
    flow = skim_with(config, path, out, dataset="test", kind=kind, process=process)
    return pq.read_table(out), flow.steps


def ntuple_values(path, names):
    """The per-object ``names`` of a simulated file keyed by (eventNumber, object index)."""
    arrays = uproot.open(path)["egamma"].arrays(["eventNumber", *names])
    index = ak.local_index(arrays[names[0]])
    keys = zip(
        ak.to_numpy(ak.flatten(ak.broadcast_arrays(arrays["eventNumber"], index)[0])),
        ak.to_numpy(ak.flatten(index)),
    )
    columns = {name: ak.to_numpy(ak.flatten(arrays[name])) for name in names}
    return {key: {name: columns[name][i] for name in names} for i, key in enumerate(keys)}


def rows_of(table):
    return list(zip(table["eventNumber"].to_numpy(), table["object_index"].to_numpy()))


def test_simulated_jets_keep_every_candidate_that_passes_the_photon_cuts(
    config, ntuple_dir, tmp_path
):
    path = ntuple_dir / "mc_jets.root"
    table, steps = skim(config, path, tmp_path)
    cuts = [step["cut"] for step in steps]
    assert not any("truth matched" in cut for cut in cuts), "jets are not truth matched"
    # photon_id null: no identification step
    assert cuts[-1] == "photon: abs(eta) outside [1.37, 1.52]", cuts
    assert table.num_rows == steps[-1]["objects"] > 50
    pt, abs_eta = table["pt"].to_numpy(), np.abs(table["eta"].to_numpy())
    assert np.all(pt > 9.5) and np.all(abs_eta < 2.37)
    assert not np.any((abs_eta >= 1.37) & (abs_eta <= 1.52))
    assert set(table["particle"].to_pylist()) == {1}
    assert set(table["mcChannelNumber"].to_pylist()) == {364700}
    for name in ("m_candidate", "e_label"):
        assert np.all(np.isnan(table[name].to_numpy())), name
    # Every candidate of the file is counted at the start, and none is lost before the cuts.
    n_candidates = ak.sum(ak.num(uproot.open(path)["egamma"]["ph_e"].array()))
    assert steps[0] == {"cut": "all", "events": 400, "objects": n_candidates}
    # The simulated candidates match no truth particle (truth_e 0): a truth match would keep
    # none, and the table has no truth energy for them.
    truth = ntuple_values(path, ["ph_truth_e"])
    truth_e = np.array([truth[key]["ph_truth_e"] for key in rows_of(table)])
    e_truth = table["e_truth"].to_numpy()
    np.testing.assert_array_equal(np.isnan(e_truth), truth_e <= 0)
    np.testing.assert_array_equal(e_truth[truth_e > 0], truth_e[truth_e > 0])


@pytest.mark.parametrize("dataset, kind", [("mc_jets", "mc"), ("data_jets", "data")])
def test_skim_table_carries_the_hadronic_energies_and_the_truth_origin(
    config, ntuple_dir, tmp_path, dataset, kind
):
    path = ntuple_dir / f"{dataset}.root"
    table, _ = skim(config, path, tmp_path, kind=kind)
    names = ["ph_Ehad1", "ph_Ehad"] + (["ph_truth_origin"] if kind == "mc" else [])
    values = ntuple_values(path, names)
    selected = [values[key] for key in rows_of(table)]
    assert table.schema.field("e_had1").type == "float"
    assert table.schema.field("truth_origin").type == "int32"
    for column, branch in (("e_had1", "ph_Ehad1"), ("e_had", "ph_Ehad")):
        expected = np.array([row[branch] for row in selected], np.float32)
        np.testing.assert_array_equal(table[column].to_numpy(), expected, err_msg=column)
    origin = table["truth_origin"].to_numpy()
    if kind == "mc":
        expected = np.array([row["ph_truth_origin"] for row in selected], np.int32)
        np.testing.assert_array_equal(origin, expected)
        assert set(origin) <= {42, 23}  # PiZero, LightMeson (simulation.jets)
    else:
        assert np.all(origin == -1), "data has no truth origin"
        assert np.all(np.isnan(table["e_truth"].to_numpy()))


def jets_events():
    """One photon candidate per event: at the ET, |eta| and crack boundaries, and not loose."""
    eta = 0.5
    return [
        {"ph": [photon(eta=eta, e=9.49 * np.cosh(eta))]},  # ET below 9.5
        {"ph": [photon(eta=2.38, e=100.0)]},  # beyond |eta| 2.37
        {"ph": [photon(eta=1.40, e=100.0)]},  # in the crack
        {"ph": [photon(eta=-1.0, e=50.0, isLoose=False)]},  # not loose
        {"ph": [photon(eta=eta, e=9.51 * np.cosh(eta), truth_e=1000.0)]},  # far from truth
        {"ph": []},
    ]


def test_jets_cuts_and_cutflow_without_and_with_an_identification(config, tmp_path):
    path = write_events(tmp_path / "jets.root", jets_events())
    table, steps = skim(config, path, tmp_path)
    counts = {step["cut"]: (step["events"], step["objects"]) for step in steps}
    assert counts["all"] == (6, 5)
    assert counts["photon: valid energy"] == (5, 5)
    assert counts["photon: ET > 9.5 GeV"] == (4, 4)
    assert counts["photon: abs(eta) < 2.37"] == (3, 3)
    assert counts["photon: abs(eta) outside [1.37, 1.52]"] == (2, 2)
    # Not loose and far from its truth energy: both kept (no ID, no truth matching).
    assert sorted(table["eventNumber"].to_pylist()) == [4, 5]
    config["selection"]["jets"]["photon_id"] = "isLoose"
    table, steps = skim(config, path, tmp_path, name="loose")
    assert steps[-1] == {"cut": "photon: isLoose", "events": 1, "objects": 1}
    assert table["eventNumber"].to_pylist() == [5]


def test_files_without_the_optional_branches_give_nan_and_minus_one(config, tmp_path):
    # A hand-built photon-gun file: no Ehad1, Ehad or truth_origin branch.
    path = write_events(tmp_path / "gun.root", [{"ph": [photon(eta=0.5, e=40.0)]}])
    table, _ = skim(config, path, tmp_path, process="pgun")
    assert table.num_rows == 1
    assert np.isnan(table["e_had1"][0].as_py()) and np.isnan(table["e_had"][0].as_py())
    assert table["truth_origin"].to_pylist() == [-1]


def test_the_truth_origin_is_read_under_a_mapped_name(config, tmp_path):
    """An ATLAS ntuple's ph_truthOrigin and hadronic energies, mapped in ntuple.branches."""
    event = {"ph": [photon(eta=0.5, e=40.0, truthOrigin=42, hadE1=0.3, hadE=0.5)]}
    extra = {"ph_truthOrigin": "int32", "ph_hadE1": "float32", "ph_hadE": "float32"}
    path = write_events(tmp_path / "atlas.root", [event], extra=extra)
    config["ntuple"]["branches"] = {
        "ph_truth_origin": "ph_truthOrigin",
        "ph_Ehad1": "ph_hadE1",
        "ph_Ehad": "ph_hadE",
    }
    table, _ = skim(config, path, tmp_path)
    assert table["truth_origin"].to_pylist() == [42]
    np.testing.assert_allclose(table["e_had1"].to_numpy(), [0.3], rtol=1e-6)
    np.testing.assert_allclose(table["e_had"].to_numpy(), [0.5], rtol=1e-6)


def test_schema_accepts_jets_datasets_of_both_kinds_and_no_identification(config, repo):
    config["datasets"]["data_jets"] = {
        "kind": "data",
        "process": "jets",
        "source": "files",
        "files": ["a.root"],
    }
    config["datasets"]["mc_jets"]["kind"] = "mc"
    config["selection"]["jets"]["photon_id"] = None
    validate(config, str(repo / "config.schema.yaml"))
    config["selection"]["jets"]["photon_id"] = "isMedium"
    with pytest.raises(WorkflowError, match="photon_id"):
        validate(config, str(repo / "config.schema.yaml"))


def test_no_model_trains_on_jets_and_none_is_evaluated_on_them(default_config):
    datasets = {
        **default_config["datasets"],
        "data_jets": {"kind": "data", "process": "jets", "source": "simulate"},
    }
    assert "mc_jets" in default_config["datasets"]
    photon_model = {"name": "photons", "train_on": ["mc_zmumug"]}
    assert evaluation_datasets(photon_model, datasets) == ["mc_zmumug", "mc_pgun", "data_zmumug"]
    for train_on in (["mc_jets"], ["mc_zmumug", "data_jets"]):
        spec = {"name": "fakes", "train_on": train_on}
        with pytest.raises(ValueError, match=r"model fakes: cannot train on dataset .*_jets"):
            model_particle(spec, datasets)
