"""ONNX export of a trained model, checked against Keras with onnxruntime
(docs/design.md#models); what every exported calibration shares (the scalars input, the energy
output, running one, comparing it with its reference), the CNN's and the BDT's alike.

tf2onnx converts a traced tf.function with a fixed input signature (the Keras 3 model object
itself is not a tf.keras model). The inputs keep the model's names. Export the float32 copy
(models.load_for_inference): ONNX computes in float32, so it agrees with that copy to float32
rounding (1e-4 is the rule's tolerance), whatever precision the model was trained in. A NaN or
infinite output of either fails the check (check_onnx): NaN > tolerance is False, so the plain
comparison passed a model that gives NaN everywhere.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from egcalib.core.atomic import atomic_path
from egcalib.core.contract import SCALARS

if TYPE_CHECKING:
    import keras
    import onnx

    from egcalib.train.input_pipeline import InputPipeline

# Units of the scalars (contract.SCALARS order), for the metadata.
SCALAR_UNITS = {
    "E_acc": "GeV",
    "p_track": "GeV",
    "E_tilegap": "GeV",
    "dphi_rescaled": "rad",
    "dphi_h3": "rad",
}
ENERGY, SIGMA = "energy", "sigma_energy"


def scalars_input() -> dict:
    """The metadata of a calibration's ``scalars`` input: {"shape": [16], "unit": {scalar name
    -> unit, in input order}, "description"}."""
    return {
        "shape": [len(SCALARS)],
        "unit": {name: SCALAR_UNITS.get(name, "1") for name in SCALARS},
        "description": "the 16 scalars in contract order: " + ", ".join(SCALARS),
    }


def write_calibration(
    proto: onnx.ModelProto,
    path: str | Path,
    spec: dict,
    particle: str,
    inputs: dict,
    model_hash: str,
    **extra: str,
) -> dict[str, str]:
    """Write the calibration graph ``proto`` to ``path`` atomically, with the metadata every
    egcalib calibration carries (egcalib_version, model_name, particle, model_spec, trained_on,
    inputs, outputs, model_hash, exported) and the ``extra`` keys, all strings. ``spec`` is the
    resolved model entry (with ``name`` and ``train_on``), ``inputs`` the input name -> {shape,
    unit, description} of the graph; its outputs are energies in GeV. Returns the metadata."""
    from egcalib import __version__

    metadata = {
        "egcalib_version": __version__,
        "model_name": spec["name"],
        "particle": particle,
        "model_spec": json.dumps(spec, sort_keys=True),
        "trained_on": json.dumps(list(spec["train_on"])),
        "inputs": json.dumps(inputs),
        "outputs": json.dumps({o.name: {"shape": [], "unit": "GeV"} for o in proto.graph.output}),
        **extra,
        "model_hash": model_hash,
        "exported": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())
    return metadata


def onnx_energies(path: str | Path, raw: dict[str, np.ndarray]) -> np.ndarray:
    """The ONNX calibration ``path`` run with onnxruntime on ``raw`` (input name -> float32
    array, the object first): (n, k) float32, its k outputs [GeV] side by side."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: raw[i.name] for i in session.get_inputs()}
    return np.stack(session.run(None, feed), axis=1)


def export_onnx(model: keras.Model, path: str | Path, opset: int = 17) -> None:
    """Write ``model`` as ONNX to ``path`` (atomically), with the egcalib version and the model's
    name in its metadata (``egcalib_version``, ``model_name``)."""
    import tensorflow as tf
    import tf2onnx

    from egcalib import __version__

    names = list(model.input)
    signature = [
        tf.TensorSpec((None, *model.input[name].shape[1:]), tf.float32, name=name) for name in names
    ]

    @tf.function(input_signature=signature)
    def forward(*tensors):
        return model(dict(zip(names, tensors)), training=False)

    proto, _ = tf2onnx.convert.from_function(forward, input_signature=signature, opset=opset)
    for key, value in {"egcalib_version": __version__, "model_name": model.name}.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    with atomic_path(path) as tmp:
        tmp.write_bytes(proto.SerializeToString())


def outputs(
    model: keras.Model, onnx_path: str | Path, inputs: dict
) -> tuple[np.ndarray, np.ndarray]:
    """(Keras, ONNX) outputs of ``model`` and its export ``onnx_path`` on ``inputs`` (a dict of
    numpy arrays)."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {i.name: inputs[i.name] for i in session.get_inputs()})[0]
    return np.asarray(model(inputs, training=False)), np.asarray(onnx_out)


def max_difference(model: keras.Model, onnx_path: str | Path, inputs: dict) -> float:
    """Largest |ONNX - Keras| output difference on ``inputs`` (a dict of numpy arrays); inf
    when an output of either is not finite, so no tolerance passes it (NaN > tolerance, the
    naive check, is False)."""
    keras_out, onnx_out = outputs(model, onnx_path, inputs)
    if not (np.isfinite(keras_out).all() and np.isfinite(onnx_out).all()):
        return math.inf
    return float(np.max(np.abs(onnx_out - keras_out), initial=0.0))


def check_onnx(
    model: keras.Model, onnx_path: str | Path, inputs: dict, tolerance: float, what: str
) -> float:
    """Compare ONNX and Keras on ``inputs`` (``what``: their description for the message) and
    return the largest difference. Raises RuntimeError as compare_outputs does."""
    keras_out, onnx_out = outputs(model, onnx_path, inputs)
    return compare_outputs(model.name, keras_out, onnx_out, tolerance, what)


def compare_outputs(
    name: str,
    keras_out: np.ndarray,
    onnx_out: np.ndarray,
    tolerance: float,
    what: str,
    scale: tuple[str, np.ndarray] | None = None,
    quantity: str = "output",
    reference: str = "Keras",
) -> float:
    """The largest |ONNX - reference| of model ``name``'s outputs (n, k) on ``what``, in units
    of ``scale`` if given: (its name, its values (n, 1)), e.g. ("E_acc", e_acc); ``keras_out``
    is the reference's (``reference``: what computed it, for the messages). Raises
    RuntimeError when an output of either is NaN or infinite (counted: a model must give a
    finite correction for every object) or when they differ by more than ``tolerance``
    anywhere (a NaN difference fails too)."""
    bad = {
        source: int(np.sum(~np.isfinite(out)))
        for source, out in ((reference, keras_out), ("ONNX", onnx_out))
    }
    if any(bad.values()):
        raise RuntimeError(
            f"model {name}: non-finite {quantity}s on {what} (of {keras_out.size}: "
            + ", ".join(f"{n} from {source}" for source, n in bad.items())
            + ")"
        )
    difference = np.abs(onnx_out - keras_out) / (1.0 if scale is None else scale[1])
    largest = float(np.max(difference, initial=0.0))
    if not np.all(difference <= tolerance):
        unit = "" if scale is None else f" of {scale[0]}"
        raise RuntimeError(
            f"model {name}: ONNX {quantity} differs from {reference} by {largest:.2e}{unit} on "
            f"{what} (tolerance {tolerance:g})"
        )
    return largest


def random_inputs(model: keras.Model, n: int = 8, seed: int = 0) -> dict:
    """Inputs of the model's shapes, with a realistic 0/1 track mask."""
    rng = np.random.default_rng(seed)
    inputs = {
        name: rng.normal(size=(n, *tensor.shape[1:])).astype(np.float32)
        for name, tensor in model.input.items()
    }
    inputs["image"] = np.abs(inputs["image"])
    inputs["track_mask"] = (inputs["track_mask"] > 0).astype(np.float32)
    return inputs


def shard_inputs(pipeline: InputPipeline, shard_path: str | Path, n: int = 256) -> dict | None:
    """Up to ``n`` real objects of a shard file as model inputs (numpy); None if it has none."""
    for inputs, _ in pipeline.dataset([shard_path], n, training=False, with_ids=True).take(1):
        return {name: value.numpy() for name, value in inputs.items()}
    return None
