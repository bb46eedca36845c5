"""The DeepCalo network: every ablation variant builds, FiLM is live, tracks are a set."""

from __future__ import annotations

import copy

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from egcalib.core.model_specs import resolve_model  # noqa: E402
from egcalib.train.models import build_model, conv_channels, copy_weights  # noqa: E402

IMAGE = (16, 15, 4)


@pytest.fixture(scope="module")
def entries(default_config):
    models = {
        name: resolve_model(name, entry, default_config["model_defaults"])
        for name, entry in default_config["models"].items()
    }
    return {name: model for name, model in models.items() if model["kind"] == "cnn"}


def inputs(n=4, seed=0, image=IMAGE, n_tracks=4):
    """Random network inputs for n objects: images of shape ``image``, ``n_tracks`` real tracks
    of 10."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, 10), np.float32)
    mask[:, :n_tracks] = 1
    return {
        "image": rng.exponential(1, (n, *image)).astype(np.float32),
        "scalars": rng.normal(size=(n, 16)).astype(np.float32),
        "tracks": (rng.normal(size=(n, 10, 11)) * mask[..., None]).astype(np.float32),
        "track_mask": mask,
        "log_e_acc": rng.normal(size=(n, 1)).astype(np.float32),
    }


def test_config_holds_the_seed_ablation_variants(entries):
    placements = {(tuple(m["film"]), tuple(m["top"])) for m in entries.values()}
    assert len(placements) == 12, "the 12 variants of the seed's table"
    assert ((), ()) in placements and (("scalars",), ("tracks",)) in placements


def test_every_variant_builds_with_the_expected_inputs_and_output(entries):
    for name, entry in entries.items():
        model = build_model(entry, IMAGE)
        assert set(model.input) == {"image", "log_e_acc", "scalars", "tracks", "track_mask"}, name
        assert model(inputs(), training=False).shape == (4, 1), name
        has_film = any(
            layer.name.startswith("film") and layer.name[4:].isdigit() for layer in model.layers
        )
        assert has_film == bool(entry["film"]), name


def test_mdn_head_predicts_a_positive_resolution(entries):
    entry = copy.deepcopy(entries["recommended"])
    entry["loss"] = {"name": "mdn"}
    out = build_model(entry, IMAGE)(inputs(), training=False).numpy()
    assert out.shape == (4, 2) and np.all(out[:, 1] > 0)


def test_convolutions_without_batch_norm_when_configured(entries):
    entry = copy.deepcopy(entries["basic"])
    names = {layer.name for layer in build_model(entry, IMAGE).layers}
    assert "conv_bn0" in names
    entry["architecture"]["cnn"] = {**entry["architecture"]["cnn"], "normalisation": "none"}
    model = build_model(entry, IMAGE)
    assert not any(layer.name.startswith("conv_bn") for layer in model.layers)
    assert model(inputs(), training=False).shape == (4, 1)


def _cnn_features(model):
    return keras.Model(model.input, model.get_layer("global_max_pool").output)


def _randomise(model, name):
    """Zero-initialised layers (FiLM parameters, the output) made random, as after training."""
    layer = model.get_layer(name)
    kernel, bias = layer.get_weights()
    rng = np.random.default_rng(3)
    layer.set_weights([rng.normal(0, 0.3, kernel.shape).astype(np.float32), bias])


def _randomise_film(model):
    _randomise(model, "film_params")


def test_film_modulation_is_live_only_when_scalars_feed_it(entries):
    x, changed = inputs(), inputs()
    changed["scalars"] = changed["scalars"] + 1.0
    film = build_model(entries["film_scalars"], IMAGE)
    _randomise_film(film)
    features = _cnn_features(film)
    assert not np.allclose(features(x, training=False), features(changed, training=False))
    plain = _cnn_features(build_model(entries["top_scalars"], IMAGE))
    np.testing.assert_allclose(plain(x, training=False), plain(changed, training=False))
    assert len(conv_channels(entries["basic"]["architecture"]["cnn"])) == 4


def test_track_order_and_padding_do_not_change_the_output(entries):
    model = build_model(entries["film_scalars_tracks_top_scalars_tracks"], IMAGE)
    _randomise_film(model)
    _randomise(model, "correction_z")
    x = inputs(seed=5)
    reference = model(x, training=False).numpy()
    permuted = dict(x)
    order = np.array([3, 1, 0, 2, 9, 8, 7, 6, 5, 4])
    permuted["tracks"], permuted["track_mask"] = x["tracks"][:, order], x["track_mask"][:, order]
    np.testing.assert_allclose(model(permuted, training=False), reference, rtol=1e-5, atol=1e-6)
    padded = dict(x)
    padded["tracks"] = x["tracks"] + 100.0 * (1 - x["track_mask"])[..., None]  # junk in padding
    np.testing.assert_allclose(model(padded, training=False), reference, rtol=1e-5, atol=1e-6)
    extra = dict(x)
    extra["track_mask"] = x["track_mask"].copy()
    extra["track_mask"][:, 5] = 1  # a real track changes it
    assert not np.allclose(model(extra, training=False), reference)


def test_saved_model_round_trips(entries, tmp_path):
    model = build_model(entries["recommended"], IMAGE)
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(
        again(inputs(), training=False), model(inputs(), training=False), rtol=1e-6
    )


def test_time_images_enter_as_a_second_image(entries):
    model = build_model(entries["recommended"], IMAGE, time_images=True)
    _randomise(model, "correction_z")
    assert "time_image" in model.input
    x = inputs()
    x["time_image"] = np.zeros_like(x["image"])
    reference = model(x, training=False).numpy()
    x["time_image"] = x["time_image"] + 5.0
    assert not np.allclose(model(x, training=False), reference), "the gate image is used"


def test_an_untrained_model_predicts_the_median_training_target(entries, tmp_path):
    """The output is relu(median + IQR * z) with z zero-initialised (seed 002's target
    normalisation); the scale is saved with the model."""
    model = build_model(entries["recommended"], IMAGE, target_scale=(1.07, 0.04))
    np.testing.assert_allclose(model(inputs(), training=False).numpy(), 1.07, rtol=1e-6)
    model.get_layer("correction_z").set_weights(
        [np.full((64, 1), 0.5, np.float32), np.ones(1, np.float32)]
    )
    expected = model(inputs(), training=False).numpy()
    assert not np.allclose(expected, 1.07)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    np.testing.assert_allclose(loaded(inputs(), training=False).numpy(), expected, rtol=1e-6)


def test_a_model_starts_from_the_weights_of_another_of_its_architecture(entries):
    """init_from: the photon model takes every weight of the electron model (its own target
    scale stays: it has no weights); another architecture is a clear error naming the layer."""
    electron = build_model(entries["recommended"], IMAGE)
    _randomise(electron, "correction_z")
    photon = build_model(entries["recommended_photon"], IMAGE, target_scale=(1.02, 0.1))
    assert copy_weights(electron, photon) == len([la for la in photon.layers if la.weights])
    for layer in photon.layers:
        for mine, theirs in zip(layer.get_weights(), electron.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(mine, theirs)
    # The same network up to z, the prediction on the unit scale of each model's targets.
    z = [
        keras.Model(m.input, m.get_layer("correction_z").output)(inputs(), training=False)
        for m in (electron, photon)
    ]
    np.testing.assert_allclose(z[1], z[0], rtol=1e-5, atol=1e-6)
    basic = build_model(entries["basic"], IMAGE)
    with pytest.raises(
        ValueError, match="model basic cannot start from model recommended: its layer"
    ):
        copy_weights(electron, basic)
