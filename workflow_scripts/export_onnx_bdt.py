"""Snakemake script: export a BDT control model as a self-contained ONNX calibration (the 16
scalars in, GeV out) and check it against LightGBM, on the validation objects of the sidecars
it trains on and on objects on both sides of every split of its trees."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import os

import numpy as np

from egcalib.bdt.calibration_onnx import (
    check_bdt_calibration,
    export_bdt_calibration,
    split_scalars,
    threshold_objects,
)

params = snakemake.params
model_path, out = snakemake.input.model, snakemake.output[0]
metadata = export_bdt_calibration(
    model_path, params.spec, params.particle, params.native_shapes, out
)
log.info("ONNX metadata: %s", metadata)
validation = split_scalars(snakemake.input.sidecars, "val")
checks = {
    f"the validation objects of {len(snakemake.input.sidecars)} sidecars": validation,
    # Where float32 thresholds could send an object to another leaf than LightGBM's: around
    # every split, the other scalars those of a typical validation object.
    "objects on both sides of every split": (
        threshold_objects(model_path, np.median(validation, axis=0)) if len(validation) else None
    ),
}
for what, scalars in checks.items():
    if scalars is None or not len(scalars):
        log.info("no objects to compare on: %s", what)
        continue
    try:  # non-finite outputs, or a difference beyond the tolerance: no ONNX file
        difference = check_bdt_calibration(
            params.spec["name"], model_path, out, scalars, params.tolerance, what
        )
    except RuntimeError:
        os.unlink(out)
        raise
    log.info(
        "the ONNX calibration agrees with LightGBM to %.2e of E_acc on %s (%d objects)",
        difference,
        what,
        len(scalars),
    )
