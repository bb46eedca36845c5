"""Snakemake script: derive the toy detector's baseline calibration from its own sample."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

import json

from egcalib.core.atomic import atomic_path
from egcalib.simulation.baseline_calibration import derive_baseline_calibration
from egcalib.simulation.config import simulation_config

sim = simulation_config(snakemake.params.simulation, snakemake.params.images)
# Electrons and photons in a process each: the whole run waits for this rule.
tables = derive_baseline_calibration(sim, processes=snakemake.threads)
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps(tables, indent=1))
log.info(
    "MVA and binned calibrations for %s written to %s", sorted(tables["mva"]), snakemake.output[0]
)
