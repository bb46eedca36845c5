"""The self-contained ONNX calibration (egcalib.infer.calibration_onnx): raw ntuple inputs in,
GeV out, equal to the Keras model through the workflow's own steps."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("tf2onnx")

from egcalib.core.contract import CELL_COLUMNS, SCALARS
from egcalib.core.model_specs import resolve_model
from egcalib.infer.calibration_onnx import (
    check_calibration,
    export_calibration,
    keras_energies,
    onnx_energies,
    random_objects,
    raw_inputs,
)
from egcalib.train.models import build_model
from egcalib.train.normalisation import identity_statistics


def _perturbed(model, seed=11):
    """``model`` with every weight moved off its initial value: an untrained network's last
    layer is zero, so it would give E_acc whatever its inputs."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0.0, 0.05, w.shape) for w in model.get_weights()])
    return model


def _statistics(seed=3):
    """Training statistics far from the identity, so a step left out shows."""
    rng = np.random.default_rng(seed)
    stats = identity_statistics()
    stats["scalar_median"] = rng.normal(size=len(stats["scalar_median"])).tolist()
    stats["scalar_iqr"] = rng.uniform(0.5, 2.0, len(stats["scalar_iqr"])).tolist()
    stats["track_median"] = rng.normal(size=len(stats["track_median"])).tolist()
    stats["track_iqr"] = rng.uniform(0.5, 2.0, len(stats["track_iqr"])).tolist()
    stats["log_e_acc_median"], stats["log_e_acc_iqr"] = 3.5, 1.2
    return stats


@pytest.mark.parametrize("loss", ["mae", "mdn"])
def test_the_calibration_takes_raw_inputs_and_gives_gev(default_config, tmp_path, loss):
    images = default_config["images"]
    name = "recommended"
    spec = resolve_model(
        name,
        {**default_config["models"][name], "loss": {"name": loss}},
        default_config["model_defaults"],
    )
    model = build_model(spec, (*images["target_shape"], 4))
    stats = _statistics()
    path = tmp_path / "model.onnx"
    metadata = export_calibration(model, stats, images, spec, "electron", path)
    raw = random_objects(images, stats, n=16, seed=5)
    assert check_calibration(model, stats, images, path, raw, 1e-4, "random objects") < 1e-4
    energies = onnx_energies(path, raw)
    assert energies.shape == (16, 2 if loss == "mdn" else 1)
    # GeV: the correction (the median target, 1, at initialisation) times E_acc.
    e_acc = raw["scalars"][:, SCALARS.index("E_acc")]
    np.testing.assert_allclose(energies[:, 0] / e_acc, 1.0, rtol=1e-5)

    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(raw_inputs(images))
    assert [o.name for o in session.get_outputs()] == (
        ["energy", "sigma_energy"] if loss == "mdn" else ["energy"]
    )
    stored = session.get_modelmeta().custom_metadata_map
    assert stored == metadata
    assert json.loads(stored["trained_on"]) == spec["train_on"]
    assert json.loads(stored["inputs"])["cells_lr1"]["shape"] == [56, 5]
    assert json.loads(stored["model_spec"])["name"] == name and stored["particle"] == "electron"
    assert len(stored["model_hash"]) == 64 and stored["exported"].startswith("20")


def test_each_step_around_the_network_is_inside(default_config, tmp_path):
    """Upsampling, scaling and standardisation: a calibration that ignored the statistics, or a
    layer's cells, would not match the workflow's path."""
    images = default_config["images"]
    spec = resolve_model(
        "recommended", default_config["models"]["recommended"], default_config["model_defaults"]
    )
    model = _perturbed(build_model(spec, (*images["target_shape"], 4)))
    stats = _statistics()
    path = tmp_path / "model.onnx"
    export_calibration(model, stats, images, spec, "electron", path)
    raw = random_objects(images, stats, n=8, seed=7)
    reference = keras_energies(model, stats, images, raw)
    np.testing.assert_allclose(onnx_energies(path, raw), reference, rtol=2e-5)
    assert not np.allclose(keras_energies(model, _statistics(seed=4), images, raw), reference)
    changed = {**raw, CELL_COLUMNS[3]: raw[CELL_COLUMNS[3]] * 5.0}
    assert not np.allclose(onnx_energies(path, changed), reference)
    with pytest.raises(RuntimeError, match="differs from Keras"):
        check_calibration(model, _statistics(seed=4), images, path, raw, 1e-4, "random objects")
