"""Regression losses on the correction r = E_true / E_acc (seeds 000 and 002).

All take (y_true, y_pred) with y_pred of shape (batch, 1), or (batch, 2) = (mu, sigma) for the
mixture-density loss, and return per-sample values so Keras applies sample weights (a weight of 0
masks objects without a target when MC and data are trained together, docs/design.md#models).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import keras
from keras import ops

if TYPE_CHECKING:
    import tensorflow as tf  # the Keras backend: its tensors


def _residual(y_true, y_pred):
    return ops.reshape(y_true, (-1,)) - y_pred[:, 0]


@keras.saving.register_keras_serializable(package="egcalib")
def mae(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return ops.abs(_residual(y_true, y_pred))


@keras.saving.register_keras_serializable(package="egcalib")
def mse(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    return ops.square(_residual(y_true, y_pred))


@keras.saving.register_keras_serializable(package="egcalib")
def logcosh(y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    r = _residual(y_true, y_pred)
    # log(cosh(r)) = |r| + log1p(exp(-2|r|)) - log 2, stable for large |r|.
    return ops.abs(r) + ops.log1p(ops.exp(-2.0 * ops.abs(r))) - math.log(2.0)


@keras.saving.register_keras_serializable(package="egcalib")
class LeakyGaussianKernel(keras.losses.Loss):
    """Mode-seeking loss (seed 002): 1 - exp(-r^2 / (2 alpha)) + beta |r|.

    The slide writes the kernel with a plus sign; as a loss to minimise it enters negated (the
    constant 1 keeps it non-negative). The small linear leak keeps gradients far from the mode.
    """

    def __init__(self, alpha=1e-3, beta=1e-3, name="lgk", **kwargs):
        super().__init__(name=name, **kwargs)
        self.alpha, self.beta = alpha, beta

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        r = _residual(y_true, y_pred)
        return 1.0 - ops.exp(-ops.square(r) / (2.0 * self.alpha)) + self.beta * ops.abs(r)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha, "beta": self.beta}


@keras.saving.register_keras_serializable(package="egcalib")
class GaussianNLL(keras.losses.Loss):
    """Mixture-density loss with one Gaussian (seed 002): log sigma + z^2 / 2, z = (r - mu) / sigma.

    With ``truncation`` N the tails beyond N sigma are exponential instead of Gaussian (Huber's
    density, P. J. Huber, Ann. Math. Statist. 35 (1964) 73): z^2 / 2 becomes N |z| - N^2 / 2
    there, continuous in value and slope, so outliers (mismatched truth, wrong labels) pull the
    mode with a bounded force (far outliers still widen sigma: their cost is linear in
    1/sigma). The normalisation of that density does not depend on mu or sigma, so it is left
    out. A hard truncation (beyond N sigma a constant cost) let the
    loss fall without bound by shrinking sigma until every object sat in the flat tail: trained
    so, sigma went to its floor and the pulls had a width of ~3000.
    """

    def __init__(self, truncation=None, name="mdn", **kwargs):
        super().__init__(name=name, **kwargs)
        self.truncation = truncation

    def call(self, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
        mu, sigma = y_pred[:, 0], y_pred[:, 1]
        z = (ops.reshape(y_true, (-1,)) - mu) / sigma
        if self.truncation is None:
            return ops.log(sigma) + 0.5 * ops.square(z)
        n = float(self.truncation)
        size = ops.abs(z)
        tail = ops.where(size > n, n * size - 0.5 * n * n, 0.5 * ops.square(size))
        return ops.log(sigma) + tail

    def get_config(self) -> dict:
        return {**super().get_config(), "truncation": self.truncation}


def get_loss(config: dict) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor] | keras.losses.Loss:
    """The loss of a model entry: {name: mae|mse|logcosh|lgk|mdn, ...parameters}."""
    name = config["name"]
    if name in ("mae", "mse", "logcosh"):
        return {"mae": mae, "mse": mse, "logcosh": logcosh}[name]
    if name == "lgk":
        return LeakyGaussianKernel(config.get("alpha", 1e-3), config.get("beta", 1e-3))
    if name == "mdn":
        return GaussianNLL(config.get("truncation"))
    raise ValueError(f"unknown loss {name!r}")
