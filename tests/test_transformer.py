"""The transformer (``kind: transformer``): the cells as a set of tokens. Its output does not
depend on the tokens' order, on padding or on the cells below the threshold; it builds for every
head, learns, and exports to ONNX equal to Keras."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from test_models import inputs as model_inputs

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from egcalib.core.model_specs import resolve_model  # noqa: E402
from egcalib.train.models import MaskedPooling, build_model, encode_set  # noqa: E402
from egcalib.train.transformer import CellTokens, cell_geometry  # noqa: E402

# A small image whose native windows divide it: 10 + 40 + 20 + 20 = 90 cells.
IMAGE = (8, 10, 4)
NATIVE = {"lr0": [2, 5], "lr1": [8, 5], "lr2": [2, 10], "lr3": [2, 10]}
N_CELLS = 90
TINY = {"d_model": 8, "heads": 2, "layers": 2, "mlp_ratio": 2}


@pytest.fixture(scope="module")
def spec(default_config):
    """config.yaml's electron transformer at a tiny size."""
    entry = copy.deepcopy(default_config["models"]["transformer"])
    entry["transformer"] = TINY
    return resolve_model("transformer", entry, default_config["model_defaults"])


def _perturbed(model, seed=11):
    """``model`` with every weight moved off its initial value (the zero-initialised last
    layer would make every output the median target)."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0.0, 0.1, w.shape) for w in model.get_weights()])
    return model


def inputs(n=4, seed=0):
    return model_inputs(n, seed, image=IMAGE, n_tracks=3)


def _set_encoder(settings, width, film=False):
    """The set encoder alone: tokens (n, T, width) and their mask (n, T) [and FiLM parameters]
    -> the pooled (n, d_model)."""
    tokens = keras.Input((None, width))
    mask = keras.Input((None,))
    params = keras.Input((2 * settings["layers"] * settings["d_model"],)) if film else None
    out = encode_set(tokens, mask, settings, "relu", params)
    model = keras.Model([tokens, mask] + ([params] if film else []), out)
    return _perturbed(model)


def test_the_set_encoder_ignores_the_order_of_the_tokens():
    rng = np.random.default_rng(1)
    encoder = _set_encoder(TINY, 6, film=True)
    tokens = rng.normal(size=(3, 20, 6)).astype(np.float32)
    mask = (rng.uniform(size=(3, 20)) < 0.7).astype(np.float32)
    film = rng.normal(0, 0.3, (3, 32)).astype(np.float32)
    reference = encoder([tokens, mask, film]).numpy()
    assert np.abs(reference).max() > 0.1  # not trivially constant
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(20)
        permuted = encoder([tokens[:, order], mask[:, order], film]).numpy()
        np.testing.assert_allclose(permuted, reference, atol=2e-5)


def test_padding_with_masked_tokens_changes_nothing():
    rng = np.random.default_rng(2)
    encoder = _set_encoder(TINY, 6)
    tokens = rng.normal(size=(3, 12, 6)).astype(np.float32)
    mask = np.ones((3, 12), np.float32)
    reference = encoder([tokens, mask]).numpy()
    padding = rng.normal(0, 100, (3, 30, 6)).astype(np.float32)  # any values: masked
    padded = encoder(
        [np.concatenate([tokens, padding], 1), np.concatenate([mask, np.zeros((3, 30))], 1)]
    ).numpy()
    np.testing.assert_allclose(padded, reference, atol=2e-5)


def test_masked_pooling_of_nothing_is_zero():
    out = MaskedPooling(mean_only=True)([np.ones((2, 5, 3), "f4"), np.zeros((2, 5), "f4")])
    np.testing.assert_array_equal(np.asarray(out), 0.0)


def test_cells_below_the_threshold_do_not_change_the_output(spec):
    model = _perturbed(build_model(spec, IMAGE, native_shapes=NATIVE))
    x = inputs()
    threshold = spec["transformer"]["cell_threshold"]
    # Pixels of the lr1 strips of the first row [E x pixels / E_acc / factor product]: one strip
    # (1 x 2 pixels) at 0.4 of the threshold, whatever the values within the block.
    pixels = IMAGE[0] * IMAGE[1]
    quiet = dict(x, image=x["image"].copy())
    quiet["image"][:, 0, :2, 1] = np.float32([0.3, 0.1]) * threshold * pixels
    reference = model(quiet, training=False).numpy()
    other = dict(quiet, image=quiet["image"].copy())
    other["image"][:, 0, :2, 1] = np.float32([-0.2, 0.1]) * threshold * pixels
    np.testing.assert_allclose(model(other, training=False).numpy(), reference, atol=1e-6)
    # Above the threshold the same cell counts.
    loud = dict(quiet, image=quiet["image"].copy())
    loud["image"][:, 0, :2, 1] = 50 * threshold * pixels
    assert np.abs(model(loud, training=False).numpy() - reference).max() > 1e-6


def _image_of(native):
    """The pipeline's image (n, *IMAGE) of native cells {layer: (n, n_eta, n_phi)}, E_acc 1."""
    n = len(next(iter(native.values())))
    image = np.zeros((n, *IMAGE), np.float32)
    for index, cells in enumerate(native.values()):
        f_eta, f_phi = IMAGE[0] // cells.shape[1], IMAGE[1] // cells.shape[2]
        up = np.repeat(np.repeat(cells, f_eta, 1), f_phi, 2) / (f_eta * f_phi)
        image[..., index] = up * IMAGE[0] * IMAGE[1]
    return image


def test_the_tokens_are_the_native_cells():
    rng = np.random.default_rng(3)
    native = {
        layer: rng.normal(size=(2, *shape)).astype(np.float32) for layer, shape in NATIVE.items()
    }
    tokens, mask = CellTokens(list(NATIVE.values()), IMAGE, 0.0)([_image_of(native)])
    expected = np.concatenate([c.reshape(2, -1) for c in native.values()], 1)
    np.testing.assert_allclose(np.asarray(tokens)[..., 0], expected, rtol=1e-5, atol=1e-6)
    assert np.asarray(tokens).shape == (2, N_CELLS, 2 + 2 + 4)
    np.testing.assert_array_equal(np.asarray(mask), 1.0)
    with pytest.raises(ValueError, match="does not divide"):
        CellTokens([[3, 5]] * 4, IMAGE, 0.0)


def test_max_tokens_keeps_the_most_energetic_cells():
    rng = np.random.default_rng(5)
    native = {
        layer: rng.normal(size=(3, *shape)).astype(np.float32) for layer, shape in NATIVE.items()
    }
    image = _image_of(native)
    every, _ = CellTokens(list(NATIVE.values()), IMAGE, 0.0)([image])
    top, mask = CellTokens(list(NATIVE.values()), IMAGE, 0.5, max_tokens=16)([image])
    every, top = np.asarray(every), np.asarray(top)
    assert top.shape == (3, 16, every.shape[-1])
    for i in range(3):
        order = np.argsort(-np.abs(every[i, :, 0]), kind="stable")[:16]
        # The same cells (energy, position, layer), in decreasing |E|; masked below 0.5.
        kept = np.abs(every[i, order, 0]) >= 0.5
        np.testing.assert_allclose(top[i][kept], every[i, order][kept], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(mask)[i], kept)
        np.testing.assert_array_equal(top[i][~kept], 0.0)
    # max_tokens of every cell or more: no selection.
    same, _ = CellTokens(list(NATIVE.values()), IMAGE, 0.0, max_tokens=N_CELLS)([image])
    np.testing.assert_array_equal(np.asarray(same), every)
    with pytest.raises(ValueError, match="max_tokens"):
        CellTokens(list(NATIVE.values()), IMAGE, 0.0, max_tokens=0)


def test_cells_outside_the_top_tokens_do_not_change_the_output(spec):
    entry = copy.deepcopy(spec)
    entry["transformer"] = {**entry["transformer"], "max_tokens": 20, "cell_threshold": 0.0}
    model = _perturbed(build_model(entry, IMAGE, native_shapes=NATIVE))
    rng = np.random.default_rng(6)
    native = {
        layer: rng.uniform(1.0, 2.0, (4, *shape)).astype(np.float32)
        for layer, shape in NATIVE.items()
    }
    native["lr1"][:, 0, 0] = 0.01  # the quietest cell: outside the top 20
    x = dict(inputs(), image=_image_of(native))
    reference = model(x, training=False).numpy()
    native["lr1"][:, 0, 0] = 0.02
    quieter = model(dict(x, image=_image_of(native)), training=False).numpy()
    np.testing.assert_allclose(quieter, reference, atol=1e-6)
    native["lr1"][:, 0, 0] = 5.0  # now the most energetic cell
    assert (
        np.abs(model(dict(x, image=_image_of(native)), training=False).numpy() - reference).max()
        > 1e-6
    )


def test_the_cell_positions_follow_the_simulated_windows():
    """Every layer spans the middle layer's 7 x 11 middle cells (simulation/calorimeter.py):
    the strips are 1/8 of a middle cell in eta, the presampler's cells 11/5 in phi."""
    shapes = [[7, 5], [56, 5], [7, 11], [7, 11]]
    geometry = cell_geometry(shapes)
    assert geometry.shape == (469, 6)
    lr1 = geometry[35 : 35 + 280]
    assert np.allclose(np.diff(np.unique(lr1[:, 0])), 1 / 8)
    assert np.allclose(np.diff(np.unique(geometry[:35, 1])), 11 / 5)
    for start, count in ((0, 35), (35, 280), (315, 77), (392, 77)):  # centred windows
        np.testing.assert_allclose(geometry[start : start + count, :2].mean(0), 0.0, atol=1e-6)


@pytest.mark.parametrize("loss", ["mae", "mdn"])
def test_it_builds_for_every_head(spec, loss):
    entry = dict(spec, loss={"name": loss})
    model = build_model(entry, IMAGE, native_shapes=NATIVE, time_images=True)
    x = dict(inputs(), time_image=np.ones((4, *IMAGE), np.float32))
    out = model(x, training=False).numpy()
    assert out.shape == (4, 2 if loss == "mdn" else 1)
    if loss == "mdn":
        assert (out[:, 1] > 0).all()
    with pytest.raises(ValueError, match="native shapes"):
        build_model(entry, IMAGE)


def test_a_few_steps_reduce_the_loss(spec):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(4)
    n = 256
    x = inputs(n, seed=5)
    # A learnable correction: the share of the first layer's cells in the image.
    share = x["image"][..., 0].sum((1, 2)) / x["image"].sum((1, 2, 3))
    target = (1.0 + 2.0 * (share - share.mean()) + 0.01 * rng.normal(size=n)).astype(np.float32)
    model = build_model(spec, IMAGE, native_shapes=NATIVE)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mae")
    history = model.fit(x, target, batch_size=32, epochs=6, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize("max_tokens", [None, 64])
def test_the_onnx_calibration_matches_keras(default_config, spec, max_tokens, tmp_path):
    pytest.importorskip("tf2onnx")
    from egcalib.infer.calibration_onnx import check_calibration, export_calibration, random_objects
    from egcalib.train.normalisation import identity_statistics

    spec = copy.deepcopy(spec)
    spec["transformer"]["max_tokens"] = max_tokens
    images = default_config["images"]
    model = _perturbed(
        build_model(spec, (*images["target_shape"], 4), native_shapes=images["native_shapes"])
    )
    stats = identity_statistics()
    stats["log_e_acc_median"], stats["log_e_acc_iqr"] = 3.5, 1.2
    path = tmp_path / "model.onnx"
    export_calibration(model, stats, images, spec, "electron", path)
    raw = random_objects(images, stats, n=16, seed=5)
    # Some cells below the threshold, masked in both.
    raw["cells_lr1"][:, :20] *= 1e-6
    difference = check_calibration(model, stats, images, path, raw, 1e-4, "random objects")
    print(f"largest ONNX - Keras difference: {difference:.2e} of E_acc")
    assert difference < 1e-4


def test_it_trains_through_the_training_loop_and_reloads(default_config, spec, tmp_path):
    """train() (XLA as on the workflow's CPUs, the checkpoints, the best epoch) and the saved
    model read back for inference as the infer rule reads it."""
    from egcalib.train.models import load_for_inference
    from egcalib.train.training import train

    def data(n, seed):
        x = inputs(n, seed)
        share = x["image"][..., 0].sum((1, 2)) / x["image"].sum((1, 2, 3))
        target = (1.0 + 2.0 * (share - 0.25)).astype(np.float32)
        return tf.data.Dataset.from_tensor_slices((x, target, np.ones(n, np.float32))).batch(32)

    training = {
        **copy.deepcopy(default_config["training"]),
        "epochs": 2,
        "jit_compile_cpu": True,
    }
    out = {
        "out_model": tmp_path / "model.keras",
        "out_history": tmp_path / "history.csv",
        "out_plot": tmp_path / "training.png",
        "work_dir": tmp_path / "work",
    }
    model = train(spec, training, data(128, 1), data(64, 2), IMAGE, native_shapes=NATIVE, **out)
    loaded = load_for_inference(out["out_model"])
    x = inputs(8, seed=3)
    np.testing.assert_allclose(
        loaded(x, training=False).numpy(), model(x, training=False).numpy(), atol=1e-6
    )
