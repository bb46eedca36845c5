"""Snakemake script: predictions of one model for the test split of a chunk of shard files."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.infer.prediction import predict_files
from egcalib.train.input_pipeline import InputPipeline
from egcalib.train.models import load_for_inference
from egcalib.train.normalisation import load_statistics

params = snakemake.params
model = load_for_inference(snakemake.input.model)
pipeline = InputPipeline(
    params.images, params.shards, load_statistics(snakemake.input.normalisation)
)
n = predict_files(
    model,
    pipeline,
    snakemake.input.shards,
    snakemake.input.sidecars,
    snakemake.output[0],
    params.batch_size,
)
log.info("%d objects predicted in %d files", n, len(snakemake.input.shards))
