"""Snakemake script: train the shower-shape BDT that tells prompt photons from jets."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.bdt.training import NUM_THREADS
from egcalib.photon_id.study import read_candidates, train

params = snakemake.params
train(
    read_candidates(list(snakemake.input)),
    params.bdt,
    params.seed,
    NUM_THREADS,  # not the machine's: the model must not depend on it
    snakemake.output.model,
)
