"""Snakemake script: list the later copies of events repeated across the files of a dataset."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.skim.duplicates import write_report

write_report(
    list(snakemake.input.events),
    list(snakemake.input.skims),
    list(snakemake.params.files),
    snakemake.wildcards.dataset,
    snakemake.params.mode,
    snakemake.output[0],
)
