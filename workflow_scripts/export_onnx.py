"""Snakemake script: export a trained model to ONNX and check it against Keras, on random inputs
and on real objects of a validation shard."""

from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import os

from egcalib.export import export_onnx, max_difference, random_inputs, shard_inputs
from egcalib.models import load_for_inference
from egcalib.normalisation import load
from egcalib.pipeline import InputPipeline

params = snakemake.params
model = load_for_inference(snakemake.input.model)  # float32, as inference computes
export_onnx(model, snakemake.output[0])
pipeline = InputPipeline(params.images, params.shards, load(snakemake.input.normalisation))
checks = {
    "random inputs": random_inputs(model),
    f"objects of {snakemake.input.shard}": shard_inputs(pipeline, snakemake.input.shard),
}
for what, inputs in checks.items():
    if inputs is None:
        log.info("no objects in %s to compare on", snakemake.input.shard)
        continue
    difference = max_difference(model, snakemake.output[0], inputs)
    if difference > params.tolerance:
        os.unlink(snakemake.output[0])
        raise RuntimeError(
            f"ONNX output differs from Keras by {difference:.2e} on {what} "
            f"(tolerance {params.tolerance:g})"
        )
    log.info("ONNX export agrees with Keras to %.2e on %s", difference, what)
