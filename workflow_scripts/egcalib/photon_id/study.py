"""The photon-identification stage's steps, as its rules run them (rules/photon_id.smk): the
candidates of a dataset, the menus tuned on the training split, the shower-shape BDT and the
CNN (their evaluation: egcalib.photon_id.performance; docs/photon-id.md).

Splits are the shards' (egcalib.shards.splits): the menus are tuned and the classifiers trained
on the training split (they stop early on the validation split), every figure of merit comes from
the test split.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path
from egcalib.photon_id import classifier, menus
from egcalib.photon_id.candidates import SIGNAL, identification_table
from egcalib.photon_id.inputs import MENU_VARIABLES
from egcalib.shards.splits import SPLITS
from egcalib.skim.duplicates import read_reports, table_without_later_copies

if TYPE_CHECKING:
    import keras
    import lightgbm

log = logging.getLogger(__name__)

TRAIN, VAL, TEST = (SPLITS.index(name) for name in ("train", "val", "test"))


def write_candidates(
    skims: Sequence[str | Path],
    duplicates: str | Path,
    out_path: str | Path,
    kind: str,
    native_shapes: Mapping[str, Sequence[int]],
    splits: Mapping,
) -> pd.DataFrame:
    """Write the identification table (candidates.identification_table) of a dataset's skim
    tables ``skims``, without the later copies of repeated events its ``duplicates`` report
    lists, as Parquet to ``out_path`` (atomically); ``kind``: "mc" or "data". Logs the
    candidates read, dropped as repeated and dropped for a non-finite variable. Returns the
    table. Raises ValueError as identification_table does, naming the file."""
    later = read_reports([duplicates])
    frames = []
    for path in skims:
        table = pq.read_table(path)
        kept = table_without_later_copies(table, later)
        try:
            frame, non_finite = identification_table(kept, native_shapes, splits, kind == "mc")
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from None
        log.info(
            "%s: %d candidates, %d of repeated events dropped, %d dropped for a non-finite "
            "shower-shape variable",
            path,
            table.num_rows,
            table.num_rows - kept.num_rows,
            non_finite,
        )
        frames.append(frame)
    frame = pd.concat(frames, ignore_index=True)
    with atomic_path(out_path) as tmp:
        frame.to_parquet(tmp, index=False)
    return frame


def read_candidates(paths: Sequence[str | Path]) -> pd.DataFrame:
    """The identification tables of ``paths`` (write_candidates), concatenated in order."""
    return pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)


def menu_table(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The menus' variables (n,) each of the n candidates of ``frame``."""
    return {v: frame[v].to_numpy() for v in MENU_VARIABLES}


def menu_decisions(menu_file: dict, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The (loose, tight) decisions (n,) bool of the candidates of ``frame`` under
    ``menu_file`` (menus.apply_menus)."""
    return menus.apply_menus(
        menu_file, menu_table(frame), frame["eta"].to_numpy(), frame["converted"].to_numpy()
    )


def tune(frame: pd.DataFrame, settings: Mapping, tuned_on: str) -> dict:
    """Menus (menus.tune_menus) tuned on the signal candidates of the training split of
    ``frame`` (read_candidates) with config ``photon_id.menus`` ``settings`` (tight_targets,
    loose_target, min_signal); ``tuned_on`` is recorded. Raises ValueError as tune_menus."""
    signal = frame[(frame["split"] == TRAIN) & (frame["label"] == SIGNAL)]
    return menus.tune_menus(
        menu_table(signal),
        signal["eta"].to_numpy(),
        signal["converted"].to_numpy(),
        tight_targets=settings["tight_targets"],
        loose_target=settings["loose_target"],
        min_signal=settings["min_signal"],
        tuned_on=tuned_on,
    )


def features(frame: pd.DataFrame) -> np.ndarray:
    """The BDT's (n, len(classifier.ID_FEATURES)) features of the candidates of ``frame``."""
    return classifier.feature_matrix(
        menu_table(frame),
        np.abs(frame["eta"].to_numpy()),
        frame["et"].to_numpy(),
        frame["converted"].to_numpy().astype(float),
    )


def train(
    frame: pd.DataFrame, settings: Mapping, seed: int, threads: int, out_path: str | Path
) -> lightgbm.Booster:
    """Train the shower-shape BDT (classifier.train_id_bdt) on the labelled candidates of the
    training split of ``frame``, stopping early on its validation split, with config
    ``photon_id.bdt`` ``settings``; write its text model to ``out_path`` (atomically) and
    return the booster. Raises ValueError when a split lacks signal or background."""
    labelled = frame[frame["label"] >= 0]
    parts = {s: labelled[labelled["split"] == s] for s in (TRAIN, VAL)}
    booster = classifier.train_id_bdt(
        features(parts[TRAIN]),
        parts[TRAIN]["label"].to_numpy(),
        features(parts[VAL]),
        parts[VAL]["label"].to_numpy(),
        settings,
        seed,
        threads,
    )
    with atomic_path(out_path) as tmp:
        booster.save_model(str(tmp))
    log.info("BDT: %d trees, trained on %d candidates", booster.num_trees(), len(parts[TRAIN]))
    return booster


def train_cnn(
    frame: pd.DataFrame,
    native_shapes: Mapping[str, Sequence[int]],
    settings: Mapping,
    seed: int,
    out: Mapping[str, str | Path],
) -> keras.Model:
    """Train the ID CNN (cnn.train_id_cnn) on the labelled candidates of the training split of
    ``frame``, stopping early on its validation split, with config ``photon_id.cnn``
    ``settings``; writes ``out["model"]`` and ``out["history"]``. Returns the model."""
    from egcalib.photon_id import cnn

    labelled = frame[frame["label"] >= 0]
    model = cnn.train_id_cnn(
        labelled[labelled["split"] == TRAIN],
        labelled[labelled["split"] == VAL],
        native_shapes,
        settings,
        seed,
        out["model"],
        out["history"],
    )
    log.info("CNN: trained on %d candidates", int((labelled["split"] == TRAIN).sum()))
    return model


def export_cnn(
    model_path: str | Path,
    frame: pd.DataFrame,
    native_shapes: Mapping[str, Sequence[int]],
    settings: Mapping,
    tolerance: float,
    out_path: str | Path,
) -> float:
    """Export the ID CNN ``model_path`` to ONNX at ``out_path`` with its inputs, output and
    settings in the metadata, and check it against Keras on up to 512 validation candidates
    of ``frame``. Returns the largest difference of the probabilities. Raises RuntimeError
    (removing ``out_path``) when it exceeds ``tolerance`` or an output is not finite."""
    import keras

    from egcalib.infer.onnx_export import check_onnx
    from egcalib.photon_id import cnn, cnn_inputs

    model = keras.models.load_model(model_path)
    metadata = {
        "task": "photon identification: probability of a prompt photon against jets",
        "inputs": json.dumps(cnn.input_metadata(native_shapes, settings["normalisation"])),
        "outputs": json.dumps({"prompt_probability": {"shape": [1], "unit": "1"}}),
        "settings": json.dumps(dict(settings), sort_keys=True),
    }
    cnn.export_id_onnx(model, out_path, metadata)
    val = frame[(frame["split"] == VAL) & (frame["label"] >= 0)].head(512)
    try:
        largest = check_onnx(
            model,
            out_path,
            cnn_inputs.model_inputs(val, native_shapes),
            tolerance,
            "validation candidates",
        )
    except RuntimeError:
        Path(out_path).unlink()
        raise
    log.info("ONNX and Keras agree to %.2e on %d validation candidates", largest, len(val))
    return largest
