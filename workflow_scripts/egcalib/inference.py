"""Inference: predictions of a model for one shard file, joined back to the object table."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.atomic import atomic_path

KEY = ["runNumber", "eventNumber", "object_index"]


def predict_file(model, pipeline, shard_path, sidecar_path, out_path, batch_size: int) -> int:
    """Predict every object of ``shard_path``; write ids, E_pred (and sigma), baseline, truth,
    label and the per-object columns evaluation needs. Returns the number of objects."""
    import pandas as pd

    ids, corrections, sigmas = [], [], []
    for inputs, record in pipeline.dataset([shard_path], batch_size, training=False,
                                           with_ids=True):
        output = model(inputs, training=False).numpy()
        corrections.append(output[:, 0])
        sigmas.append(output[:, 1] if output.shape[1] > 1 else np.full(len(output), np.nan))
        ids.append({k: record[k].numpy() for k in KEY + ["e_acc"]})
    if ids:
        frame = pd.DataFrame({k: np.concatenate([b[k] for b in ids]) for k in ids[0]})
        frame["correction"] = np.concatenate(corrections).astype(np.float32)
        frame["sigma_correction"] = np.concatenate(sigmas).astype(np.float32)
    else:
        frame = pd.DataFrame({k: np.zeros(0, np.int64) for k in KEY} | {
            "e_acc": np.zeros(0, np.float32), "correction": np.zeros(0, np.float32),
            "sigma_correction": np.zeros(0, np.float32)})
    return write_predictions(frame, pq.read_table(sidecar_path).to_pandas(), out_path)


def write_predictions(frame, sidecar, out_path) -> int:
    """Join predictions to the sidecar's object rows and write them atomically; return the
    number of objects. Every model kind writes predictions through here, so evaluation reads
    one format.

    ``frame`` (pandas, one row per predicted object, in shard order) holds the ids ``KEY``
    (int64), ``e_acc`` (GeV, float32), ``correction`` = E_pred / E_acc and ``sigma_correction``
    (its per-object resolution, NaN for models without one), both float32; ``sidecar`` is the
    shard's sidecar table as pandas. Written: those columns, every sidecar column (baseline,
    binned reference, truth, label, kinematics, split, ...), ``e_pred`` and ``sigma_e_pred`` in
    GeV. Raises pandas' MergeError when an id occurs twice.
    """
    frame = frame.merge(sidecar.drop(columns=["e_acc"]), on=KEY, how="left",
                        validate="one_to_one")
    frame["e_pred"] = (frame["correction"] * frame["e_acc"]).astype(np.float32)
    frame["sigma_e_pred"] = (frame["sigma_correction"] * frame["e_acc"]).astype(np.float32)
    with atomic_path(out_path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    return len(frame)
