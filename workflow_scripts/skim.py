"""Snakemake script: skim one input ntuple into the per-object table and its cutflow."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.skim.skimming import skim_file

params = snakemake.params
skim_file(
    # A remote ntuple is no Snakemake input (egcalib.core.remote_files): its URL is in the param.
    snakemake.input[0] if snakemake.input else params.input_file["path"],
    snakemake.output.table,
    snakemake.output.cutflow,
    dataset=snakemake.wildcards.dataset,
    file_name=snakemake.wildcards.file,
    kind=params.kind,
    process=params.process,
    ntuple=params.ntuple,
    selection=params.selection,
    skim={**snakemake.config["skim"], "duplicates": params.duplicates},  # step_size: a knob
    native_shapes=params.native_shapes,
    out_events=snakemake.output.events,
)
