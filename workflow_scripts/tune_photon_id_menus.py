"""Snakemake script: tune the cut-based photon menus on the training split's prompt photons."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from pathlib import Path

from egcalib.photon_id.menus import write_menus
from egcalib.photon_id.study import read_candidates, tune

files = list(snakemake.input)
tuned_on = "training split, prompt photons of " + ", ".join(Path(f).stem for f in files)
write_menus(tune(read_candidates(files), snakemake.params.menus, tuned_on), snakemake.output[0])
