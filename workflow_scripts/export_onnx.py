"""Snakemake script: export a trained model to ONNX and check it against Keras, on random inputs
and on real objects of a validation shard."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import os

from egcalib.infer.onnx_export import check_onnx, export_onnx, random_inputs, shard_inputs
from egcalib.train.input_pipeline import InputPipeline
from egcalib.train.models import load_for_inference
from egcalib.train.normalisation import load_statistics

params = snakemake.params
model = load_for_inference(snakemake.input.model)  # float32, as inference computes
export_onnx(model, snakemake.output[0])
pipeline = InputPipeline(
    params.images, params.shards, load_statistics(snakemake.input.normalisation)
)
checks = {
    "random inputs": random_inputs(model),
    f"objects of {snakemake.input.shard}": shard_inputs(pipeline, snakemake.input.shard),
}
for what, inputs in checks.items():
    if inputs is None:
        log.info("no objects in %s to compare on", snakemake.input.shard)
        continue
    try:  # non-finite outputs, or a difference beyond the tolerance: no ONNX file
        difference = check_onnx(model, snakemake.output[0], inputs, params.tolerance, what)
    except RuntimeError:
        os.unlink(snakemake.output[0])
        raise
    log.info("ONNX export agrees with Keras to %.2e on %s", difference, what)
