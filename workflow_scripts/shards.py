"""Snakemake script: upsample one skim file's images and write its shards and sidecar."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.shards.writing import write_shards

output = snakemake.output
counts = write_shards(
    snakemake.input[0],
    {"train": output.train, "val": output.val, "test": output.test},
    output.sidecar,
    snakemake.params.images,
    snakemake.params.splits,
    snakemake.params.shards,
)
log.info("objects per split: %s", counts)
