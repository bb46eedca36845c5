"""Snakemake script: train one model on its datasets' shards."""

from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import logging

from egcalib.normalisation import load
from egcalib.pipeline import InputPipeline
from egcalib.settings import with_execution_knobs
from egcalib.training import check_training_size, check_validation_size, train, training_data

logging.getLogger("tensorflow").setLevel(logging.ERROR)
params = snakemake.params
stats = load(snakemake.input.normalisation)
check_training_size(params.spec["name"], stats["n_objects"], params.training["batch_size"])
check_validation_size(params.spec["name"], stats["n_val_objects"], params.spec["train_on"])
training = with_execution_knobs(params.training, snakemake.config, "training")
pipeline = InputPipeline(params.images, params.shards, stats, training["parallel_reads"])
batch, seed, weights = (
    params.training["batch_size"],
    params.training["seed"],
    params.training["source_weights"],
)
inputs = snakemake.input
# MC shards train on the truth, data shards on the Z-mass labels.
train_files = {"mc": list(inputs.train_mc), "data": list(inputs.train_data)}
val_files = {"mc": list(inputs.val_mc), "data": list(inputs.val_data)}
train_data = training_data(pipeline, train_files, batch, seed, weights, True)
val_data = training_data(pipeline, val_files, batch, seed, weights, False)
train(
    params.spec,
    training,
    train_data,
    val_data,
    pipeline.image_shape,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.plot,
    params.work_dir,
    time_images=params.images["time_images"],
    target_scale=(stats["target_median"], stats["target_iqr"]),
    fingerprint={
        "train": sorted(train_files["mc"] + train_files["data"]),
        "val": sorted(val_files["mc"] + val_files["data"]),
        "statistics": stats,
    },
    initial_model=inputs.init[0] if inputs.init else None,
)
