"""egcalib: the importable library behind the egcalib Snakemake workflow.

One module per concept (simulation, selection, images, shards, models, training, metrics,
fitting, plotting). Nothing here imports snakemake, so every piece is testable with pytest alone.
"""
