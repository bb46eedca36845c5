"""Inference: a model's predictions for a chunk of shard files, joined to the object table."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path

if TYPE_CHECKING:
    import keras
    import pandas as pd

    from egcalib.train.input_pipeline import InputPipeline

KEY = ["runNumber", "eventNumber", "object_index"]


def predict_files(
    model: keras.Model,
    pipeline: InputPipeline,
    shard_paths: Iterable[str | Path],
    sidecar_paths: Iterable[str | Path],
    out_path: str | Path,
    batch_size: int,
) -> int:
    """Predict every object of each shard file (its sidecar beside it, same order) and write
    them all to ``out_path``: ids, E_pred (and sigma), baseline, truth, label and the per-object
    columns evaluation needs (write_predictions). One job predicts a chunk of files: the model
    is loaded and compiled once. Returns the number of objects. Raises ValueError, writing
    nothing, when a prediction is not finite (check_finite_predictions)."""
    return write_predictions(
        [
            join_predictions(
                predict_shard(model, pipeline, shard, batch_size, chunk=out_path),
                pq.read_table(sidecar).to_pandas(),
            )
            for shard, sidecar in zip(shard_paths, sidecar_paths, strict=True)
        ],
        out_path,
    )


def check_finite_predictions(
    model: str, output: npt.ArrayLike, where: str | Path, chunk: str | Path | None = None
) -> None:
    """Raise ValueError naming ``model``, the objects' file ``where``, the predictions'
    ``chunk`` (output file) and the number of objects when an output (n,) or (n, k) of a model
    (the correction, and sigma of an MDN model) is NaN or infinite: evaluation would drop them,
    or fit them, without a word."""
    output = np.asarray(output, np.float64)
    finite = np.isfinite(output) if output.ndim == 1 else np.isfinite(output).all(axis=1)
    bad = int(np.sum(~finite))
    if bad:
        raise ValueError(
            f"model {model}: {bad} of {len(output)} objects of {where} with a non-finite "
            f"prediction (NaN or infinite)"
            + (f" for {chunk}" if chunk is not None else "")
            + "; nothing written"
        )


def predict_shard(
    model: keras.Model,
    pipeline: InputPipeline,
    shard_path: str | Path,
    batch_size: int,
    chunk: str | Path | None = None,
) -> pd.DataFrame:
    """Predictions for the objects of one shard file, in shard order: a pandas frame of ids
    ``KEY`` (int64), ``e_acc`` (GeV), ``correction`` = E_pred / E_acc and ``sigma_correction``
    (NaN for models without a per-object resolution), float32. Raises ValueError naming the
    model, the file and ``chunk`` (the predictions' file) when an output is not finite."""
    import pandas as pd

    ids, outputs = [], []
    for inputs, record in pipeline.dataset([shard_path], batch_size, training=False, with_ids=True):
        outputs.append(model(inputs, training=False).numpy())
        ids.append({k: record[k].numpy() for k in KEY + ["e_acc"]})
    if not ids:
        return pd.DataFrame(
            {k: np.zeros(0, np.int64) for k in KEY}
            | {
                "e_acc": np.zeros(0, np.float32),
                "correction": np.zeros(0, np.float32),
                "sigma_correction": np.zeros(0, np.float32),
            }
        )
    output = np.concatenate(outputs)
    check_finite_predictions(model.name, output, shard_path, chunk)
    frame = pd.DataFrame({k: np.concatenate([b[k] for b in ids]) for k in ids[0]})
    frame["correction"] = output[:, 0].astype(np.float32)
    frame["sigma_correction"] = (
        output[:, 1] if output.shape[1] > 1 else np.full(len(output), np.nan)
    ).astype(np.float32)
    return frame


def join_predictions(frame: pd.DataFrame, sidecar: pd.DataFrame) -> pd.DataFrame:
    """Predictions joined to their shard's sidecar object rows. Every model kind predicts
    through here, so evaluation reads one format.

    ``frame`` (pandas, one row per predicted object) holds the ids ``KEY`` (int64), ``e_acc``
    (GeV, float32), ``correction`` = E_pred / E_acc and ``sigma_correction`` (its per-object
    resolution, NaN for models without one), both float32; ``sidecar`` is the shard's sidecar
    table as pandas. Returned: those columns, every sidecar column (baseline, binned reference,
    truth, label, kinematics, split, ...), ``e_pred`` and ``sigma_e_pred`` in GeV. Raises
    pandas' MergeError when an id occurs twice in the file.
    """
    frame = frame.merge(sidecar.drop(columns=["e_acc"]), on=KEY, how="left", validate="one_to_one")
    frame["e_pred"] = (frame["correction"] * frame["e_acc"]).astype(np.float32)
    frame["sigma_e_pred"] = (frame["sigma_correction"] * frame["e_acc"]).astype(np.float32)
    return frame


def write_predictions(frames: Sequence[pd.DataFrame], out_path: str | Path) -> int:
    """Write the joined predictions of one or more files (join_predictions) as one Parquet
    table, atomically; return the number of objects."""
    import pandas as pd

    frame = pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)
    with atomic_path(out_path) as tmp:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), tmp)
    return len(frame)
