"""Training one model (docs/design.md#models).

Deterministic given the seed; mixed precision and XLA on a GPU, plain float32 on CPU (XLA on CPU
is configurable: ~3x faster for a ~0.7M-parameter model, docs/design.md#known-pitfalls); Adam with a
plateau or cosine learning-rate schedule and early stopping; a backup of model and optimizer state
every epoch, so a killed job rerun resumes at the next epoch with the weights it saved; the model
written is that of the epoch with the lowest validation loss (kept across resumes), an MDN
model's sigma then calibrated on the validation split (resolution_calibration); history,
curve and the final .keras file written atomically. A non-finite training or validation loss
stops the job at once (FiniteLoss), naming the model, epoch and batch.
"""

from __future__ import annotations

import hashlib
import logging
import math
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import pandas as pd
import tensorflow as tf

from egcalib.core.atomic import atomic_path
from egcalib.core.rule_params import EXECUTION_KNOBS
from egcalib.train.callbacks import FiniteLoss, epoch_log
from egcalib.train.checkpoints import (
    AtomicBackupAndRestore,
    BestValidationWeights,
    StopAfter,
    discard_stale_checkpoint,
)
from egcalib.train.history import plot_history
from egcalib.train.losses import get_loss
from egcalib.train.models import build_model, copy_weights, load_for_inference
from egcalib.train.normalisation import DEFAULT_TARGET_SCALE
from egcalib.train.sigma_calibration import calibrate_sigma
from egcalib.train.weights import TARGET_COLUMN

if TYPE_CHECKING:
    from egcalib.train.input_pipeline import InputPipeline

log = logging.getLogger(__name__)


def has_gpu() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


def compile_model(
    spec: dict,
    training: dict,
    image_shape: Sequence[int],
    time_images: bool,
    target_scale: tuple[float, float] = DEFAULT_TARGET_SCALE,
    native_shapes: dict | None = None,
) -> keras.Model:
    """Build and compile the Keras model of ``spec`` (a resolved model entry) with its loss and
    the optimizer of ``training`` (``native_shapes``: the cell windows a transformer recovers,
    models.build_model)."""
    gpu = has_gpu()
    keras.mixed_precision.set_global_policy("mixed_float16" if gpu else "float32")
    strategy = (
        tf.distribute.MirroredStrategy()
        if gpu and training["multi_gpu"]
        else tf.distribute.get_strategy()
    )
    with strategy.scope():
        model = build_model(spec, image_shape, time_images, target_scale, native_shapes)
        model.compile(
            optimizer=keras.optimizers.Adam(training["learning_rate"]),
            loss=get_loss(spec["loss"]),
            jit_compile=True if gpu else training["jit_compile_cpu"],
        )
    return model


def train(
    spec: dict,
    training: dict,
    train_data: tf.data.Dataset,
    val_data: tf.data.Dataset,
    image_shape: Sequence[int],
    out_model: str | Path,
    out_history: str | Path,
    out_plot: str | Path,
    work_dir: str | Path,
    time_images: bool = False,
    stop_after_epoch: int | None = None,
    extra_callbacks: Iterable[keras.callbacks.Callback] = (),
    target_scale: tuple[float, float] = DEFAULT_TARGET_SCALE,
    fingerprint: object = None,
    initial_model: str | Path | None = None,
    native_shapes: dict | None = None,
) -> keras.Model:
    """Train, resuming from ``work_dir`` when a previous run of the same job was killed.
    ``target_scale`` is the (median, IQR) of the training targets (normalisation.json);
    ``fingerprint`` describes the inputs (files, statistics) beyond model and training settings:
    a checkpoint written for others is discarded (discard_stale_checkpoint). ``initial_model``,
    a saved model's path (the spec's ``init_from``), gives the starting weights instead of the
    random initialisation (models.copy_weights; ValueError for another architecture).
    ``native_shapes``: config images.native_shapes, the cell windows a transformer recovers from
    the image (models.build_model)."""
    keras.utils.set_random_seed(training["seed"])
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    initial_digest = None
    if initial_model is not None:
        with open(initial_model, "rb") as file:
            initial_digest = hashlib.file_digest(file, "sha256").hexdigest()
    # Execution knobs (XLA, multi-GPU) do not make a checkpoint stale.
    knobs = EXECUTION_KNOBS["training"]
    discard_stale_checkpoint(
        work_dir,
        {
            "model": spec,
            "training": {k: v for k, v in training.items() if k not in knobs},
            "image_shape": list(image_shape),
            "time_images": time_images,
            "native_shapes": native_shapes,
            "target_scale": list(target_scale),
            "inputs": fingerprint,
            "initial_model": initial_digest,
        },
    )
    model = compile_model(spec, training, image_shape, time_images, target_scale, native_shapes)
    log.info("model %s: %d parameters", model.name, model.count_params())
    if initial_model is not None:  # a resumed job's backup then replaces these (on_train_begin)
        copied = copy_weights(load_for_inference(initial_model), model)
        log.info(
            "model %s starts from %s: the weights of %d layers", model.name, initial_model, copied
        )
    partial_history = work_dir / "history.partial.csv"
    csv_logger = keras.callbacks.CSVLogger(str(partial_history), append=True)
    callbacks = [
        # First: its epoch's learning rate reaches the history row.
        learning_rate_schedule(training),
        # Before the history row and the backup: a NaN epoch is neither recorded nor resumed.
        FiniteLoss(spec["name"]),
        # The history row of an epoch is written before its backup: a job killed in between
        # reruns that epoch and its row is replaced (duplicates are dropped below).
        csv_logger,
        BestValidationWeights(work_dir / "best"),
        AtomicBackupAndRestore(str(work_dir / "backup"), delete_checkpoint=False),
        keras.callbacks.LambdaCallback(on_train_begin=lambda logs: _log_resume(model)),
        keras.callbacks.EarlyStopping(
            patience=training["early_stopping_patience"], restore_best_weights=False
        ),
    ]
    callbacks.append(epoch_log(log))
    callbacks.extend(extra_callbacks)  # after BackupAndRestore: they see the restored state
    if stop_after_epoch is not None:
        callbacks.append(StopAfter(stop_after_epoch))
    try:
        model.fit(
            train_data,
            validation_data=val_data,
            epochs=training["epochs"],
            callbacks=callbacks,
            shuffle=False,  # the input pipeline shuffles; Keras cannot shuffle a tf.data.Dataset
            verbose=0,
        )
    finally:
        # Keras closes the history file only at the end of a completed fit: a stopped or
        # failed one would leave it open until the interpreter exits.
        if csv_logger.csv_file is not None:
            csv_logger.csv_file.close()
    history = pd.read_csv(partial_history).drop_duplicates("epoch", keep="last")
    with atomic_path(out_history) as tmp:
        history.to_csv(tmp, index=False)
    plot_history(history, out_plot, model.name)
    calibrate_sigma(model, val_data)  # MDN models: sigma scaled to cover 68 % of validation
    with atomic_path(out_model) as tmp:
        model.save(tmp)
    for finished in ("backup", "best"):  # nothing left to resume
        shutil.rmtree(work_dir / finished, ignore_errors=True)
    partial_history.unlink()
    (work_dir / "fingerprint.json").unlink()
    return model


def cosine_learning_rate(epoch: int, training: dict) -> float:
    """Learning rate of ``epoch`` (0-based) under the cosine schedule: from ``learning_rate``
    down to ~0 over ``epochs``, one step per epoch (Loshchilov & Hutter, SGDR, arXiv:1608.03983,
    without restarts). The last epochs run at a small rate, so BatchNorm's moving statistics
    follow the weights and the validation loss settles; a plateau schedule keyed on a noisy
    validation loss may never lower the rate within a short training."""
    return training["learning_rate"] * 0.5 * (1.0 + math.cos(math.pi * epoch / training["epochs"]))


def learning_rate_schedule(training: dict) -> keras.callbacks.Callback:
    """The callback of ``training.lr_schedule``: ``plateau`` (ReduceLROnPlateau on the validation
    loss, ``lr_factor`` and ``lr_patience``) or ``cosine`` (cosine_learning_rate). Both act at
    epoch boundaries, so a resumed job continues the same schedule."""
    if training["lr_schedule"] == "cosine":
        return keras.callbacks.LearningRateScheduler(
            lambda epoch: cosine_learning_rate(epoch, training)
        )
    return keras.callbacks.ReduceLROnPlateau(
        factor=training["lr_factor"], patience=training["lr_patience"]
    )


def _log_resume(model) -> None:
    epoch = getattr(model, "_initial_epoch", None) or 0  # set by BackupAndRestore on restore
    if epoch:
        log.info(
            "resumed from the checkpoint of epoch %d: continuing at epoch %d", epoch, epoch + 1
        )


def check_training_size(model_name: str, n_objects: int, batch_size: int) -> None:
    """Training batches have a fixed size: fewer objects than one batch would train nothing."""
    if n_objects < batch_size:
        raise ValueError(
            f"model {model_name}: {n_objects} training objects, fewer than one batch "
            f"of {batch_size}; add events to its train_on datasets or lower "
            "training.batch_size"
        )


def check_validation_size(model_name: str, n_val_objects: int, datasets: Iterable[str]) -> None:
    """The best epoch, early stopping and the learning-rate plateau all follow the validation
    loss: a model without validation objects would train blind and keep its last epoch."""
    if n_val_objects == 0:
        raise ValueError(
            f"model {model_name}: no validation objects with a target in its "
            f"train_on datasets {list(datasets)}; add events (or files) to them, "
            "or raise splits.fractions.val"
        )


def training_data(
    pipeline: InputPipeline,
    files_by_kind: dict,
    batch_size: int,
    seed: int,
    source_weights: dict,
    training: bool,
    negative_weights: str = "abs",
) -> tf.data.Dataset:
    """MC files train on the truth target, data files on the Z-mass labels; with both, batches
    are drawn from the two sources with the configured weights, so the expected loss is the
    weighted sum L(MC) + L(data) of seed 000. Object weights follow the ``negative_weights``
    policy (training.negative_weights, egcalib.train.weights)."""
    parts, weights = [], []
    for kind, files in sorted(files_by_kind.items()):
        if files:
            parts.append(
                pipeline.dataset(
                    files,
                    batch_size,
                    training=training,
                    target=TARGET_COLUMN[kind],
                    seed=seed,
                    negative_weights=negative_weights,
                )
            )
            weights.append(float(source_weights[kind]))
    if not parts:
        raise ValueError("training: no shard files to train on")
    if len(parts) == 1:
        return parts[0]
    return tf.data.Dataset.sample_from_datasets(
        parts, weights=weights, seed=seed, stop_on_empty_dataset=False
    )
