"""Snakemake script: predictions of one BDT control model for the test split of one shard file."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt import predict_file

n = predict_file(snakemake.input.model, snakemake.input.sidecar, snakemake.output[0])
log.info("%d objects predicted", n)
