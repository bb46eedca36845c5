"""Snakemake script: predictions of one model for the test split of a chunk of shard files."""

from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.inference import predict_files
from egcalib.models import load_for_inference
from egcalib.normalisation import load
from egcalib.pipeline import InputPipeline

params = snakemake.params
model = load_for_inference(snakemake.input.model)
pipeline = InputPipeline(params.images, params.shards, load(snakemake.input.normalisation))
n = predict_files(
    model,
    pipeline,
    snakemake.input.shards,
    snakemake.input.sidecars,
    snakemake.output[0],
    params.batch_size,
)
log.info("%d objects predicted in %d files", n, len(snakemake.input.shards))
