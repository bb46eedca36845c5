"""Snakemake script: export the photon-identification CNN to ONNX, checked against Keras."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.photon_id.study import export_cnn, read_candidates

params = snakemake.params
export_cnn(
    snakemake.input.model,
    read_candidates(list(snakemake.input.candidates)),
    params.native_shapes,
    params.cnn,
    params.tolerance,
    snakemake.output[0],
)
