"""Snakemake script: train one BDT control model on its datasets' shard sidecars."""
from egcalib.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt import train_bdt

params = snakemake.params


def by_kind(files):
    grouped = {"mc": [], "data": []}
    for path in files:
        dataset = path.split("/")[-2]
        grouped[params.kinds[dataset]].append(path)
    return grouped


train_bdt(params.model, by_kind(snakemake.input.sidecars), params.seed, params.source_weights,
          snakemake.output.model, snakemake.output.history, snakemake.output.plot)
