"""The shower-shape BDT of photon identification (egcalib.photon_id.classifier): the feature
matrix, the class weights, and a BDT that separates two Gaussian classes, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from egcalib.photon_id.classifier import (
    DEFAULT_PARAMS,
    ID_FEATURES,
    class_weights,
    feature_matrix,
    id_params,
    id_scores,
    train_id_bdt,
)
from egcalib.photon_id.evaluation import roc_auc
from egcalib.photon_id.inputs import MENU_VARIABLES

PARAMS = {"num_leaves": 7, "learning_rate": 0.1, "max_rounds": 200, "early_stopping_rounds": 10}


def _gaussians(n: int, seed: int, shift: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes of n objects each in len(ID_FEATURES) features: background N(0, 1), signal
    shifted by ``shift`` in the shower shapes; |eta|, ET and conversion alike for both."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], n)
    inputs = {
        name: rng.normal(size=2 * n) + shift * y * (1 if i % 2 else -1)
        for i, name in enumerate(MENU_VARIABLES)
    }
    inputs["r_had"][::50] = np.nan  # undefined values: missing for LightGBM
    x = feature_matrix(
        inputs, rng.uniform(0, 2.37, 2 * n), rng.uniform(10, 100, 2 * n), rng.random(2 * n) < 0.3
    )
    return x, y


def test_feature_matrix_columns_and_errors():
    rng = np.random.default_rng(1)
    inputs = {name: rng.normal(size=5) for name in MENU_VARIABLES}
    converted = np.array([True, False, True, False, False])
    x = feature_matrix(inputs, np.full(5, 0.5), np.arange(5.0), converted)
    assert x.shape == (5, len(ID_FEATURES)) and x.dtype == np.float64
    assert ID_FEATURES[: len(MENU_VARIABLES)] == MENU_VARIABLES
    assert ID_FEATURES[-3:] == ("abs_eta", "et", "converted")
    np.testing.assert_array_equal(x[:, ID_FEATURES.index("w_eta2")], inputs["w_eta2"])
    np.testing.assert_array_equal(x[:, -2], np.arange(5.0))
    np.testing.assert_array_equal(x[:, -1], converted.astype(float))
    with pytest.raises(KeyError, match="f_side"):
        feature_matrix(
            {k: v for k, v in inputs.items() if k != "f_side"}, np.zeros(5), np.ones(5), converted
        )
    with pytest.raises(ValueError, match="et has shape"):
        feature_matrix(inputs, np.zeros(5), np.ones(4), converted)
    with pytest.raises(ValueError, match="converted"):
        feature_matrix(inputs, np.zeros(5), np.ones(5), np.full(5, 2))


def test_class_weights_balance_the_classes():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    weights = np.array([1.0, 2.0, 3.0, 1, 1, 1, 1, 1, 1, 4])
    out = class_weights(labels, weights)
    assert out[labels == 1].sum() == pytest.approx(5.0)
    assert out[labels == 0].sum() == pytest.approx(5.0)
    assert out.mean() == pytest.approx(1.0)
    # The shape within a class is kept.
    np.testing.assert_allclose(out[:3] / out[0], [1, 2, 3])
    np.testing.assert_allclose(class_weights(labels)[labels == 1], 5 / 3)
    np.testing.assert_allclose(class_weights(labels.astype(bool))[labels == 0], 5 / 7)
    with pytest.raises(ValueError, match="signal"):
        class_weights(np.zeros(4, int))
    with pytest.raises(ValueError, match="background"):
        class_weights(np.ones(4, int))
    with pytest.raises(ValueError, match="signal"):
        class_weights(labels, np.where(labels == 1, 0.0, 1.0))
    with pytest.raises(ValueError, match="0 / 1"):
        class_weights(np.array([0, 1, 2]))


def test_unknown_setting_is_an_error():
    assert id_params({}, 1, 1)["num_leaves"] == DEFAULT_PARAMS["num_leaves"]
    with pytest.raises(ValueError, match="num_leafs"):
        id_params({"num_leafs": 3}, 1, 1)


def test_bdt_separates_gaussians_deterministically():
    x_train, y_train = _gaussians(1500, seed=2)
    x_val, y_val = _gaussians(500, seed=3)
    x_test, y_test = _gaussians(1000, seed=4)
    first = train_id_bdt(x_train, y_train, x_val, y_val, PARAMS, seed=7, threads=1)
    second = train_id_bdt(x_train, y_train, x_val, y_val, PARAMS, seed=7, threads=1)
    assert first.model_to_string() == second.model_to_string()
    assert 0 < first.best_iteration < PARAMS["max_rounds"]  # early stopping kept a round
    scores = id_scores(first, x_test)
    assert scores.shape == (len(y_test),)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert roc_auc(scores, y_test) > 0.9
    # Signal-only shifts of 0: nothing to learn.
    x_flat, y_flat = _gaussians(500, seed=5, shift=0.0)
    flat = train_id_bdt(x_flat, y_flat, *_gaussians(300, seed=6, shift=0.0), PARAMS, 7, 1)
    assert roc_auc(id_scores(flat, _gaussians(500, seed=8, shift=0.0)[0]), y_flat) < 0.6
    with pytest.raises(ValueError, match="background"):
        train_id_bdt(x_train, np.ones_like(y_train), x_val, y_val, PARAMS, 7, 1)
    with pytest.raises(ValueError, match="features"):
        id_scores(first, x_test[:, :3])
