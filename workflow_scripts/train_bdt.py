"""Snakemake script: train one BDT control model on its datasets' shard sidecars."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt.training import train_bdt
from egcalib.skim.duplicates import read_reports

params = snakemake.params
train_bdt(
    params.spec,
    # MC sidecars train on the truth, data sidecars on the Z-mass labels.
    {"mc": list(snakemake.input.sidecars_mc), "data": list(snakemake.input.sidecars_data)},
    params.seed,
    params.source_weights,
    snakemake.output.model,
    snakemake.output.history,
    snakemake.output.plot,
    negative_weights=params.negative_weights,
    later=read_reports(snakemake.input.duplicates),
)
