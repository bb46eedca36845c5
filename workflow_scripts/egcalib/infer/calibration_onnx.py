"""Self-contained ONNX calibration models: what an ntuple holds goes in, GeV come out
(docs/design.md#models).

The network of ``model.keras`` takes the upsampled image divided by E_acc, standardised scalars
and tracks and log E_acc, and returns E / E_acc on its own scale. The exported calibration wraps
it with every step the workflow performs around it, in the same TensorFlow operations the input
pipeline uses (Upsampler.tf_upsample, normalisation.image_factor and normalise): the native cell
windows per layer are upsampled and scaled, the scalars and tracks standardised with the
model's training statistics, and the correction multiplied by E_acc. Users of the file need
nothing but onnxruntime; its metadata say what each input is (name, shape, unit) and what the
model is (egcalib version, name, spec, training datasets, a hash of all that fixes its outputs,
the export date).

E_acc is the first scalar (contract.SCALARS: E1 + E2 + E3 of the cluster). The workflow's own
predictions take E_acc as the sum of the skim's cl_E1..3, which can differ from the stored
E_acc in the last float32 digit: the two agree to float32 rounding, not bit for bit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from egcalib.core.contract import (
    CELL_COLUMNS,
    LAYERS,
    N_TRACKS,
    SCALARS,
    TIME_COLUMNS,
    TRACK_FEATURES,
)
from egcalib.infer.onnx_export import (
    ENERGY,
    SIGMA,
    compare_outputs,
    onnx_energies,
    scalars_input,
    write_calibration,
)
from egcalib.shards.skim_table import fixed_size
from egcalib.shards.upsampling import Upsampler
from egcalib.train.normalisation import image_factor, normalise

if TYPE_CHECKING:
    import keras
    import pyarrow as pa


def raw_inputs(images: dict, time_images: bool | None = None) -> dict[str, dict]:
    """The calibration's inputs in order: name -> {"shape" (per object), "unit",
    "description"}. Cell windows are (n_eta, n_phi) per layer of ``images["native_shapes"]``;
    cell times follow when ``time_images`` (default: ``images["time_images"]``)."""
    time_images = images["time_images"] if time_images is None else time_images
    inputs: dict[str, dict] = {}
    for column, layer in zip(CELL_COLUMNS, LAYERS, strict=True):
        inputs[column] = {
            "shape": list(images["native_shapes"][layer]),
            "unit": "GeV",
            "description": f"cell energies of layer {layer}, eta x phi around the cluster centre",
        }
    if time_images:
        for column, layer in zip(TIME_COLUMNS, LAYERS, strict=True):
            inputs[column] = {
                "shape": list(images["native_shapes"][layer]),
                "unit": "ns",
                "description": f"cell times of layer {layer}",
            }
    inputs["scalars"] = scalars_input()
    inputs["tracks"] = {
        "shape": [N_TRACKS, len(TRACK_FEATURES)],
        "unit": "pT/q GeV, angles rad, z0 mm",
        "description": "the nearest tracks in Delta-R, features " + ", ".join(TRACK_FEATURES),
    }
    inputs["track_mask"] = {
        "shape": [N_TRACKS],
        "unit": "1",
        "description": "1 for a track, 0 for padding",
    }
    return inputs


def _forward(model: keras.Model, stats: dict, images: dict):  # -> (tf.function, names)
    """The calibration as a tf.function of the raw inputs (raw_inputs order) returning
    {"energy": (n,) GeV} and, for a model with a per-object resolution, {"sigma_energy"}."""
    import tensorflow as tf

    time_images = "time_image" in model.input
    spec = raw_inputs(images, time_images)
    names = list(spec)
    upsampler = Upsampler(images["native_shapes"], images["target_shape"])
    pixels = upsampler.target_shape[0] * upsampler.target_shape[1]
    signature = [
        tf.TensorSpec((None, *spec[name]["shape"]), tf.float32, name=name) for name in names
    ]

    def native(raw, columns):
        return tf.concat([tf.reshape(raw[c], (tf.shape(raw[c])[0], -1)) for c in columns], 1)

    @tf.function(input_signature=signature)
    def forward(*tensors):
        raw = dict(zip(names, tensors, strict=True))
        e_acc = raw["scalars"][:, SCALARS.index("E_acc")]
        factor = image_factor(e_acc, pixels)
        inputs = {
            "image": upsampler.tf_upsample(native(raw, CELL_COLUMNS), factor=factor),
            "scalars": raw["scalars"],
            "tracks": raw["tracks"],
            "track_mask": raw["track_mask"],
            "e_acc": e_acc,
        }
        if time_images:
            inputs["time_image"] = upsampler.tf_upsample(native(raw, TIME_COLUMNS), intensive=True)
        output = model(normalise(inputs, stats, scale_image=False), training=False)
        out = {ENERGY: output[:, 0] * e_acc}
        if output.shape[-1] > 1:
            out[SIGMA] = output[:, 1] * e_acc
        return out

    return forward, signature


def model_hash(spec: dict, images: dict, stats: dict) -> str:
    """sha256 of what fixes a trained calibration's outputs besides its weights: the model spec,
    the image settings and the training statistics (canonical JSON)."""
    text = json.dumps({"spec": spec, "images": images, "stats": stats}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def export_calibration(
    model: keras.Model,
    stats: dict,
    images: dict,
    spec: dict,
    particle: str,
    path: str | Path,
    opset: int = 17,
) -> dict[str, str]:
    """Write the self-contained calibration of ``model`` (its float32 copy, trained with the
    statistics ``stats`` of normalisation.json, on images of ``images``: config["images"];
    ``spec``: the resolved model entry, with ``name`` and ``train_on``; ``particle``:
    "electron" or "photon", what it calibrates) to ``path`` as ONNX,
    atomically. Named inputs (raw_inputs) and outputs (``energy``, ``sigma_energy`` for MDN
    models), both (n,) float32 [GeV]. Returns the metadata written into the file."""
    import tf2onnx

    forward, signature = _forward(model, stats, images)
    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=opset)
    return write_calibration(
        proto,
        path,
        spec,
        particle,
        raw_inputs(images, "time_image" in model.input),
        model_hash(spec, images, stats),
    )


def objects_from_skim(table: pa.Table, images: dict) -> dict[str, np.ndarray]:
    """The raw inputs (raw_inputs) of the objects of a skim table, float32 numpy arrays with
    the object as first axis: what the calibration reads from an ntuple."""
    shapes = images["native_shapes"]
    n = table.num_rows
    raw = {
        column: fixed_size(table[column]).reshape(n, *shapes[layer]).astype(np.float32)
        for column, layer in zip(CELL_COLUMNS, LAYERS, strict=True)
    }
    if images["time_images"]:
        for column, layer in zip(TIME_COLUMNS, LAYERS, strict=True):
            raw[column] = fixed_size(table[column]).reshape(n, *shapes[layer]).astype(np.float32)
    raw["scalars"] = np.stack(
        [table[f"scalar_{name}"].to_numpy() for name in SCALARS], axis=1
    ).astype(np.float32)
    raw["tracks"] = fixed_size(table["tracks"]).reshape(n, N_TRACKS, len(TRACK_FEATURES))
    raw["track_mask"] = fixed_size(table["tracks_mask"]).astype(np.float32)
    return raw


def keras_energies(
    model: keras.Model, stats: dict, images: dict, raw: dict[str, np.ndarray]
) -> np.ndarray:
    """The reference: the Keras model on the raw inputs through the workflow's numpy path
    (Upsampler, normalise): (n, k) float32, E [GeV] and, for MDN models, sigma [GeV]."""
    upsampler = Upsampler(images["native_shapes"], images["target_shape"])
    e_acc = raw["scalars"][:, SCALARS.index("E_acc")]
    inputs = {
        "image": upsampler(
            upsampler.concatenate(dict(zip(LAYERS, (raw[c] for c in CELL_COLUMNS))))
        ).copy(),
        "scalars": raw["scalars"],
        "tracks": raw["tracks"],
        "track_mask": raw["track_mask"],
        "e_acc": e_acc,
    }
    if "time_image" in model.input:
        times = dict(zip(LAYERS, (raw[c] for c in TIME_COLUMNS)))
        inputs["time_image"] = upsampler(upsampler.concatenate(times), intensive=True).copy()
    output = np.asarray(model(normalise(inputs, stats), training=False))
    return output * e_acc[:, None]


def check_calibration(
    model: keras.Model,
    stats: dict,
    images: dict,
    path: str | Path,
    raw: dict[str, np.ndarray],
    tolerance: float,
    what: str,
) -> float:
    """Compare the ONNX calibration ``path`` with the Keras model end to end on the raw inputs
    ``raw`` (``what``: their description for the message); returns the largest difference of
    E in units of E_acc. Raises RuntimeError (onnx_export.compare_outputs) when an energy of
    either is not finite or when they differ by more than ``tolerance`` of E_acc."""
    e_acc = np.maximum(np.abs(raw["scalars"][:, SCALARS.index("E_acc")]), 1e-3)[:, None]
    return compare_outputs(
        model.name,
        keras_energies(model, stats, images, raw),
        onnx_energies(path, raw),
        tolerance,
        what,
        scale=("E_acc", e_acc),
        quantity="energy",
    )


def random_objects(images: dict, stats: dict, n: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Raw inputs drawn within the training distribution that ``stats`` (normalisation.json)
    describe: scalars and track features at median + IQR x N(0, 1), E_acc at exp(median + IQR x
    N(0, 1)) of log E_acc, positive cells, a 0/1 track mask. Far outside it (an eta_modcalo of
    order 1 where its IQR is 0.01) a network's activations grow large enough for float32
    rounding to differ between ONNX Runtime and TensorFlow by more than the check's tolerance."""
    rng = np.random.default_rng(seed)
    raw = {
        name: rng.normal(size=(n, *entry["shape"])).astype(np.float32)
        for name, entry in raw_inputs(images).items()
    }
    for column in CELL_COLUMNS:
        raw[column] = np.abs(raw[column])
    raw["scalars"] = (
        np.float32(stats["scalar_median"]) + np.float32(stats["scalar_iqr"]) * raw["scalars"]
    )
    raw["scalars"][:, SCALARS.index("E_acc")] = np.exp(
        stats["log_e_acc_median"] + stats["log_e_acc_iqr"] * rng.normal(size=n)
    )
    raw["tracks"] = (
        np.float32(stats["track_median"]) + np.float32(stats["track_iqr"]) * raw["tracks"]
    )
    raw["track_mask"] = (raw["track_mask"] > 0).astype(np.float32)
    return raw
