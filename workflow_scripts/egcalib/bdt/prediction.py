"""Inference of the BDT control model (docs/design.md#models): its predictions for a chunk of
shard sidecars, in the CNN's format (egcalib.infer.prediction), without TensorFlow."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from egcalib.bdt.training import NUM_THREADS
from egcalib.core.contract import SCALAR_COLUMNS
from egcalib.infer.prediction import (
    KEY,
    check_finite_predictions,
    join_predictions,
    write_predictions,
)


def predict_files(
    model_path: str | Path,
    sidecar_paths: Iterable[str | Path],
    out_path: str | Path,
    name: str | None = None,
) -> int:
    """Predict the correction E_pred / E_acc of the test-split objects of each sidecar with the
    LightGBM text model ``model_path``; write them all like a CNN's predictions
    (inference.join_predictions: ids, e_acc, correction, sigma_correction = NaN, e_pred,
    sigma_e_pred = NaN in GeV, and the sidecar columns). Returns the number of objects.
    Raises ValueError naming the model (``name``, else its path), the sidecar and the chunk,
    writing nothing, when a prediction is not finite (inference.check_finite_predictions)."""
    import lightgbm as lgb
    import pandas as pd

    booster = lgb.Booster(model_file=str(model_path))
    frames = []
    for path in sidecar_paths:
        sidecar = pq.read_table(path).to_pandas()
        test = sidecar[sidecar["split"] == "test"]
        scalars = test[list(SCALAR_COLUMNS)].to_numpy(np.float32)
        correction = booster.predict(scalars, num_threads=NUM_THREADS) if len(test) else np.zeros(0)
        check_finite_predictions(name or str(model_path), correction, path, out_path)
        frame = pd.DataFrame(
            {
                **{k: test[k].to_numpy().astype(np.int64) for k in KEY},
                "e_acc": test["e_acc"].to_numpy().astype(np.float32),
                "correction": np.asarray(correction, np.float32),
                "sigma_correction": np.full(len(test), np.nan, np.float32),
            }
        )
        frames.append(join_predictions(frame, sidecar))
    return write_predictions(frames, out_path)
