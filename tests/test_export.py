"""ONNX export equals the Keras model within tolerance."""
import pytest

pytest.importorskip("tf2onnx")

from egcalib.export import export_onnx, max_difference, random_inputs  # noqa: E402
from egcalib.model_config import resolve_model  # noqa: E402
from egcalib.models import build_model  # noqa: E402


@pytest.mark.parametrize("name, loss", [("recommended", "mae"),
                                        ("film_scalars_tracks_top_scalars_tracks", "mdn")])
def test_onnx_output_equals_keras(default_config, tmp_path, name, loss):
    entry = {**default_config["models"][name], "loss": {"name": loss}}
    model = build_model(resolve_model(name, entry, default_config["model_defaults"]), (16, 15, 4))
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    inputs = random_inputs(model, n=5)
    assert max_difference(model, path, inputs) < 1e-4
    assert model(inputs, training=False).shape[1] == (2 if loss == "mdn" else 1)
