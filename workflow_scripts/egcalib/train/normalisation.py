"""Robust input normalisation from the training split only (docs/design.md#shards).

Targets: their median and IQR set the network's output scale (models.TargetScale).
Scalars and track features: (x - median) / IQR, track statistics over real tracks only, padding
kept at zero. Images: each object's cells divided by its own cluster energy E_acc, as seed 003
normalises its cluster images (times the number of pixels, for O(1) values), so the network sees
shapes and layer ratios alike at 5 GeV and at 1 TeV; the energy scale enters separately as
log(E_acc), standardised (median, IQR) like a scalar, so even the CNN alone knows it. Stored as
JSON beside each model and applied by the same functions in training and inference.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import N_TRACKS, SCALAR_COLUMNS, TRACK_FEATURES

if TYPE_CHECKING:
    import pandas as pd

# The output scale (target median, IQR) where training targets give none: a correction near 1.
DEFAULT_TARGET_SCALE = (1.0, 0.05)
# Images are divided by E_acc: clusters with less (noise only) are divided by this [GeV].
E_ACC_FLOOR = 0.1


def identity_statistics() -> dict:
    """Statistics under which ``normalise`` leaves the scalars, track features and log E_acc as
    they are (median 0, IQR 1; lists of 16 and 11 values): for benchmarks and tests of the input
    pipeline."""
    return {
        "scalar_median": [0.0] * len(SCALAR_COLUMNS),
        "scalar_iqr": [1.0] * len(SCALAR_COLUMNS),
        "track_median": [0.0] * len(TRACK_FEATURES),
        "track_iqr": [1.0] * len(TRACK_FEATURES),
        "log_e_acc_median": 0.0,
        "log_e_acc_iqr": 1.0,
    }


def _median_iqr(values: np.ndarray):
    if len(values) == 0:
        return np.zeros(values.shape[1]), np.ones(values.shape[1])
    q25, median, q75 = np.percentile(values, [25, 50, 75], axis=0)
    iqr = q75 - q25
    # A feature constant on the training set (an unused input) must not divide by zero.
    return median, np.where(iqr > 0, iqr, 1.0)


def compute_statistics(
    scalars: np.ndarray,
    tracks: np.ndarray,
    track_mask: np.ndarray,
    e_acc: np.ndarray,
    target: np.ndarray,
) -> dict:
    """Statistics from training objects: scalars (n, 16), tracks (n, 10, 11), mask (n, 10),
    cluster energies E_acc (n,) [GeV] and regression targets (n,; NaN where an object has none).

    Returns a JSON-ready dict: n_objects, the scalar names with their median and IQR (16 each),
    the track feature names with median and IQR (11 each, over real tracks only), the median and
    IQR of log(E_acc / GeV) and the target scale (target_median, target_iqr)."""
    scalar_median, scalar_iqr = _median_iqr(np.asarray(scalars, np.float64))
    real = np.asarray(tracks, np.float64)[np.asarray(track_mask) > 0]
    track_median, track_iqr = _median_iqr(real.reshape(-1, len(TRACK_FEATURES)))
    log_e_acc = np.log(np.maximum(np.asarray(e_acc, np.float64), E_ACC_FLOOR))[:, None]
    log_median, log_iqr = _median_iqr(log_e_acc)
    return {
        "n_objects": len(scalars),
        "scalar_names": [c.removeprefix("scalar_") for c in SCALAR_COLUMNS],
        "scalar_median": scalar_median.tolist(),
        "scalar_iqr": scalar_iqr.tolist(),
        "track_features": list(TRACK_FEATURES),
        "track_median": track_median.tolist(),
        "track_iqr": track_iqr.tolist(),
        "log_e_acc_median": float(log_median[0]),
        "log_e_acc_iqr": float(log_iqr[0]),
        **_target_scale(target),
    }


def _target_scale(target: np.ndarray) -> dict:
    """Median and IQR of the training targets: the network's output scale (models.TargetScale)."""
    finite = target[np.isfinite(target)]
    default_median, default_iqr = DEFAULT_TARGET_SCALE
    if len(finite) < 2:
        return {"target_median": default_median, "target_iqr": default_iqr}
    q25, median, q75 = np.percentile(finite, [25, 50, 75])
    return {
        "target_median": float(median),
        "target_iqr": float(q75 - q25) if q75 > q25 else default_iqr,
    }


def training_statistics(
    skim_paths: Iterable[str | Path], splits_config: dict, later: pd.DataFrame | None = None
) -> dict:
    """Statistics over the training-split objects of skim tables (``compute_statistics``), and
    the number of validation objects with a target (``n_val_objects``); nothing else of the
    other splits is read. ``splits_config``: the ``splits`` config (fractions, salt). ``later``:
    later copies of events (egcalib.skim.duplicates report rows), left out. Raises ValueError
    where no training object is left."""
    # Here, not at the top: the models import this module for DEFAULT_TARGET_SCALE, and they
    # must import where neither pyarrow nor TensorFlow is (the GPU check's JAX path).
    import pyarrow.parquet as pq

    from egcalib.shards.skim_table import fixed_size, targets
    from egcalib.shards.splits import SPLITS, table_splits
    from egcalib.skim.duplicates import IDENTITY, table_without_later_copies

    columns = list(SCALAR_COLUMNS) + [
        "tracks",
        "tracks_mask",
        *IDENTITY,
        "dataset",
        "file",
        "e_truth",
        "e_label",
        "cl_E1",
        "cl_E2",
        "cl_E3",
    ]
    parts: dict[str, list] = {"scalars": [], "tracks": [], "mask": [], "e_acc": [], "target": []}
    n_val = 0
    for path in skim_paths:
        table = pq.read_table(path, columns=columns)
        if later is not None:
            table = table_without_later_copies(table, later)
        if table.num_rows == 0:
            continue
        split = table_splits(table, splits_config)
        val = targets(table.take(np.nonzero(split == SPLITS.index("val"))[0]))
        n_val += int(np.sum(np.isfinite(val["target"]) | np.isfinite(val["label_target"])))
        train = np.nonzero(split == SPLITS.index("train"))[0]
        table = table.take(train)
        parts["scalars"].append(np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1))
        parts["tracks"].append(
            fixed_size(table["tracks"]).reshape(-1, N_TRACKS, len(TRACK_FEATURES))
        )
        parts["mask"].append(fixed_size(table["tracks_mask"]))
        truth = targets(table)
        parts["e_acc"].append(
            truth["e_acc"]
        )  # MC objects train on the truth, data objects on their labels
        parts["target"].append(
            np.where(np.isfinite(truth["target"]), truth["target"], truth["label_target"])
        )
    if not parts["scalars"]:
        raise ValueError(f"normalisation: no training objects in {list(map(str, skim_paths))}")
    stats = compute_statistics(
        np.concatenate(parts["scalars"]),
        np.concatenate(parts["tracks"]),
        np.concatenate(parts["mask"]),
        np.concatenate(parts["e_acc"]),
        np.concatenate(parts["target"]),
    )
    # Validation objects with a target (MC truth or a data label): early stopping, the
    # learning-rate plateau and the best epoch need some (training.check_validation_size).
    return {**stats, "n_val_objects": n_val}


def save_statistics(stats: dict, path: str | Path) -> None:
    """Write ``stats`` (``training_statistics``) as JSON to ``path``, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(stats, indent=1))


def load_statistics(path: str | Path) -> dict:
    """The statistics ``save_statistics`` wrote to ``path``."""
    with open(path) as handle:
        return json.load(handle)


def image_factor(e_acc: Any, pixels: int) -> Any:
    """Per-object image scale (n,): pixels / E_acc [1/GeV] (E_acc floored at E_ACC_FLOOR GeV),
    which puts cells in units of E_acc spread evenly over the image's ``pixels``. numpy or
    TensorFlow, as ``e_acc`` (n,) [GeV] is."""
    return np.float32(pixels) / _floored(e_acc)


def _floored(e_acc):
    """E_acc floored at E_ACC_FLOOR, numpy or TensorFlow as ``e_acc`` is."""
    return (
        np.maximum(e_acc, np.float32(E_ACC_FLOOR))
        if isinstance(e_acc, np.ndarray)
        else _tf_maximum(e_acc, E_ACC_FLOOR)
    )


def normalise(inputs: dict, stats: dict, scale_image: bool = True) -> dict:
    """Apply the statistics to an inputs dict (numpy arrays or TensorFlow tensors) holding
    image (n, 56, 55, 4) [GeV], e_acc (n,) [GeV], scalars (n, 16), tracks (n, 10, 11) and
    track_mask (n, 10): the image is multiplied by image_factor (unless ``scale_image`` is False:
    the caller already did, e.g. the input pipeline on the native cells before upsampling),
    scalars and tracks are standardised ((x - median) / IQR, padding tracks kept at zero), e_acc
    becomes log_e_acc (n, 1), standardised. Returns a new dict; other entries pass through."""
    out = dict(inputs)
    e_acc = out.pop("e_acc")
    scale = _floored(e_acc)
    out["scalars"] = (inputs["scalars"] - np.float32(stats["scalar_median"])) / np.float32(
        stats["scalar_iqr"]
    )
    mask = inputs["track_mask"][..., None]
    out["tracks"] = (
        (inputs["tracks"] - np.float32(stats["track_median"]))
        / np.float32(stats["track_iqr"])
        * mask
    )
    # In units of E_acc spread evenly over the image's pixels, so that cell values are O(1):
    # divided by E_acc alone they were ~1e-3, the first convolutions' variance (~1e-6) fell far
    # below BatchNorm's epsilon (1e-3), and the moving statistics used at inference missed the
    # batch statistics of training (the CNN alone lost 40 % in inference mode).
    if scale_image:
        factor = image_factor(e_acc, inputs["image"].shape[1] * inputs["image"].shape[2])
        out["image"] = inputs["image"] * factor[:, None, None, None]
    log_e_acc = np.log(scale) if isinstance(scale, np.ndarray) else _tf_log(scale)
    out["log_e_acc"] = (
        (log_e_acc - np.float32(stats["log_e_acc_median"])) / np.float32(stats["log_e_acc_iqr"])
    )[:, None]
    return out


def _tf_maximum(x, floor):
    import tensorflow as tf

    return tf.maximum(x, floor)


def _tf_log(x):
    import tensorflow as tf

    return tf.math.log(x)
