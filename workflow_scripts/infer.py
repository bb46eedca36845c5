"""Snakemake script: predictions of one model for the test split of one shard file."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.inference import predict_file
from egcalib.models import load_for_inference
from egcalib.normalisation import load
from egcalib.pipeline import InputPipeline

params = snakemake.params
model = load_for_inference(snakemake.input.model)
pipeline = InputPipeline(params.images, params.shards, load(snakemake.input.normalisation))
n = predict_file(model, pipeline, snakemake.input.shard, snakemake.input.sidecar,
                 snakemake.output[0], params.batch_size)
log.info("%d objects predicted", n)
