"""Snakemake script: the menus and the BDT on the test split and on radiative Z photons."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

import lightgbm

from egcalib.photon_id.menus import read_menus
from egcalib.photon_id.study import evaluate, read_candidates

inputs = snakemake.input
evaluate(
    read_candidates(list(inputs.candidates)),
    read_candidates(list(inputs.radiative_z_data)),
    read_candidates(list(inputs.radiative_z_mc)),
    read_menus(inputs.menus),
    lightgbm.Booster(model_file=inputs.bdt),
    snakemake.params.binning,
    snakemake.output,
)
