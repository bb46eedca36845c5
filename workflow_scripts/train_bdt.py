"""Snakemake script: train one BDT control model on its datasets' shard sidecars."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt import train_bdt
from egcalib.model_config import files_by_kind

params = snakemake.params
train_bdt(params.model, files_by_kind(snakemake.input.sidecars, params.kinds), params.seed,
          params.source_weights, snakemake.output.model, snakemake.output.history,
          snakemake.output.plot)
