"""Snakemake script: export a trained model to ONNX and check it against Keras."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import keras

import egcalib.losses  # noqa: F401 - registers the custom losses for loading
import egcalib.models  # noqa: F401 - registers the custom layers for loading
from egcalib.export import export_onnx, max_difference, random_inputs

model = keras.models.load_model(snakemake.input[0], compile=False)
export_onnx(model, snakemake.output[0])
difference = max_difference(model, snakemake.output[0], random_inputs(model))
if difference > snakemake.params.tolerance:
    import os

    os.unlink(snakemake.output[0])
    raise RuntimeError(f"ONNX output differs from Keras by {difference:.2e}")
log.info("ONNX export agrees with Keras to %.2e", difference)
