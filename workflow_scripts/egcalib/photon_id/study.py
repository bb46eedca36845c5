"""The photon-identification stage's steps, as its rules run them (rules/photon_id.smk): the
candidates of a dataset, the menus tuned on the training split, the shower-shape BDT and the
CNN, and their evaluation on the test split and on radiative Z decays (docs/photon-id.md).

Splits are the shards' (egcalib.shards.splits): the menus are tuned and the classifiers trained
on the training split (they stop early on the validation split), every figure of merit comes from
the test split. The radiative-Z photons of data have no split: all of them are a test sample
the training never saw (no data trains anything here).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from egcalib.core.atomic import atomic_path
from egcalib.photon_id import classifier, evaluation, menus, plotting
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


def _menu_table(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    return {v: frame[v].to_numpy() for v in MENU_VARIABLES}


def tune(frame: pd.DataFrame, settings: Mapping, tuned_on: str) -> dict:
    """Menus (menus.tune_menus) tuned on the signal candidates of the training split of
    ``frame`` (read_candidates) with config ``photon_id.menus`` ``settings`` (tight_targets,
    loose_target, min_signal); ``tuned_on`` is recorded. Raises ValueError as tune_menus."""
    signal = frame[(frame["split"] == TRAIN) & (frame["label"] == SIGNAL)]
    return menus.tune_menus(
        _menu_table(signal),
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
        _menu_table(frame),
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


def _groups(frame: pd.DataFrame, binning: Mapping) -> dict[str, np.ndarray]:
    """Boolean masks of the evaluation's groups: inclusive, by conversion, and by E_T, |eta|
    and pile-up <mu> bins (config ``photon_id.binning``)."""
    converted = frame["converted"].to_numpy()
    groups = {"inclusive": np.ones(len(frame), bool), "unconverted": ~converted}
    groups["converted"] = converted
    for name, column in (("et", frame["et"]), ("abs_eta", frame["eta"].abs()), ("mu", frame["mu"])):
        groups.update(evaluation.bin_masks(column.to_numpy(), binning[name], name))
    return groups


def evaluate(
    frame: pd.DataFrame,
    radiative_z_data: pd.DataFrame,
    radiative_z_mc: pd.DataFrame,
    menu_file: dict,
    classifiers: Mapping[str, Callable[[pd.DataFrame], np.ndarray]],
    binning: Mapping,
    out: Mapping[str, str | Path],
) -> dict:
    """Evaluate the menus and the ``classifiers`` (name -> the scores (n,) of a frame's
    candidates; the first is the figures' main one) on the test split of ``frame`` and the
    menus on radiative Z photons; write ``out`` (working_points and radiative_z CSV, metrics
    JSON, roc and efficiency figures). The working points: per classifier, menu and group
    (_groups), the menu's efficiencies and the classifier's signal efficiency at the menu's
    background efficiency (evaluation.working_point_table). The radiative-Z photons of data
    (all of them) and of MC (test split, signal) give each menu's efficiency in data and MC
    and their scale factor (evaluation.data_mc_efficiency). Returns the metrics written."""
    test = frame[(frame["split"] == TEST) & (frame["label"] >= 0)].reset_index(drop=True)
    labels = test["label"].to_numpy()
    weights = test["weight"].to_numpy()
    decisions = dict(
        zip(
            ("loose", "tight"),
            menus.apply_menus(
                menu_file, _menu_table(test), test["eta"].to_numpy(), test["converted"].to_numpy()
            ),
        )
    )
    scores = {name: score(test) for name, score in classifiers.items()}
    groups = _groups(test, binning)
    tables = {
        (name, menu): evaluation.working_point_table(scores[name], labels, passed, groups, weights)
        for name in scores
        for menu, passed in decisions.items()
    }
    working_points = pd.concat(
        [t.assign(classifier=name, menu=menu) for (name, menu), t in tables.items()],
        ignore_index=True,
    )
    radiative_z = _radiative_z(radiative_z_data, radiative_z_mc, menu_file)
    metrics = {
        "test_candidates": {
            "signal": int((labels == SIGNAL).sum()),
            "background": int((labels != SIGNAL).sum()),
        },
        "auc": {name: evaluation.roc_auc(s, labels, weights) for name, s in scores.items()},
        "working_points": json.loads(working_points.to_json(orient="records")),
        "radiative_z": json.loads(radiative_z.to_json(orient="records")),
    }
    with atomic_path(out["working_points"]) as tmp:
        working_points.to_csv(tmp, index=False)
    with atomic_path(out["radiative_z"]) as tmp:
        radiative_z.to_csv(tmp, index=False)
    with atomic_path(out["metrics"]) as tmp:
        Path(tmp).write_text(json.dumps(metrics, indent=1, sort_keys=True) + "\n")
    main = next(iter(scores))
    inclusive = (
        tables[(main, "tight")].set_index("group"),
        tables[(main, "loose")].set_index("group"),
    )
    menu_points = {
        menu: (
            float(table.loc["inclusive", "menu_signal_eff"]),
            float(table.loc["inclusive", "menu_background_eff"]),
        )
        for menu, table in zip(("tight", "loose"), inclusive)
    }
    curves = {name: evaluation.roc_curve(s, labels, weights)[:2] for name, s in scores.items()}
    plotting.roc_figure(curves, menu_points, out["roc"])
    plotting.efficiency_figure(tables[(main, "tight")], "et", out["efficiency"])
    return metrics


def _radiative_z(data: pd.DataFrame, mc: pd.DataFrame, menu_file: dict) -> pd.DataFrame:
    """Each menu's efficiency on the photons of radiative Z decays: all of ``data``'s, and the
    prompt photons of ``mc``'s test split; their scale factor."""
    mc = mc[(mc["split"] == TEST) & (mc["label"] == SIGNAL)].reset_index(drop=True)
    passed = {
        sample: menus.apply_menus(
            menu_file, _menu_table(z), z["eta"].to_numpy(), z["converted"].to_numpy()
        )
        for sample, z in (("data", data), ("mc", mc))
    }
    return pd.DataFrame(
        [
            {
                "menu": menu,
                **evaluation.data_mc_efficiency(
                    passed["data"][i], passed["mc"][i], mc["weight"].to_numpy()
                ),
            }
            for i, menu in enumerate(("loose", "tight"))
        ]
    )
