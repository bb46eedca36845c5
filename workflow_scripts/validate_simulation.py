"""Snakemake script: validate the toy calorimeter (resolution anchors, layers, data vs MC)."""

from egcalib.core.logs import log_to_file

log = log_to_file(snakemake.log[0])  # first: libraries print on import

from egcalib.simulation.config import simulation_config
from egcalib.simulation.validation import validate


def ntuples(group):
    """The local ntuples of an input group, then its remote ones (URLs)."""
    remote = snakemake.params[f"remote_{group}"]
    return list(snakemake.input[group]) + [identity["path"] for identity in remote]


sim = simulation_config(snakemake.params.simulation, snakemake.params.images)
summary = validate(
    ntuples("egun"),
    ntuples("mc_zee"),
    ntuples("data_zee"),
    snakemake.params.images["native_shapes"],
    snakemake.params.tree,
    snakemake.output.summary,
    snakemake.output.plots,
    sim=sim,
    insitu_eta_edges=snakemake.params.insitu_eta_edges,
)
if "sampling" in summary.get("resolution", {}):
    fit = summary["resolution"]
    log.info(
        "baseline resolution: a = %.3f, b = %.3f GeV, c = %.4f (in anchors: %s)",
        fit["sampling"],
        fit["noise_gev"],
        fit["constant"],
        fit["in_anchors"],
    )
if "baseline_insitu_alpha" in summary:
    log.info("baseline in-situ alpha per |eta| bin: %s", summary["baseline_insitu_alpha"])
if "zee_sigma_cb" in summary:
    log.info("Z -> ee sigma_CB: %s", summary["zee_sigma_cb"])
