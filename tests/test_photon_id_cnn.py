"""The photon-identification CNN (egcalib.photon_id.cnn): its normalisations, that it learns
the strips' two-shower signature of a pi0, and its ONNX export."""

import json

import numpy as np
import onnxruntime
import pandas as pd
import pytest

from egcalib.photon_id import cnn
from egcalib.photon_id.cnn_inputs import ID_LAYERS, onnx_scores

SHAPES = {"lr1": [56, 5], "lr2": [7, 11], "lr3": [7, 11]}
SETTINGS = {
    "normalisation": "cluster",
    "filters": 4,
    "dense": 8,
    "learning_rate": 0.01,
    "batch_size": 64,
    "epochs": 6,
    "patience": 2,
}


def _candidates(n, seed):
    """Candidates whose strips hold one shower (prompt, label 1) or two 8 strips apart (a
    resolved pi0, label 0), with a middle and back layer alike for both."""
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    strips = np.zeros((n, 56, 5))
    centre = 28 + rng.integers(-2, 3, n)
    share = np.where(label == 1, 1.0, 0.6)
    strips[np.arange(n), centre, 2] = 10.0 * share
    strips[np.arange(n), centre + 8, 2] = np.where(label == 1, 0.0, 10.0 * (1 - share))
    strips += rng.normal(0, 0.05, strips.shape)
    middle = np.abs(rng.normal(0, 0.1, (n, 7, 11)))
    middle[:, 3, 5] += 30.0
    back = np.abs(rng.normal(0, 0.05, (n, 7, 11)))
    return pd.DataFrame(
        {
            "cells_lr1": list(strips.reshape(n, -1)),
            "cells_lr2": list(middle.reshape(n, -1)),
            "cells_lr3": list(back.reshape(n, -1)),
            "eta": rng.uniform(-2.3, 2.3, n),
            "et": rng.uniform(10, 80, n),
            "converted": rng.uniform(size=n) < 0.3,
            "weight": np.ones(n),
            "label": label,
        }
    )


@pytest.mark.parametrize("mode", ["cluster", "layer"])
def test_the_windows_are_divided_by_the_cluster_or_by_each_layer(mode):
    rng = np.random.default_rng(1)
    windows = [rng.uniform(0, 2, (3, *SHAPES[layer])).astype(np.float32) for layer in ID_LAYERS]
    images = [np.asarray(x)[..., 0] for x in cnn.WindowNormalisation(mode)(windows)]
    sums = np.array([image.sum(axis=(1, 2)) for image in images])  # (layers, n)
    totals = np.array([w.sum(axis=(1, 2)) for w in windows])
    if mode == "layer":
        np.testing.assert_allclose(sums, 1.0, rtol=1e-5)
    else:
        np.testing.assert_allclose(sums.sum(axis=0), 1.0, rtol=1e-5)
        np.testing.assert_allclose(sums, totals / totals.sum(axis=0), rtol=1e-5)


def test_an_unknown_normalisation_is_refused():
    with pytest.raises(ValueError, match="normalisation 'pixel'"):
        cnn.WindowNormalisation("pixel")


def test_it_learns_the_two_showers_and_exports_to_onnx(tmp_path, caplog):
    train, val = _candidates(512, 2), _candidates(256, 3)
    with caplog.at_level("INFO", logger="egcalib"):
        model = cnn.train_id_cnn(
            train, val, SHAPES, SETTINGS, 7, tmp_path / "model.keras", tmp_path / "history.csv"
        )
    assert "epoch 1: {'binary_crossentropy'" in caplog.text  # the job's log, as it trains
    scores = cnn.id_cnn_scores(model, val, SHAPES)
    labels = val["label"].to_numpy()
    # Every prompt photon above every pi0: the strips separate them completely.
    assert scores[labels == 1].min() > scores[labels == 0].max()
    assert len(pd.read_csv(tmp_path / "history.csv")) >= 1

    path = tmp_path / "model.onnx"
    cnn.export_id_onnx(model, path, {"task": "photon identification"})
    np.testing.assert_allclose(onnx_scores(path, val, SHAPES), scores, atol=1e-5)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    metadata = session.get_modelmeta().custom_metadata_map
    assert metadata["task"] == "photon identification"
    assert metadata["model_name"] == "photon_id_cnn"
    assert json.loads(json.dumps(cnn.input_metadata(SHAPES, "layer")))["cells_lr1"]["shape"] == [
        56,
        5,
    ]


def test_a_non_finite_window_stops_the_training(tmp_path):
    train, val = _candidates(128, 4), _candidates(64, 5)
    train.at[3, "cells_lr2"] = np.full_like(train.at[3, "cells_lr2"], np.nan)
    with pytest.raises(FloatingPointError, match="photon_id_cnn: non-finite training loss"):
        cnn.train_id_cnn(
            train,
            val,
            SHAPES,
            {**SETTINGS, "epochs": 1},
            11,
            tmp_path / "m.keras",
            tmp_path / "h.csv",
        )
    assert not (tmp_path / "m.keras").exists()


def test_the_same_seed_gives_the_same_network(tmp_path):
    train, val = _candidates(128, 4), _candidates(64, 5)
    settings = {**SETTINGS, "epochs": 2}
    weights = [
        cnn.train_id_cnn(
            train, val, SHAPES, settings, 11, tmp_path / f"m{i}.keras", tmp_path / f"h{i}.csv"
        ).get_weights()
        for i in range(2)
    ]
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
