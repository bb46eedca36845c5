"""The shower-shape BDT of photon identification (docs/photon-id.md#the-shower-shape-bdt): the
project's control for the CNN of seeds 003/004, which compare a CNN on the cells with ATLAS's
cut-based menus (egcalib.photon_id.menus).

The BDT sees what the menus cut on (MENU_VARIABLES, egcalib.photon_id.inputs) and what the
menus bin in (|eta|, conversion) plus the photon's ET, and learns prompt photons (label 1)
against jets faking photons (label 0). Its score at the menus' background efficiency is what a
multivariate use of the same shower shapes gains over the cuts (egcalib.photon_id.evaluation).

Training as the calibration BDT trains (egcalib.bdt.training): LightGBM, early stopping on the
val split, and the settings that make it deterministic: ``deterministic=True``, row-wise
histograms, a fixed number of threads (histogram sums depend on how rows are split between
threads), no bagging or feature subsampling and fixed seeds; the same inputs give the same
model text byte for byte. The objective is binary cross-entropy (logloss), with per-object class
weights that give signal and background the same total weight (class_weights), on train and
val alike, so early stopping follows the balanced logloss, not the majority class's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from egcalib.photon_id.inputs import MENU_VARIABLES

if TYPE_CHECKING:
    import lightgbm as lgb

# The BDT's features, the columns of feature_matrix in this order: the menus' shower shapes,
# then |eta| of the cluster, its ET [GeV] and whether the photon is converted (0 / 1).
ID_FEATURES = (*MENU_VARIABLES, "abs_eta", "et", "converted")

# The training settings train_id_bdt takes from its ``params``, and their defaults.
DEFAULT_PARAMS: dict[str, Any] = {
    "num_leaves": 31,  # leaves per tree
    "learning_rate": 0.05,  # shrinkage of each tree
    "max_rounds": 1000,  # boosting rounds at most
    "early_stopping_rounds": 50,  # rounds without a better val logloss before stopping
    "min_data_in_leaf": 20,  # objects per leaf at least
    "lambda_l2": 0.0,  # L2 regularisation of the leaf values
    "max_bin": 255,  # histogram bins per feature
}


def feature_matrix(
    inputs: Mapping[str, np.ndarray],
    abs_eta: np.ndarray,
    et: np.ndarray,
    converted: np.ndarray,
) -> np.ndarray:
    """The BDT's input matrix, (n, len(ID_FEATURES)) float64, columns in ID_FEATURES order.

    ``inputs``: the menus' shower shapes (egcalib.photon_id.inputs.menu_inputs), each (n,);
    ``abs_eta``: (n,) |eta| of the cluster; ``et``: (n,) transverse energy [GeV];
    ``converted``: (n,) bool or 0/1. NaN is kept (an undefined shower shape): LightGBM treats it
    as missing. Raises KeyError naming a missing shower-shape variable and ValueError for an
    array that is not (n,) or a ``converted`` value other than 0 / 1."""
    missing = [name for name in MENU_VARIABLES if name not in inputs]
    if missing:
        raise KeyError(f"photon-ID features: missing shower-shape variables {missing}")
    columns = {name: inputs[name] for name in MENU_VARIABLES}
    columns.update(abs_eta=abs_eta, et=et, converted=converted)
    n = len(np.asarray(abs_eta))
    out = np.empty((n, len(ID_FEATURES)), np.float64)
    for i, name in enumerate(ID_FEATURES):
        values = np.asarray(columns[name], np.float64)
        if values.shape != (n,):
            raise ValueError(f"photon-ID features: {name} has shape {values.shape}, not ({n},)")
        out[:, i] = values
    flags = out[:, ID_FEATURES.index("converted")]
    if not np.isin(flags, (0.0, 1.0)).all():
        raise ValueError("photon-ID features: converted must be 0 / 1 (or bool)")
    return out


def _labels(labels: np.ndarray, where: str) -> np.ndarray:
    """``labels`` as (n,) bool (1 / True: signal), ValueError unless they are 0 / 1."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.isin(labels, (0, 1)).all():
        raise ValueError(f"{where}: labels must be (n,) 0 / 1 (or bool)")
    return labels.astype(bool)


def class_weights(labels: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Per-object weights, (n,) float64, that give signal (label 1) and background (label 0)
    the same total weight, n / 2 each, so the mean weight is 1.

    ``labels``: (n,) 0 / 1 or bool; ``weights``: (n,) per-object weights (e.g. MC event
    weights), ones if None, scaled within each class (their shape within a class is kept).
    Raises ValueError naming the class ("signal" / "background") when it has no object or its
    weights do not sum to a positive number, and for labels other than 0 / 1, weights of
    another shape or non-finite weights."""
    signal = _labels(labels, "class_weights")
    n = len(signal)
    base = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if base.shape != (n,):
        raise ValueError(f"class_weights: weights have shape {base.shape}, not ({n},)")
    if not np.isfinite(base).all():
        raise ValueError("class_weights: non-finite weights")
    out = np.empty(n, np.float64)
    for name, mask in (("signal", signal), ("background", ~signal)):
        total = base[mask].sum()
        if not mask.any() or not total > 0:
            raise ValueError(
                f"class_weights: the {name} class is absent (or its weights sum to "
                f"{total:g}); both classes are needed"
            )
        out[mask] = base[mask] * (0.5 * n / total)
    return out


def id_params(params: Mapping[str, Any], seed: int, threads: int) -> dict[str, Any]:
    """LightGBM parameters of train_id_bdt: DEFAULT_PARAMS updated by ``params``, the binary
    objective and logloss metric, and the deterministic settings (module docstring). Raises
    ValueError naming unknown keys of ``params``."""
    unknown = sorted(set(params) - set(DEFAULT_PARAMS))
    if unknown:
        raise ValueError(
            f"photon-ID BDT: unknown settings {unknown}; known: {sorted(DEFAULT_PARAMS)}"
        )
    settings = {**DEFAULT_PARAMS, **params}
    return {
        "objective": "binary",
        "metric": "binary_logloss",
        "num_leaves": int(settings["num_leaves"]),
        "learning_rate": float(settings["learning_rate"]),
        "min_data_in_leaf": int(settings["min_data_in_leaf"]),
        "lambda_l2": float(settings["lambda_l2"]),
        "max_bin": int(settings["max_bin"]),
        "seed": int(seed),
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": int(threads),
        "bagging_freq": 0,
        "bagging_fraction": 1.0,
        "feature_fraction": 1.0,
        "verbosity": -1,
    }


def train_id_bdt(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_val: np.ndarray,
    y_val: np.ndarray,
    params: Mapping[str, Any],
    seed: int,
    threads: int,
) -> lgb.Booster:
    """Train the photon-ID BDT: prompt photons (``y`` 1) against fakes (``y`` 0).

    ``x_train``, ``x_val``: (n, len(ID_FEATURES)) feature_matrix rows; ``y_train``, ``y_val``:
    (n,) 0 / 1. Both splits are weighted by class_weights; training stops after
    ``early_stopping_rounds`` rounds without a lower weighted logloss on the val split and the
    booster keeps the best round (``best_iteration``, used by id_scores). ``params``: any of
    DEFAULT_PARAMS' keys (num_leaves 31, learning_rate 0.05, max_rounds 1000,
    early_stopping_rounds 50, min_data_in_leaf 20, lambda_l2 0, max_bin 255); ``seed``:
    LightGBM's seed; ``threads``: a fixed thread count (part of the result: the same inputs,
    seed and threads give the same model text). Raises ValueError for an unknown setting, a
    class absent from either split (class_weights), or features of the wrong width."""
    import lightgbm as lgb

    lgb_params = id_params(params, seed, threads)
    settings = {**DEFAULT_PARAMS, **params}
    sets: dict[str, lgb.Dataset] = {}
    for split, x, y in (("train", x_train, y_train), ("val", x_val, y_val)):
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or x.shape[1] != len(ID_FEATURES) or len(x) != len(np.asarray(y)):
            raise ValueError(
                f"photon-ID BDT: {split} features of shape {x.shape} for {len(np.asarray(y))} "
                f"labels; expected (n, {len(ID_FEATURES)})"
            )
        weights = class_weights(y, None)
        sets[split] = lgb.Dataset(
            x,
            _labels(y, f"photon-ID BDT {split}").astype(np.float64),
            weight=weights,
            params=lgb_params,
            feature_name=list(ID_FEATURES),
            reference=sets.get("train"),
            free_raw_data=True,
        )
    return lgb.train(
        lgb_params,
        sets["train"],
        num_boost_round=int(settings["max_rounds"]),
        valid_sets=[sets["val"]],
        valid_names=["val"],
        callbacks=[
            lgb.early_stopping(
                int(settings["early_stopping_rounds"]), first_metric_only=True, verbose=False
            )
        ],
    )


def id_scores(booster: lgb.Booster, x: np.ndarray) -> np.ndarray:
    """The BDT's signal probabilities, (n,) float64 in [0, 1], of features ``x``
    (n, len(ID_FEATURES)), at the booster's best round (all rounds when it has none). Raises
    ValueError for features of the wrong width."""
    x = np.asarray(x, np.float64)
    if x.ndim != 2 or x.shape[1] != len(ID_FEATURES):
        raise ValueError(f"photon-ID BDT: features of shape {x.shape}, not (n, {len(ID_FEATURES)})")
    best = booster.best_iteration if booster.best_iteration > 0 else None
    return np.asarray(booster.predict(x, num_iteration=best), np.float64).reshape(len(x))
