"""An MDN model's sigma calibrated on validation pulls: the scale, and that the model keeps it."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import norm

from egcalib.train.sigma_calibration import (
    COVERAGE_68,
    calibrate_sigma,
    coverage_scale,
    validation_pulls,
)

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from egcalib.core.model_specs import resolve_model  # noqa: E402
from egcalib.infer.onnx_export import export_onnx, max_difference, random_inputs  # noqa: E402
from egcalib.train.models import build_model, load_for_inference  # noqa: E402

IMAGE = (16, 15, 4)


def test_the_scale_of_gaussian_pulls_is_their_width():
    pulls = np.random.default_rng(0).normal(0.0, 1.5, 40000)
    assert coverage_scale(pulls) == pytest.approx(1.5, rel=0.02)


def test_pulls_with_tails_cover_68_percent_of_new_objects_once_scaled():
    """A core of width 1 and a 20 % tail of width 4: the scale from one sample puts 68 % of an
    independent sample inside +-1, where the NLL-optimal scale sqrt(mean(z^2)) (~2) would put ~84 %,
    as the MDN's own sigma did on the reference run."""
    rng = np.random.default_rng(1)

    def sample(n):
        return np.where(rng.uniform(size=n) < 0.8, rng.normal(0, 1, n), rng.normal(0, 4, n))

    scale = coverage_scale(sample(20000))
    new = sample(20000) / scale
    assert np.mean(np.abs(new) < 1) == pytest.approx(COVERAGE_68, abs=0.01)
    nll_scale = np.sqrt(np.mean(sample(20000) ** 2))
    assert np.mean(np.abs(sample(20000) / nll_scale) < 1) > 0.8


def test_too_few_pulls_is_a_clear_error():
    with pytest.raises(ValueError, match="99 validation objects"):
        coverage_scale(np.r_[np.ones(99), np.full(5, np.nan)])


def _mdn_model(default_config):
    name = "recommended"
    entry = {**default_config["models"][name], "loss": {"name": "mdn"}}
    return build_model(resolve_model(name, entry, default_config["model_defaults"]), IMAGE)


def _validation(model, width, n=2048):
    """Targets scattered around the model's own mu by ``width`` times its sigma; a quarter of
    the objects has weight 0 (no target) and far-off targets that must not count."""
    inputs = random_inputs(model, n=n, seed=3)
    mu, sigma = np.asarray(model(inputs, training=False)).T
    z = np.random.default_rng(4).standard_normal(n)
    weight = (np.arange(n) % 4 != 0).astype(np.float32)
    target = np.where(weight > 0, mu + width * sigma * z, mu + 100 * sigma).astype(np.float32)
    return tf.data.Dataset.from_tensor_slices((inputs, target, weight)).batch(256)


def test_the_calibrated_sigma_is_saved_exported_and_covers_68_percent(default_config, tmp_path):
    model = _mdn_model(default_config)
    validation = _validation(model, width=2.5)
    inputs = random_inputs(model, n=16, seed=5)
    raw = np.asarray(model(inputs, training=False))

    scale = calibrate_sigma(model, validation)

    assert scale == pytest.approx(2.5, rel=0.06)
    calibrated = np.asarray(model(inputs, training=False))
    np.testing.assert_allclose(calibrated[:, 1], scale * raw[:, 1], rtol=1e-6)
    np.testing.assert_array_equal(calibrated[:, 0], raw[:, 0])
    # Calibrating again starts from the raw sigma (a resumed job), not the scaled one.
    assert calibrate_sigma(model, validation) == pytest.approx(scale, rel=1e-6)

    model.save(tmp_path / "model.keras")
    reloaded = load_for_inference(tmp_path / "model.keras")
    np.testing.assert_allclose(reloaded(inputs, training=False), calibrated, rtol=1e-6)
    export_onnx(reloaded, tmp_path / "model.onnx")
    assert max_difference(reloaded, tmp_path / "model.onnx", inputs) < 1e-4


def test_the_coverage_on_the_validation_objects_is_68_percent(default_config):
    model = _mdn_model(default_config)
    validation = _validation(model, width=0.4)
    calibrate_sigma(model, validation)
    pulls = validation_pulls(model, validation)
    assert len(pulls) == 1536, "objects without a target (weight 0) do not count"
    assert np.mean(np.abs(pulls) < 1) == pytest.approx(COVERAGE_68, abs=0.002)
    assert np.mean(np.abs(pulls) < norm.ppf(0.975)) == pytest.approx(0.95, abs=0.02)


def test_a_model_without_a_resolution_is_left_alone(default_config):
    name = "recommended"
    entry = resolve_model(name, default_config["models"][name], default_config["model_defaults"])
    model = build_model(entry, IMAGE)
    assert calibrate_sigma(model, _validation_single_output(model)) is None


def _validation_single_output(model):
    inputs = random_inputs(model, n=8)
    return tf.data.Dataset.from_tensor_slices((inputs, np.ones(8, np.float32), np.ones(8))).batch(4)
