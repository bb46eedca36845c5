"""Calibrating an MDN model's per-object resolution on the validation split.

A Gaussian NLL fitted to a response with non-Gaussian tails (bremsstrahlung, pile-up) widens
sigma to cover them: on the reference run the test pulls of ``recommended_mdn`` had a width of
0.68 and 84 % of the objects inside +-1 sigma. After training, sigma is scaled by one factor, the
68.27 % quantile of |pull| on the validation objects: the sigma-scaling recalibration of Levi et
al., "Evaluating and Calibrating Uncertainty Prediction in Regression Tasks", Sensors 22 (2022)
5540, arXiv:1905.11659, fitted to the 68 % coverage (as Kuleshov et al., arXiv:1807.00263,
recalibrate quantiles) instead of the NLL, which the tails would dominate again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from egcalib.stats.metrics import pulls as energy_pulls
from egcalib.train.models import SigmaScale

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)

COVERAGE_68 = 0.6827  # P(|z| < 1) for a standard normal z
MIN_VALIDATION_OBJECTS = 100


def coverage_scale(pulls: npt.ArrayLike, coverage: float = COVERAGE_68) -> float:
    """The factor s (> 0) by which sigma is multiplied so that a fraction ``coverage`` of the
    objects has |pull| / s < 1: the ``coverage`` quantile of |pull| (n,), NaNs dropped. Raises
    ValueError for fewer than MIN_VALIDATION_OBJECTS finite pulls or a zero quantile."""
    values = np.abs(np.asarray(pulls, float))
    values = values[np.isfinite(values)]
    if len(values) < MIN_VALIDATION_OBJECTS:
        raise ValueError(
            f"{len(values)} validation objects with a finite pull, fewer than "
            f"{MIN_VALIDATION_OBJECTS}: too few to calibrate the per-object resolution"
        )
    scale = float(np.quantile(values, coverage))
    if not scale > 0:
        raise ValueError(f"the {coverage:.2%} quantile of |pull| is {scale}: sigma is unusable")
    return scale


def validation_pulls(model: keras.Model, dataset: tf.data.Dataset) -> np.ndarray:
    """(mu - target) / sigma (n,) (metrics.pulls) of the objects of ``dataset`` (batches of
    (inputs, target, weight), as training_data gives) with a non-zero weight; the model's output
    is (mu, sigma) per object, in units of the correction E / E_acc, so these are the energy
    pulls too. NaN (no warning) where sigma is not positive: coverage_scale drops those."""
    pulls = []
    for inputs, target, weight in dataset:
        output = model(inputs, training=False).numpy()
        used = weight.numpy() != 0
        pulls.append(energy_pulls(output[:, 0], output[:, 1], target.numpy())[used])
    return np.concatenate(pulls) if pulls else np.zeros(0)


def calibrate_sigma(model: keras.Model, dataset: tf.data.Dataset) -> float | None:
    """Set the SigmaScale layer of an MDN ``model`` to coverage_scale of its pulls on
    ``dataset`` (the validation split) and return the scale; None (nothing done) for a model
    without a per-object resolution. With too few validation objects the scale stays 1 and a
    warning says so."""
    layer = next((layer for layer in model.layers if isinstance(layer, SigmaScale)), None)
    if layer is None:
        return None
    layer.scale.assign(1.0)  # a resumed job calibrates from the raw sigma again
    pulls = validation_pulls(model, dataset)
    try:
        scale = coverage_scale(pulls)
    except ValueError as error:
        log.warning("model %s: sigma left uncalibrated: %s", model.name, error)
        return 1.0
    layer.scale.assign(scale)
    finite = pulls[np.isfinite(pulls)]
    log.info(
        "model %s: sigma scaled by %.4f, the 68.27 %% quantile of |pull| of %d validation "
        "objects (raw 68 %% coverage %.1f %%)",
        model.name,
        scale,
        len(finite),
        100 * np.mean(np.abs(finite) < 1),
    )
    return scale
