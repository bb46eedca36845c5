"""Snakemake script: the photon-identification table of one dataset's skim tables."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.photon_id.study import write_candidates

params = snakemake.params
write_candidates(
    list(snakemake.input.skims),
    snakemake.input.duplicates,
    snakemake.output[0],
    params.kind,
    params.native_shapes,
    params.splits,
)
