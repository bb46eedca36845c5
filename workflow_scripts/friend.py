"""Snakemake script: a friend ROOT file of one input ntuple with every selected calibration of
its particle (egcalib.apply.friends)."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.apply.friends import Calibration, decorate

summary = decorate(
    # A remote ntuple is no Snakemake input (egcalib.core.remote_files): its URL is in the param.
    snakemake.input.ntuple or snakemake.params.input_file["path"],
    snakemake.output[0],
    [Calibration.load(path) for path in snakemake.input.models],
    tree=snakemake.params.ntuple["tree"],
    branches=snakemake.params.ntuple["branches"],
    step_size=snakemake.config["skim"]["step_size"],  # memory only: not a param
)
log.info("friend tree written: %s", summary)
