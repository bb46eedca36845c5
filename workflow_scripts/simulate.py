"""Snakemake script: simulate one file of a dataset with the embedded toy calorimeter."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import json

from egcalib.simulation.config import simulation_config
from egcalib.simulation.events import simulate_file

params = snakemake.params
sim = simulation_config(params.simulation, params.images)
file_index = int(snakemake.wildcards.file.removeprefix("f"))
with open(snakemake.input.calibration) as handle:
    calibration = json.load(handle)
simulate_file(
    snakemake.output[0],
    snakemake.wildcards.dataset,
    params.process,
    params.kind,
    file_index,
    params.events,
    sim,
    calibration,
    tree=params.tree,
)
log.info(
    "%d %s %s events written to %s", params.events, params.kind, params.process, snakemake.output[0]
)
