"""Snakemake script: normalisation statistics of a model from its training split."""
from egcalib.logs import log_to_file
from egcalib.normalisation import save, training_statistics

log = log_to_file(snakemake.log[0])
stats = training_statistics(list(snakemake.input), snakemake.params.splits)
save(stats, snakemake.output[0])
log.info("statistics from %d training objects", stats["n_objects"])
