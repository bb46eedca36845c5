"""Snakemake script: simulate one file of a dataset with the embedded toy calorimeter."""
import json

from egcalib.logs import log_to_file
from egcalib.simulation import simulate_file, simulation_config

log = log_to_file(snakemake.log[0])
spec = snakemake.params.dataset
sim = simulation_config(snakemake.params.simulation, snakemake.params.images)
file_index = int(snakemake.wildcards.file.removeprefix("f"))
with open(snakemake.input.calibration) as handle:
    calibration = json.load(handle)
simulate_file(snakemake.output[0], snakemake.wildcards.dataset, spec["process"], spec["kind"],
              file_index, spec["events_per_file"], sim, calibration, tree=snakemake.params.tree)
log.info("%d %s %s events written to %s", spec["events_per_file"], spec["kind"], spec["process"],
         snakemake.output[0])
