"""Losses on hand-computed values; the mixture-density resolution is calibrated on a toy."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from egcalib.train.losses import GaussianNLL, LeakyGaussianKernel, get_loss  # noqa: E402

Y = np.array([[1.0], [1.2], [0.9]], np.float32)
P = np.array([[1.1], [1.0], [0.9]], np.float32)
R = np.array([-0.1, 0.2, 0.0])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("mae", np.abs(R)),
        ("mse", R**2),
        ("logcosh", np.log(np.cosh(R))),
    ],
)
def test_point_losses(name, expected):
    np.testing.assert_allclose(get_loss({"name": name})(Y, P), expected, rtol=1e-5, atol=1e-7)


def test_leaky_gaussian_kernel():
    loss = LeakyGaussianKernel(alpha=0.01, beta=0.1)
    expected = 1 - np.exp(-(R**2) / 0.02) + 0.1 * np.abs(R)
    np.testing.assert_allclose(loss.call(Y, P), expected, rtol=1e-5)
    assert float(loss.call(Y[2:], P[2:])[0]) == 0.0, "zero at the mode"


def test_gaussian_nll_and_truncation():
    pred = np.array([[1.1, 0.2], [1.0, 0.1], [0.9, 0.05]], np.float32)
    z = (Y[:, 0] - pred[:, 0]) / pred[:, 1]
    np.testing.assert_allclose(
        GaussianNLL().call(Y, pred), np.log(pred[:, 1]) + 0.5 * z**2, rtol=1e-5
    )
    truncated = GaussianNLL(truncation=1.0).call(Y, pred).numpy()
    size = np.abs(z)  # 0.5, 2 and 0 sigma: Gaussian core within 1 sigma, linear beyond
    expected = np.log(pred[:, 1]) + np.where(size > 1.0, size - 0.5, 0.5 * size**2)
    np.testing.assert_allclose(truncated, expected, rtol=1e-5)


@pytest.mark.parametrize("outliers, lowest", [(0, (0.018, 0.023)), (100, (0.03, 0.08))])
def test_truncated_loss_cannot_fall_by_shrinking_sigma(outliers, lowest):
    """Objects beyond N sigma still cost more as sigma shrinks: over a sample the loss is lowest
    at its spread (widened by far outliers, whose cost is linear), never at sigma -> 0."""
    rng = np.random.default_rng(1)
    y = (1.0 + 0.02 * rng.standard_normal(2000)).astype(np.float32)[:, None]
    y[:outliers] += 0.3  # mismatched truth, 15 sigma away
    loss = GaussianNLL(truncation=3.0)

    def mean_loss(sigma):
        pred = np.column_stack([np.ones(len(y)), np.full(len(y), sigma)]).astype(np.float32)
        return float(np.mean(loss.call(y, pred)))

    sigmas = np.geomspace(1e-4, 1.0, 161)
    best = sigmas[int(np.argmin([mean_loss(s) for s in sigmas]))]
    assert lowest[0] < best < lowest[1], best
    assert mean_loss(1e-4) > mean_loss(best) + 10


def test_mdn_resolution_is_positive_and_calibrated():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (4000, 1)).astype(np.float32)
    sigma = 0.05 + 0.2 * x[:, 0]
    y = (1 + 0.5 * x[:, 0] + sigma * rng.standard_normal(4000)).astype(np.float32)
    inputs = keras.Input((1,))
    h = keras.layers.Dense(32, activation="relu")(inputs)
    mu = keras.layers.Dense(1)(h)
    s = keras.layers.Dense(1, activation="softplus")(h)
    model = keras.Model(inputs, keras.layers.Concatenate()([mu, s]))
    model.compile(keras.optimizers.Adam(0.01), loss=GaussianNLL())
    model.fit(x, y, epochs=40, batch_size=200, verbose=0)
    pred = model.predict(x, verbose=0)
    assert np.all(pred[:, 1] > 0)
    pulls = (y - pred[:, 0]) / pred[:, 1]
    assert 0.85 < np.std(pulls) < 1.15
    assert np.corrcoef(pred[:, 1], sigma)[0, 1] > 0.8, "it learns the per-object resolution"
