"""Calibrated energies written into any ntuple (egcalib.apply) from an exported calibration, on
ntuples written by ROOT itself (tests/data/real_ntuples)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot
import yaml
from ntuple_builder import skim_with

pytest.importorskip("tf2onnx")

from egcalib.apply.friends import Calibration, decorate
from egcalib.core.model_specs import resolve_model
from egcalib.infer.calibration_onnx import export_calibration, objects_from_skim, onnx_energies
from egcalib.infer.onnx_export import export_onnx
from egcalib.train.models import build_model
from egcalib.train.normalisation import identity_statistics

DATA = Path(__file__).parent / "data" / "real_ntuples"


@pytest.fixture(scope="module")
def calibration(default_config, tmp_path_factory):
    """An electron calibration whose weights are off their initial values (an untrained one
    gives E_acc for every object), exported as the workflow exports it."""
    images = default_config["images"]
    name = "recommended"
    spec = resolve_model(name, default_config["models"][name], default_config["model_defaults"])
    model = build_model(spec, (*images["target_shape"], 4))
    rng = np.random.default_rng(2)
    model.set_weights([w + rng.normal(0.0, 0.05, w.shape) for w in model.get_weights()])
    stats = identity_statistics()
    stats["log_e_acc_median"], stats["log_e_acc_iqr"] = 3.7, 0.8
    path = tmp_path_factory.mktemp("model") / "model.onnx"
    export_calibration(model, stats, images, spec, "electron", path)
    return path


def _flat(friend, branch):
    """The friend's values of ``branch`` keyed by (eventNumber, object index)."""
    values = friend[branch]
    events = ak.flatten(ak.broadcast_arrays(friend.eventNumber, values)[0])
    index = ak.flatten(ak.local_index(values))
    return dict(zip(zip(ak.to_list(events), ak.to_list(index)), ak.to_list(ak.flatten(values))))


@pytest.mark.parametrize("name", ["zee_bool.root", "zee_nested.root"])
def test_the_friend_holds_the_calibration_of_every_electron(
    default_config, calibration, tmp_path, name
):
    """Aligned with the input's electrons, equal to the calibration on the skim's objects for
    those the selection keeps, and the same whatever layout the cells are stored in."""
    out = tmp_path / "friend.root"
    summary = decorate(str(DATA / name), out, [Calibration.load(calibration)], step_size=100)
    friend = uproot.open(out)["egamma"].arrays()
    events = uproot.open(DATA / name)["egamma"].arrays(["eventNumber", "el_e"])
    assert summary["entries"] == len(events) == len(friend)
    assert ak.all(friend.eventNumber == events.eventNumber)
    assert ak.all(ak.num(friend.el_e_recommended) == ak.num(events.el_e))
    assert summary["objects"]["el_e_recommended"] == ak.sum(ak.num(events.el_e))
    assert ak.all(np.isfinite(friend.el_e_recommended))
    assert summary["nonfinite"]["el_e_recommended"] == 0
    skim_with(copy.deepcopy(default_config), DATA / name, tmp_path / "s.parquet", dataset="real")
    table = pq.read_table(tmp_path / "s.parquet")
    expected = onnx_energies(calibration, objects_from_skim(table, default_config["images"]))
    written = _flat(friend, "el_e_recommended")
    keys = zip(table["eventNumber"].to_pylist(), table["object_index"].to_pylist())
    np.testing.assert_allclose([written[k] for k in keys], expected[:, 0], rtol=1e-6)
    # Not the baseline: the calibration's own energies.
    assert not np.allclose(expected[:, 0], table["e_baseline"].to_numpy(), rtol=1e-3)


def test_the_command_line_writes_nothing_for_a_file_it_cannot_read(calibration, tmp_path):
    config = tmp_path / "mapping.yaml"
    config.write_text(yaml.safe_dump({"ntuple": {"branches": {"el_cl_E1": "el_no_such_branch"}}}))
    out = tmp_path / "friend.root"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "egcalib.apply",
            str(calibration),
            str(DATA / "zee_bool.root"),
            "--out",
            str(out),
            "--config",
            str(config),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "zee_bool.root" in result.stderr and "el_no_such_branch" in result.stderr
    assert not out.exists() and not list(tmp_path.glob("*.root*"))


def test_a_bare_network_is_not_taken_for_a_calibration(default_config, tmp_path):
    spec = resolve_model(
        "basic", default_config["models"]["basic"], default_config["model_defaults"]
    )
    bare = tmp_path / "bare.onnx"
    export_onnx(build_model(spec, (16, 15, 4)), bare)
    with pytest.raises(ValueError, match=r"bare\.onnx: not a self-contained egcalib calibration"):
        Calibration.load(bare)
