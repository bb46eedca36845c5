"""A short training run on simulated shards learns the energy correction: the validation loss goes
down, and on held-out electrons the model beats a constant correction by far and reaches the
binned reference calibration.

The held-out electrons come from a second simulated file, all of it in the test split: ~8k
objects, so the eIQR ratios are known to ~2 % (a paired bootstrap of the 1k test objects of the
training file gives +-4 % on eIQR75 and +-8 % on eIQR95, wider than the margins tested).
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("tensorflow")

from egcalib.stats.metrics import eiqr

pytestmark = pytest.mark.slow

TRAINING_EVENTS = 6000
HELD_OUT_EVENTS = 10000
EPOCHS = 10


def _gun_shards(out, name, file_index, n_events, sim, calibration, config, splits, shards):
    """Single electrons from the simulator, skimmed and written to shards like the workflow."""
    from ntuple_builder import skim_with

    from egcalib.shards.writing import write_shards
    from egcalib.simulation.events import simulate_file

    simulate_file(
        out / f"{name}.root", "mc_egun", "egun", "mc", file_index, n_events, sim, calibration
    )
    skim_with(
        config,
        out / f"{name}.root",
        out / f"{name}.parquet",
        out / f"{name}.cutflow.json",
        dataset="mc_egun",
        process="egun",
    )
    paths = {split: out / f"{name}.{split}.tfrecord" for split in ("train", "val", "test")}
    write_shards(
        out / f"{name}.parquet",
        paths,
        out / f"{name}.sidecar.parquet",
        config["images"],
        splits,
        shards,
    )
    return paths


def test_short_training_beats_a_constant_correction_and_reaches_the_binned_reference(
    tmp_path, sim, calibration, default_config
):
    from egcalib.core.model_specs import resolve_model
    from egcalib.infer.prediction import predict_files
    from egcalib.train.input_pipeline import InputPipeline
    from egcalib.train.normalisation import training_statistics
    from egcalib.train.training import train, training_data

    config = default_config
    shards_config = {**config["shards"], "mode": "native"}  # 25x smaller on disk, same images
    train_shards = _gun_shards(
        tmp_path,
        "f000",
        0,
        TRAINING_EVENTS,
        sim,
        calibration,
        config,
        config["splits"],
        shards_config,
    )
    held_out = {**config["splits"], "fractions": {"train": 0.0, "val": 0.0, "test": 1.0}}
    held_shards = _gun_shards(
        tmp_path, "f001", 1, HELD_OUT_EVENTS, sim, calibration, config, held_out, shards_config
    )

    stats = training_statistics([tmp_path / "f000.parquet"], config["splits"])
    assert stats["n_objects"] > 2500
    pipeline = InputPipeline(config["images"], shards_config, stats)
    spec = resolve_model("recommended", config["models"]["recommended"], config["model_defaults"])
    training = {
        **copy.deepcopy(config["training"]),
        "epochs": EPOCHS,
        "early_stopping_patience": EPOCHS,
    }
    batch, seed, weights = training["batch_size"], training["seed"], training["source_weights"]
    model = train(
        spec,
        training,
        training_data(pipeline, {"mc": [train_shards["train"]]}, batch, seed, weights, True),
        training_data(pipeline, {"mc": [train_shards["val"]]}, batch, seed, weights, False),
        pipeline.image_shape,
        tmp_path / "model.keras",
        tmp_path / "history.csv",
        tmp_path / "training.png",
        tmp_path / "work",
        target_scale=(stats["target_median"], stats["target_iqr"]),
    )
    history = pd.read_csv(tmp_path / "history.csv")
    assert history["val_loss"].min() < 0.8 * history["val_loss"].iloc[0], history

    predict_files(
        model,
        pipeline,
        [held_shards["test"]],
        [tmp_path / "f001.sidecar.parquet"],
        tmp_path / "predictions.parquet",
        batch,
    )
    test = pd.read_parquet(tmp_path / "predictions.parquet")
    assert len(test) > 7000
    assert np.isfinite(test["e_pred"]).all() and (test["e_pred"] > 0).all()
    truth = test["e_truth"].to_numpy()
    responses = {
        name: test[column].to_numpy() / truth
        for name, column in (
            ("model", "e_pred"),
            ("baseline", "e_baseline"),
            ("constant", "e_acc"),
            ("binned", "e_baseline_binned"),
        )
    }
    # A constant correction c E_acc: eIQR is scale-free, so this is the eIQR of E_acc itself.
    result = {
        (name, q): eiqr(response, q) for name, response in responses.items() for q in (75, 95)
    }
    print({f"{name} eIQR{q}": round(100 * value, 3) for (name, q), value in result.items()})
    assert result["model", 75] < 0.5 * result["constant", 75], result
    # The reference is the binned calibration (a per-(|eta|, E) response correction with the
    # presampler): a network that learned no more than a flat correction is far above it.
    # Measured: 1.01 and 0.99 of the binned eIQR75 / eIQR95 (the per-object image scaling and a
    # global one give the same within 5 %). The MVA baseline (1.68 % / 3.70 % here) is beyond a
    # 6k-object, 10-epoch training: beating it needs the reference scale (configs/, issue 13).
    assert result["model", 75] < 1.05 * result["binned", 75], result
    assert result["model", 95] < 1.05 * result["binned", 95], result
