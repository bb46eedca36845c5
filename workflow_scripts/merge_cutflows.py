"""Snakemake script: sum the per-file cutflows of a dataset into a CSV and a Markdown table."""
from egcalib.cutflows import merge_cutflows
from egcalib.logs import log_to_file

log_to_file(snakemake.log[0])
merge_cutflows(list(snakemake.input), snakemake.output.csv, snakemake.output.markdown)
