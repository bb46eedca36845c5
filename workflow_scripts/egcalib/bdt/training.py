"""The BDT control model (docs/design.md#models): gradient-boosted trees on the seed's
16 scalars.

The first question a reviewer asks of a CNN result is what a BDT on the same inputs gets. This
one sees what the CNN's ScalarNet sees (contract.SCALAR_COLUMNS, read from the shard sidecars),
trains on the same train split towards the same targets (MC objects: E_true / E_acc, data
objects: the Z-mass label E_label / E_acc) with the same per-object weights (negative MC weights
treated by the same policy, training.negative_weights: egcalib.train.weights) and per-source
weights, stops early on the same val split, and predicts the same correction in the CNN's format
(egcalib.bdt.prediction), so evaluation and the ablation table treat it like any other model.

Loss: L1 (mean absolute error), the CNNs' default loss, so the comparison is of the inputs and
the learner, not of the loss. L1 also suits the target: E_true / E_acc has a long one-sided tail
(upstream losses, leakage, residual truth mismatches after the k-cut) that would pull an L2 fit
off the peak, while the eIQR metrics measure the core around the median, which is what L1
regresses to (LightGBM's L1 objective sets leaf values to weighted medians of the residuals).

Determinism: LightGBM with ``deterministic=True``, row-wise histograms, a fixed number of threads
(NUM_THREADS, not the machine's: histogram sums depend on how rows are split between threads),
no bagging or feature subsampling and ``seed = training.seed`` gives the same model text byte
for byte for the same inputs.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import SCALAR_COLUMNS, SCALARS
from egcalib.train.history import plot_history
from egcalib.train.weights import TARGET_COLUMN, describe_weights, sidecar_objects, trained_weights

if TYPE_CHECKING:
    import lightgbm as lgb
    import pandas as pd

log = logging.getLogger(__name__)

NUM_THREADS = 2


def split_objects(
    files_by_kind: dict,
    split: str,
    source_weights: dict,
    negative_weights: str = "abs",
    model: str = "bdt",
    later: pd.DataFrame | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The objects of one split with a target, from shard sidecars, without the ``later``
    copies of repeated events (egcalib.skim.duplicates report rows), if given.

    ``files_by_kind`` maps "mc" / "data" to sidecar paths; MC objects take ``target``
    (E_true / E_acc), data objects ``label_target`` (E_label / E_acc). Returns scalars
    (n, 16) float32, target (n,) float64 and weight (n,) float64. Weights are the per-object
    ``weight`` under the ``negative_weights`` policy (egcalib.train.weights.trained_weights; objects
    left with weight zero, by the policy or by their own weight, are left out: they contribute
    nothing) times a per-source factor that gives each source its share
    ``source_weights[kind] / sum`` of the total loss as a mean over its objects, the summed loss
    L(MC) + L(data) of seed 000 that the CNN's batch sampling gives; they average ~1. The signed
    and trained weights of each source are logged (weights.describe_weights).

    Raises ValueError naming the file for an infinite target or a non-finite weight
    (weights.sidecar_objects), and naming ``model`` for source weights that sum to zero.
    """
    parts = {}
    for kind, files in sorted(files_by_kind.items()):
        scalars, target, weight = [], [], []
        for path in files:
            table = sidecar_objects(path, split, kind, SCALAR_COLUMNS, model=model, later=later)
            scalars.append(
                np.stack([table[c].to_numpy() for c in SCALAR_COLUMNS], axis=1)
                if table.num_rows
                else np.zeros((0, len(SCALARS)), np.float32)
            )
            target.append(table[TARGET_COLUMN[kind]].to_numpy().astype(np.float64))
            weight.append(table["weight"].to_numpy().astype(np.float64))
        if files:
            signed = np.concatenate(weight)
            log.info(
                "%s", describe_weights(model, f"{kind} {split} objects", signed, negative_weights)
            )
            trained = trained_weights(signed, negative_weights)
            kept = trained != 0
            parts[kind] = (
                np.concatenate(scalars).astype(np.float32)[kept],
                np.concatenate(target)[kept],
                trained[kept],
            )
    parts = {kind: part for kind, part in parts.items() if len(part[1])}
    if not parts:
        return (np.zeros((0, len(SCALARS)), np.float32), np.zeros(0), np.zeros(0))
    total = sum(float(source_weights[kind]) for kind in parts)
    if not total > 0:  # NaN included
        raise ValueError(f"model {model}: training.source_weights of {sorted(parts)} sum to zero")
    n = sum(len(part[1]) for part in parts.values())
    for kind, (_, _, weight) in parts.items():
        weight *= source_weights[kind] / total * n / len(weight)
    merged = [np.concatenate([part[i] for part in parts.values()]) for i in range(3)]
    return merged[0], merged[1], merged[2]


def lightgbm_params(bdt: dict, seed: int) -> dict:
    """LightGBM parameters: the model's ``bdt`` settings, the L1 objective and metric, and the
    settings that make training deterministic (module docstring)."""
    return {
        "objective": "l1",
        "metric": "l1",
        "num_leaves": bdt["num_leaves"],
        "learning_rate": bdt["learning_rate"],
        "min_data_in_leaf": bdt["min_data_in_leaf"],
        "lambda_l2": bdt["lambda_l2"],
        "max_bin": bdt["max_bin"],
        "seed": seed,
        "deterministic": True,
        "force_row_wise": True,
        "num_threads": NUM_THREADS,
        "bagging_freq": 0,
        "bagging_fraction": 1.0,
        "feature_fraction": 1.0,
        "verbosity": -1,
    }


def train_bdt(
    spec: dict,
    files_by_kind: dict,
    seed: int,
    source_weights: dict,
    out_model: str | Path,
    out_history: str | Path,
    out_plot: str | Path,
    negative_weights: str = "abs",
    later: pd.DataFrame | None = None,
) -> lgb.Booster:
    """Train the BDT of ``spec`` (a resolved model entry: name, train_on, bdt settings) on the
    train split of the sidecars in ``files_by_kind`` ("mc" / "data" -> paths; without the
    ``later`` copies of repeated events, egcalib.skim.duplicates), early stopping
    on their val split after ``bdt.early_stopping_rounds`` rounds without improvement; both
    splits weighted under the ``negative_weights`` policy (training.negative_weights,
    egcalib.train.weights), as the CNNs are.

    Writes (atomically) the LightGBM text model of the best validation round, the history (one
    row per boosting round: ``round`` from 0, ``loss`` and ``val_loss``, the weighted mean
    absolute error of the correction on train and val) and its figure. Returns the booster.
    Raises ValueError naming the model when the train or val split has no object with a
    target and a non-zero weight (early stopping needs the val split: no silent training
    without it) or when a target or weight is not finite (naming the file), and
    FloatingPointError naming the model and round when a loss is not finite.
    """
    import lightgbm as lgb
    import pandas as pd

    name, settings = spec["name"], spec["bdt"]
    data = {
        split: split_objects(files_by_kind, split, source_weights, negative_weights, name, later)
        for split in ("train", "val")
    }
    files = sorted(str(p) for paths in files_by_kind.values() for p in paths)
    for split, (_, target, _) in data.items():
        if not len(target):
            raise ValueError(
                f"model {name}: no {split}-split objects with a target (and a non-zero weight "
                f"under training.negative_weights: {negative_weights}) in {files}; the BDT "
                "needs train objects to fit and val objects for early stopping (add events to "
                "its train_on datasets)"
            )
    log.info(
        "model %s: %d training and %d validation objects",
        name,
        len(data["train"][1]),
        len(data["val"][1]),
    )
    params = lightgbm_params(settings, seed)
    features = [c.removeprefix("scalar_") for c in SCALAR_COLUMNS]

    def lightgbm_dataset(split, **extra):
        scalars, target, weight = data[split]
        return lgb.Dataset(
            scalars, target, weight=weight, params=params, free_raw_data=True, **extra
        )

    train_set = lightgbm_dataset("train", feature_name=features)
    val_set = lightgbm_dataset("val", reference=train_set)
    record: dict = {}
    booster = lgb.train(
        params,
        train_set,
        num_boost_round=settings["max_rounds"],
        valid_sets=[train_set, val_set],
        valid_names=["train", "val"],
        callbacks=[
            lgb.record_evaluation(record),
            lgb.early_stopping(
                settings["early_stopping_rounds"], first_metric_only=True, verbose=False
            ),
        ],
    )
    best = booster.best_iteration or booster.current_iteration()
    history = pd.DataFrame(
        {
            "round": np.arange(len(record["val"]["l1"])),
            "loss": record["train"]["l1"],
            "val_loss": record["val"]["l1"],
        }
    )
    finite = np.isfinite(history[["loss", "val_loss"]].to_numpy()).all(axis=1)
    if not finite.all():
        first = int(np.argmin(finite))
        raise FloatingPointError(
            f"model {name}: non-finite loss at boosting round {first} "
            f"(loss {history['loss'].iloc[first]}, val_loss {history['val_loss'].iloc[first]})"
        )
    log.info(
        "model %s: %d rounds, kept round %d (val_loss %.6g)",
        name,
        len(history),
        best,
        history["val_loss"].iloc[best - 1],
    )
    with atomic_path(out_history) as tmp:
        history.to_csv(tmp, index=False)
    plot_history(history, out_plot, name, step="round")
    with atomic_path(out_model) as tmp:
        tmp.write_text(booster.model_to_string(num_iteration=best))
    return booster
