"""Snakemake script: train the photon-identification CNN on the layer windows."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.photon_id.study import read_candidates, train_cnn

params = snakemake.params
train_cnn(
    read_candidates(list(snakemake.input)),
    params.native_shapes,
    params.cnn,
    params.seed,
    snakemake.output,
)
