"""Snakemake script: sum the per-file cutflows of a dataset into a CSV and a Markdown table."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.skim.cutflows import merge_cutflows

merge_cutflows(
    list(snakemake.input.cutflows),
    snakemake.output.csv,
    snakemake.output.markdown,
    duplicates=[snakemake.input.duplicates],
)
