"""Snakemake script: metrics, tables and figures of one model."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.evaluate.model_evaluation import evaluate_model
from egcalib.skim.duplicates import read_reports

out = {name: snakemake.output[name] for name in snakemake.output.keys()}  # noqa: SIM118 (a Namedlist)
summary = evaluate_model(
    snakemake.wildcards.model,
    list(snakemake.input.predictions),
    snakemake.params.datasets,
    snakemake.params.evaluation,
    out,
    later=read_reports(snakemake.input.duplicates),
    trained_on=snakemake.params.trained_on,
)
log.info("inclusive: %s", summary.get("inclusive"))
