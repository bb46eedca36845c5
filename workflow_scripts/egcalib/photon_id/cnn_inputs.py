"""The photon-identification CNN's inputs from an identification table, and its probabilities
from the exported ONNX model: what applying the classifier needs, without TensorFlow (the
network itself: egcalib.photon_id.cnn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

ID_LAYERS = ("lr1", "lr2", "lr3")
# E_T enters the network as E_T / ET_SCALE: order one over the photon-ID range.
ET_SCALE = 100.0  # GeV


def model_inputs(frame: pd.DataFrame, native_shapes: Mapping[str, Sequence[int]]) -> dict:
    """The CNN's inputs of the n candidates of ``frame`` (an identification table, with the
    cells_lr1..3 columns: flat eta-major windows [GeV]), float32: ``cells_lr1..3`` (n, n_eta,
    n_phi) in ``native_shapes`` (config ``images.native_shapes``) and ``kinematics`` (n, 3):
    |eta|, E_T / ET_SCALE, converted (0/1)."""
    inputs = {
        f"cells_{layer}": np.stack(frame[f"cells_{layer}"].to_numpy())
        .astype(np.float32)
        .reshape(len(frame), *native_shapes[layer])
        for layer in ID_LAYERS
    }
    inputs["kinematics"] = np.column_stack(
        [frame["eta"].abs(), frame["et"] / ET_SCALE, frame["converted"].astype(float)]
    ).astype(np.float32)
    return inputs


def onnx_scores(
    path: str | Path, frame: pd.DataFrame, native_shapes: Mapping[str, Sequence[int]]
) -> np.ndarray:
    """The prompt-photon probability (n,) of the candidates of ``frame`` from the exported
    CNN ``path`` (model.onnx), run with onnxruntime."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    inputs = model_inputs(frame, native_shapes)
    return session.run(None, {i.name: inputs[i.name] for i in session.get_inputs()})[0].reshape(-1)
