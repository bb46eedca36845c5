"""Snakemake script: the ablation table over all models and the recommended-model summary."""

from egcalib.core.logs import log_to_file

log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.evaluate.comparison import compare

compare(
    list(snakemake.input),
    snakemake.params.recommended,
    {name: snakemake.output[name] for name in snakemake.output.keys()},  # noqa: SIM118 (a Namedlist: `in` reads values),
)
