"""Snakemake script: export a trained model as a self-contained ONNX calibration (raw ntuple
inputs in, GeV out) and check it against Keras end to end, on random objects and on the
validation objects of a skim table."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import os

import pyarrow.parquet as pq

from egcalib.infer.calibration_onnx import (
    check_calibration,
    export_calibration,
    objects_from_skim,
    random_objects,
)
from egcalib.shards.splits import SPLITS, table_splits
from egcalib.train.models import load_for_inference
from egcalib.train.normalisation import load_statistics

params = snakemake.params
model = load_for_inference(snakemake.input.model)  # float32, as inference computes
stats = load_statistics(snakemake.input.normalisation)
metadata = export_calibration(
    model, stats, params.images, params.spec, params.particle, snakemake.output[0]
)
log.info("ONNX metadata: %s", metadata)
table = pq.read_table(snakemake.input.skim)
validation = table.filter(table_splits(table, params.splits) == SPLITS.index("val"))[:256]
checks = {
    "random objects": random_objects(params.images, stats),
    f"validation objects of {snakemake.input.skim}": (
        objects_from_skim(validation, params.images) if validation.num_rows else None
    ),
}
for what, raw in checks.items():
    if raw is None:
        log.info("no validation objects in %s to compare on", snakemake.input.skim)
        continue
    try:  # non-finite outputs, or a difference beyond the tolerance: no ONNX file
        difference = check_calibration(
            model, stats, params.images, snakemake.output[0], raw, params.tolerance, what
        )
    except RuntimeError:
        os.unlink(snakemake.output[0])
        raise
    log.info("the ONNX calibration agrees with Keras to %.2e of E_acc on %s", difference, what)
