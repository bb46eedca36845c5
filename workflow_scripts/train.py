"""Snakemake script: train one model on its datasets' shards."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import logging

from egcalib.model_config import files_by_kind
from egcalib.normalisation import load
from egcalib.pipeline import InputPipeline
from egcalib.settings import with_execution_knobs
from egcalib.training import check_training_size, check_validation_size, train, training_data

logging.getLogger("tensorflow").setLevel(logging.ERROR)
params = snakemake.params
stats = load(snakemake.input.normalisation)
check_training_size(params.model["name"], stats["n_objects"], params.training["batch_size"])
check_validation_size(params.model["name"], stats["n_val_objects"], params.model["train_on"])
training = with_execution_knobs(params.training, snakemake.config, "training")
pipeline = InputPipeline(params.images, params.shards, stats, training["parallel_reads"])
batch, seed, weights = (params.training["batch_size"], params.training["seed"],
                        params.training["source_weights"])
train_data = training_data(pipeline, files_by_kind(snakemake.input.train, params.kinds), batch,
                           seed, weights, True)
val_data = training_data(pipeline, files_by_kind(snakemake.input.val, params.kinds), batch,
                         seed, weights, False)
train(params.model, training, train_data, val_data, pipeline.image_shape,
      snakemake.output.model, snakemake.output.history, snakemake.output.plot, params.work_dir,
      time_images=params.images["time_images"],
      target_scale=(stats["target_median"], stats["target_iqr"]),
      fingerprint={"train": sorted(snakemake.input.train), "val": sorted(snakemake.input.val),
                   "statistics": stats})
