"""Snakemake script: train one model on its datasets' shards."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import logging

from egcalib.core.provenance import cpu_model
from egcalib.core.rule_params import with_execution_knobs
from egcalib.skim.duplicates import read_reports, shard_drop_keys
from egcalib.train.input_pipeline import InputPipeline
from egcalib.train.normalisation import load_statistics
from egcalib.train.training import check_training_size, check_validation_size, train, training_data
from egcalib.train.weights import describe_split_weights

logging.getLogger("tensorflow").setLevel(logging.ERROR)
# The network's bytes depend on the CPU's kernels (docs/reproducibility.md): the results card
# names it from this line.
log.info("CPU: %s", cpu_model())
params = snakemake.params
stats = load_statistics(snakemake.input.normalisation)
check_training_size(params.spec["name"], stats["n_objects"], params.training["batch_size"])
check_validation_size(params.spec["name"], stats["n_val_objects"], params.spec["train_on"])
training = with_execution_knobs(params.training, snakemake.config, "training")
# The later copies of repeated events: their records are skipped (egcalib/skim/duplicates.py).
later = read_reports(snakemake.input.duplicates)
skip = shard_drop_keys(
    later,
    lambda dataset, file: [
        params.shard_pattern.format(dataset=dataset, file=file, split=split)
        for split in ("train", "val")
    ],
)
pipeline = InputPipeline(params.images, params.shards, stats, training["parallel_reads"], skip=skip)
batch, seed, weights = (
    params.training["batch_size"],
    params.training["seed"],
    params.training["source_weights"],
)
inputs = snakemake.input
# MC shards train on the truth, data shards on the Z-mass labels.
train_files = {"mc": list(inputs.train_mc), "data": list(inputs.train_data)}
val_files = {"mc": list(inputs.val_mc), "data": list(inputs.val_data)}
# The training objects' weights, from the sidecars: non-finite ones stop the job here, naming the
# file; their counts and effective sample sizes, signed and as trained, go to the log.
policy = params.training["negative_weights"]
sidecars = {"mc": list(inputs.sidecars_mc), "data": list(inputs.sidecars_data)}
for split in ("train", "val"):
    for line in describe_split_weights(params.spec["name"], sidecars, split, policy, later):
        log.info("%s", line)
train_data = training_data(pipeline, train_files, batch, seed, weights, True, policy)
val_data = training_data(pipeline, val_files, batch, seed, weights, False, policy)
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
    native_shapes=params.images["native_shapes"],
    target_scale=(stats["target_median"], stats["target_iqr"]),
    fingerprint={
        "train": sorted(train_files["mc"] + train_files["data"]),
        "val": sorted(val_files["mc"] + val_files["data"]),
        "statistics": stats,
    },
    initial_model=inputs.init[0] if inputs.init else None,
)
