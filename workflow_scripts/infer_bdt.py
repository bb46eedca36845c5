"""Snakemake script: predictions of one BDT control model for the test split of a chunk of shard
files."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt.prediction import predict_files

n = predict_files(
    snakemake.input.model,
    snakemake.input.sidecars,
    snakemake.output[0],
    name=snakemake.wildcards.model,
)
log.info("%d objects predicted in %d files", n, len(snakemake.input.sidecars))
