"""The photon-identification CNN: prompt photons against jets from the cell windows of the
strips, the middle and the back layer (seeds 003 and 004).

Seed 003 (ATLAS) feeds a CNN the cluster cells of the three EM layers, each cell divided by the
cluster energy; seed 004 (LAPP) feeds 7 x 11 windows of layers 1-3 with each layer's pixels
divided by that layer's energy. Both are options (``normalisation``: "cluster" or "layer"), and
the division happens inside the network, so the model (and its ONNX export) takes the windows in
GeV as the ntuple stores them. Each layer keeps its native shape (strips 56 x 5, middle and back
7 x 11): a convolution branch per layer, their features joined with |eta|, E_T and the
conversion flag (the BDT control's kinematic inputs) in a dense head with a sigmoid output, the
probability of a prompt photon. Training is inclusive in eta and E_T, over converted and
unconverted photons; the classes are weighted to equal totals (classifier.class_weights, seed
004's answer to unequal samples).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from keras import layers, ops

from egcalib.core.atomic import atomic_path
from egcalib.photon_id.classifier import class_weights
from egcalib.photon_id.cnn_inputs import ET_SCALE, ID_LAYERS, model_inputs
from egcalib.train.callbacks import FiniteLoss, epoch_log

log = logging.getLogger(__name__)

NORMALISATIONS = ("cluster", "layer")


@keras.saving.register_keras_serializable(package="egcalib")
class WindowNormalisation(layers.Layer):
    """The windows of ID_LAYERS, each (n, n_eta, n_phi) [GeV], divided by the cluster's energy
    in them (``mode`` "cluster", seed 003) or each by its own layer's energy ("layer", seed
    004), with a channel axis added: (n, n_eta, n_phi, 1) each. A window of no energy stays
    zero (the divisor is at least 1e-6 GeV)."""

    def __init__(self, mode: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        if mode not in NORMALISATIONS:
            raise ValueError(f"normalisation {mode!r}: not one of {NORMALISATIONS}")
        self.mode = mode

    def call(self, windows: Sequence) -> list:
        sums = [ops.sum(w, axis=(1, 2), keepdims=True) for w in windows]
        if self.mode == "cluster":
            total = sums[0] + sums[1] + sums[2]
            sums = [total] * len(windows)
        return [ops.expand_dims(w / ops.maximum(s, 1e-6), -1) for w, s in zip(windows, sums)]

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


def build_id_cnn(native_shapes: Mapping[str, Sequence[int]], settings: Mapping) -> keras.Model:
    """The ID CNN for windows of ``native_shapes`` (config ``images.native_shapes``) with
    config ``photon_id.cnn`` ``settings`` (normalisation, filters, dense). Inputs: ``cells_lr1``,
    ``cells_lr2``, ``cells_lr3`` (n, n_eta, n_phi) [GeV] and ``kinematics`` (n, 3): |eta|,
    E_T / ET_SCALE, converted (0/1). Output ``prompt_probability`` (n, 1). Raises ValueError
    for an unknown normalisation."""
    inputs = {
        f"cells_{layer}": keras.Input(tuple(native_shapes[layer]), name=f"cells_{layer}")
        for layer in ID_LAYERS
    }
    inputs["kinematics"] = keras.Input((3,), name="kinematics")
    windows, kinematics = [inputs[f"cells_{layer}"] for layer in ID_LAYERS], inputs["kinematics"]
    images = WindowNormalisation(settings["normalisation"], name="normalisation")(windows)
    features = []
    for layer, image in zip(ID_LAYERS, images):
        x = image
        for i in range(2):
            x = layers.Conv2D(
                settings["filters"], 3, padding="same", activation="relu", name=f"{layer}_conv{i}"
            )(x)
        features.append(layers.Flatten(name=f"{layer}_flat")(x))
    x = layers.Concatenate(name="join")([*features, kinematics])
    x = layers.Dense(settings["dense"], activation="relu", name="dense")(x)
    output = layers.Dense(1, activation="sigmoid", name="prompt_probability")(x)
    return keras.Model(inputs, output, name="photon_id_cnn")


def train_id_cnn(
    train: pd.DataFrame,
    val: pd.DataFrame,
    native_shapes: Mapping[str, Sequence[int]],
    settings: Mapping,
    seed: int,
    model_path: str | Path,
    history_path: str | Path,
) -> keras.Model:
    """Train the ID CNN on the labelled candidates ``train`` (label 1 prompt, 0 background),
    each class weighted to equal totals on top of the event weights, with Adam (``settings``
    learning_rate, batch_size, epochs) and early stopping on the weighted validation loss of
    ``val`` (patience ``settings["patience"]``, the best epoch's weights kept). Deterministic
    for a ``seed`` on one machine's CPU. Logs each epoch. Writes the model (.keras) and the
    history (CSV) atomically; returns the model. Raises ValueError as class_weights does and
    FloatingPointError at a non-finite loss (callbacks.FiniteLoss)."""
    # Seeds alone, as the energy networks (egcalib.train.training): op determinism would be
    # switched on for the whole process, where some of TensorFlow's ops then refuse to run.
    keras.utils.set_random_seed(seed)
    model = build_id_cnn(native_shapes, settings)
    model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss="binary_crossentropy",
        weighted_metrics=["binary_crossentropy"],
    )

    def weighted(frame):
        labels = frame["label"].to_numpy()
        return (
            model_inputs(frame, native_shapes),
            labels.astype(np.float32).reshape(-1, 1),
            class_weights(labels, frame["weight"].to_numpy()).astype(np.float32),
        )

    x, y, w = weighted(train)
    history = model.fit(
        x,
        y,
        sample_weight=w,
        validation_data=weighted(val),
        batch_size=settings["batch_size"],
        epochs=settings["epochs"],
        shuffle=True,
        verbose=0,
        callbacks=[
            FiniteLoss(model.name),
            epoch_log(log),
            keras.callbacks.EarlyStopping(patience=settings["patience"], restore_best_weights=True),
        ],
    )
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    with atomic_path(history_path) as tmp:
        pd.DataFrame(history.history).rename_axis("epoch").to_csv(tmp)
    return model


def id_cnn_scores(model: keras.Model, frame: pd.DataFrame, native_shapes: Mapping) -> np.ndarray:
    """The CNN's prompt-photon probability (n,) of the candidates of ``frame``."""
    inputs = model_inputs(frame, native_shapes)
    return np.asarray(model.predict(inputs, batch_size=1024, verbose=0)).reshape(-1)


def input_metadata(native_shapes: Mapping[str, Sequence[int]], normalisation: str) -> dict:
    """The ONNX model's inputs: name -> {shape, unit, description}."""
    divided = {"cluster": "the cluster's", "layer": "its layer's"}[normalisation]
    return {
        **{
            f"cells_{layer}": {
                "shape": list(native_shapes[layer]),
                "unit": "GeV",
                "description": f"cell energies of layer {layer}, eta x phi around the cluster "
                f"centre (divided by {divided} energy inside the model)",
            }
            for layer in ID_LAYERS
        },
        "kinematics": {
            "shape": [3],
            "unit": {"abs_eta": "1", "et": f"{ET_SCALE:g} GeV", "converted": "1"},
            "description": "|eta|, E_T / 100 GeV, converted (convType > 0: 1, else 0)",
        },
    }


def export_id_onnx(model: keras.Model, path: str | Path, metadata: Mapping[str, str]) -> None:
    """Write ``model`` as ONNX to ``path`` (atomically; infer.onnx_export.export_onnx) with
    ``metadata`` (string keys and values) added to the egcalib version and model name."""
    import onnx

    from egcalib.infer.onnx_export import export_onnx

    export_onnx(model, path)
    proto = onnx.load(str(path))
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
