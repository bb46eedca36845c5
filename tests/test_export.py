"""ONNX export equals the Keras model within tolerance."""

import pytest

pytest.importorskip("tf2onnx")

from egcalib.core.model_specs import resolve_model
from egcalib.infer.onnx_export import check_onnx, export_onnx, max_difference, random_inputs
from egcalib.train.models import build_model


@pytest.mark.parametrize(
    "name, loss", [("recommended", "mae"), ("film_scalars_tracks_top_scalars_tracks", "mdn")]
)
def test_onnx_output_equals_keras(default_config, tmp_path, name, loss):
    entry = {**default_config["models"][name], "loss": {"name": loss}}
    model = build_model(resolve_model(name, entry, default_config["model_defaults"]), (16, 15, 4))
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    inputs = random_inputs(model, n=5)
    assert max_difference(model, path, inputs) < 1e-4
    assert model(inputs, training=False).shape[1] == (2 if loss == "mdn" else 1)
    import onnxruntime

    from egcalib import __version__

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata == {"egcalib_version": __version__, "model_name": model.name}


@pytest.fixture
def mixed_precision():
    """The policy of a GPU training (training.compile_model), on CPU; float32 again after."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_a_model_trained_in_mixed_precision_exports_and_infers_in_float32(
    default_config, tmp_path, mixed_precision
):
    """Trained under mixed_float16 (as on a GPU), saved and reloaded as the workflow does: its
    float32 copy computes in float32 (no float16 quantisation), stays within float16 rounding of
    the trained network, and ONNX agrees with it to 1e-4."""
    import keras
    import numpy as np

    from egcalib.train.models import load_for_inference

    name = "recommended"
    model = build_model(
        resolve_model(name, default_config["models"][name], default_config["model_defaults"]),
        (16, 15, 4),
    )
    assert model.get_layer("conv0").compute_dtype == "float16"
    inputs = random_inputs(model, n=64, seed=1)
    target = 1.0 + 0.05 * np.tanh(inputs["scalars"][:, 0])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mae")
    model.fit(inputs, target, epochs=4, batch_size=16, verbose=0)
    model.save(tmp_path / "model.keras")
    keras.mixed_precision.set_global_policy("float32")  # a fresh inference job

    trained = keras.models.load_model(tmp_path / "model.keras", compile=False)
    copy = load_for_inference(tmp_path / "model.keras")
    assert all(layer.compute_dtype == "float32" for layer in copy.layers)
    check = random_inputs(model, n=32, seed=2)
    mixed_out = np.asarray(trained(check, training=False))
    float_out = np.asarray(copy(check, training=False))
    # The trained network's outputs sit on float16's grid (its last layers compute in float16);
    # the copy's do not, and differ from them by float16 rounding only.
    assert np.array_equal(mixed_out.astype(np.float16).astype(np.float32), mixed_out)
    assert not np.array_equal(float_out.astype(np.float16).astype(np.float32), float_out)
    assert np.abs(mixed_out - float_out).max() < 5e-3
    path = tmp_path / "model.onnx"
    export_onnx(copy, path)
    assert max_difference(copy, path, check) < 1e-4


def test_the_onnx_check_fails_on_non_finite_outputs(default_config, tmp_path):
    """NaN outputs of Keras and ONNX alike gave a NaN difference, and NaN > 1e-4 is False: the
    check passed. Non-finite outputs fail it now, as does a difference beyond the tolerance."""
    import math

    import numpy as np

    name = "recommended"
    model = build_model(
        resolve_model(name, default_config["models"][name], default_config["model_defaults"]),
        (16, 15, 4),
    )
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    inputs = random_inputs(model, n=5)
    assert check_onnx(model, path, inputs, 1e-4, "random inputs") < 1e-4
    inputs["scalars"][[1, 3], 0] = np.nan
    assert np.isnan(np.asarray(model(inputs, training=False))[[1, 3]]).all()
    assert max_difference(model, path, inputs) == math.inf
    with pytest.raises(
        RuntimeError,
        match=rf"model {name}: non-finite outputs on random inputs \(of 5: 2 from Keras, 2 "
        r"from ONNX\)",
    ):
        check_onnx(model, path, inputs, 1e-4, "random inputs")
    with pytest.raises(
        RuntimeError, match=r"ONNX output differs from Keras by .* \(tolerance -1\)"
    ):
        check_onnx(model, path, random_inputs(model, n=5), -1.0, "random inputs")
