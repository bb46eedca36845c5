"""The BDT control's self-contained ONNX calibration (egcalib.bdt.calibration_onnx): the 16 raw
scalars in, LightGBM's energy in GeV out, with onnxruntime alone; the same leaf as LightGBM for
every float32 input; applied to an ntuple by egcalib.apply like a network's."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

lgb = pytest.importorskip("lightgbm")
pytest.importorskip("onnxmltools")

from ntuple_builder import skim_with  # noqa: E402
from tiny_bdt import physical_scalars, trained_bdt  # noqa: E402

from egcalib.apply.friends import Calibration, decorate  # noqa: E402
from egcalib.bdt.calibration_onnx import (  # noqa: E402
    TREES_PER_NODE,
    ZERO_THRESHOLD,
    calibration_graph,
    check_bdt_calibration,
    export_bdt_calibration,
    lightgbm_energies,
    numerical_splits,
    rounded_model,
    split_scalars,
    threshold_objects,
)
from egcalib.bdt.prediction import predict_files  # noqa: E402
from egcalib.core.contract import SCALAR_COLUMNS, SCALARS  # noqa: E402

DATA = Path(__file__).parent / "data" / "real_ntuples"
NATIVE_SHAPES = {"lr0": [7, 5], "lr1": [56, 5], "lr2": [7, 11], "lr3": [7, 11]}
# Of E_acc: the rule's tolerance (rules/train.smk, export_onnx_bdt).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def bdt(tmp_path_factory):
    """A BDT trained by the workflow's code, exported as the workflow exports it: (spec,
    model.txt, model.onnx, sidecars, metadata)."""
    directory = tmp_path_factory.mktemp("bdt")
    spec, model, sidecars = trained_bdt(directory)
    path = directory / "bdt" / "model.onnx"
    metadata = export_bdt_calibration(model, spec, "electron", NATIVE_SHAPES, path)
    return spec, model, path, sidecars, metadata


def test_the_calibration_takes_the_raw_scalars_and_gives_lightgbms_gev(bdt, tmp_path):
    """Plain onnxruntime on the sidecars' scalars gives the workflow's own predictions
    (egcalib.bdt.prediction: LightGBM's correction times E_acc), named and described."""
    import onnxruntime

    spec, model, path, sidecars, metadata = bdt
    assert lgb.Booster(model_file=str(model)).num_trees() > TREES_PER_NODE  # several nodes
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [(i.name, i.shape) for i in session.get_inputs()] == [("scalars", [None, 16])]
    assert [o.name for o in session.get_outputs()] == ["energy"]
    predictions = tmp_path / "c000.parquet"
    predict_files(model, sidecars, predictions, name="bdt")
    frame = pd.read_parquet(predictions)
    scalars = frame[list(SCALAR_COLUMNS)].to_numpy(np.float32)
    (energy,) = session.run(["energy"], {"scalars": scalars})
    assert energy.shape == (len(frame),) and len(frame) > 500
    np.testing.assert_allclose(energy, frame["e_pred"], rtol=TOLERANCE)
    # GeV, not the correction: the energy scales with E_acc.
    assert 0.8 < np.median(energy / scalars[:, 0]) < 1.3 and energy.max() > 100

    stored = session.get_modelmeta().custom_metadata_map
    assert stored == metadata
    assert set(stored) == {
        "egcalib_version",
        "model_name",
        "particle",
        "model_spec",
        "trained_on",
        "inputs",
        "outputs",
        "native_shapes",
        "model_hash",
        "exported",
    }
    assert stored["model_name"] == "bdt" and stored["particle"] == "electron"
    assert json.loads(stored["model_spec"]) == spec
    assert json.loads(stored["trained_on"]) == ["mc_zee"]
    inputs = json.loads(stored["inputs"])
    assert list(inputs) == ["scalars"] and inputs["scalars"]["shape"] == [16]
    assert list(inputs["scalars"]["unit"]) == list(SCALARS)  # the names, in input order
    assert inputs["scalars"]["unit"]["E_acc"] == "GeV"
    assert json.loads(stored["outputs"]) == {"energy": {"shape": [], "unit": "GeV"}}
    assert json.loads(stored["native_shapes"]) == NATIVE_SHAPES
    assert len(stored["model_hash"]) == 64 and stored["exported"].startswith("20")


def test_every_float32_input_takes_lightgbms_leaves(bdt):
    """On both sides of every split (where a float32 threshold rounded to nearest would send
    the input to the other leaf) and at LightGBM's zero threshold, the calibration gives
    LightGBM's energy; the converter on the unrounded model does not."""
    _, model, path, sidecars, _ = bdt
    validation = split_scalars(sidecars, "val")
    objects = threshold_objects(model, np.median(validation, axis=0))
    # Zero splits (LightGBM's bins around 0) on the features with exact zeros, f0 negative too.
    _, thresholds = numerical_splits(model.read_text())
    assert np.any(thresholds == -np.float64(ZERO_THRESHOLD))
    # Values LightGBM reads as 0 (|x| <= 1e-35) and their neighbours, in every scalar.
    tiny = np.array([-1e-35, -1e-36, 1e-36, 1e-35, 1.1e-35, -1.1e-35], np.float32)
    near_zero = np.repeat(validation[:1], len(tiny) * 16, axis=0)
    near_zero[np.arange(len(near_zero)), np.repeat(np.arange(16), len(tiny))] = np.tile(tiny, 16)
    for what, scalars in (
        ("validation objects", validation),
        ("objects at the thresholds", objects),
        ("values near zero", near_zero),
    ):
        assert check_bdt_calibration("bdt", model, path, scalars, TOLERANCE, what) < TOLERANCE

    # The rounding changes no LightGBM decision: the same leaves in every tree.
    original = lgb.Booster(model_file=str(model))
    rounded = lgb.Booster(model_str=rounded_model(model.read_text()))
    for scalars in (validation, objects, near_zero):
        np.testing.assert_array_equal(
            original.predict(scalars, pred_leaf=True), rounded.predict(scalars, pred_leaf=True)
        )
    _, rounded_thresholds = numerical_splits(rounded_model(model.read_text()))
    assert np.all(rounded_thresholds.astype(np.float32) == rounded_thresholds)
    assert np.all(rounded_thresholds <= thresholds) and np.any(rounded_thresholds < thresholds)

    # The converter alone, on the unrounded thresholds: other leaves at the thresholds.
    import onnxruntime

    unrounded = calibration_graph(original, "bdt").SerializeToString()
    session = onnxruntime.InferenceSession(unrounded, providers=["CPUExecutionProvider"])
    (energy,) = session.run(["energy"], {"scalars": objects})
    difference = np.abs(energy - lightgbm_energies(model, objects)[:, 0]) / objects[:, 0]
    assert np.sum(difference > TOLERANCE) > 0.01 * len(objects), np.sum(difference > TOLERANCE)


def test_a_model_of_few_trees_is_one_tree_ensemble(tmp_path):
    """Fewer trees than TREES_PER_NODE: one TreeEnsembleRegressor (the converter's split
    needs two blocks at least), the same energies."""
    import onnx

    spec, model, _ = trained_bdt(tmp_path, name="few", max_rounds=3)
    path = tmp_path / "few.onnx"
    export_bdt_calibration(model, spec, "photon", NATIVE_SHAPES, path)
    ops = [node.op_type for node in onnx.load(str(path)).graph.node]
    assert ops.count("TreeEnsembleRegressor") == 1
    scalars = physical_scalars(500, seed=9)
    assert check_bdt_calibration("few", model, path, scalars, TOLERANCE, "objects") < TOLERANCE


def test_a_calibration_that_differs_from_its_model_fails_the_check(bdt, tmp_path):
    _, _, path, sidecars, _ = bdt
    _, other, _ = trained_bdt(tmp_path, name="other", learning_rate=0.3)
    scalars = split_scalars(sidecars, "val")
    with pytest.raises(RuntimeError, match=r"model bdt: ONNX energy differs from LightGBM by"):
        check_bdt_calibration("bdt", other, path, scalars, TOLERANCE, "validation objects")


def test_the_friend_holds_the_bdts_energies(default_config, bdt, tmp_path):
    """egcalib.apply on an ntuple written by ROOT: a scalars-only calibration reads the windows
    its metadata name, and gives every electron LightGBM's energy for its skim scalars."""
    _, model, path, _, _ = bdt
    name = "zee_bool.root"
    out = tmp_path / "friend.root"
    summary = decorate(str(DATA / name), out, [Calibration.load(path)], step_size=100)
    friend = uproot.open(out)["egamma"].arrays()
    events = uproot.open(DATA / name)["egamma"].arrays(["eventNumber", "el_e"])
    assert summary["entries"] == len(events) and summary["nonfinite"]["el_e_bdt"] == 0
    assert np.all(np.asarray(ak_counts(friend.el_e_bdt)) == np.asarray(ak_counts(events.el_e)))
    skim_with(copy.deepcopy(default_config), DATA / name, tmp_path / "s.parquet", dataset="real")
    table = pq.read_table(tmp_path / "s.parquet")
    assert table.num_rows > 0
    scalars = np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1).astype(np.float32)
    expected = lightgbm_energies(model, scalars)[:, 0]
    written = {
        (event, index): value
        for event, energies in zip(friend.eventNumber.tolist(), friend.el_e_bdt.tolist())
        for index, value in enumerate(energies)
    }
    keys = zip(table["eventNumber"].to_pylist(), table["object_index"].to_pylist())
    np.testing.assert_allclose([written[k] for k in keys], expected, rtol=TOLERANCE)


def ak_counts(jagged):
    """Objects per event of a jagged array."""
    import awkward as ak

    return ak.to_numpy(ak.num(jagged))
