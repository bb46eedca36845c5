"""Snakemake script: normalisation statistics of a model from its training split."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.skim.duplicates import read_reports
from egcalib.train.normalisation import save_statistics, training_statistics

stats = training_statistics(
    list(snakemake.input.skims), snakemake.params.splits, read_reports(snakemake.input.duplicates)
)
save_statistics(stats, snakemake.output[0])
log.info("statistics from %d training objects", stats["n_objects"])
