"""egcalib: the importable library behind the egcalib Snakemake workflow.

One module per concept (simulation, skimming, selection, upsampling, records, models, training,
inference, metrics, fitting, plotting), each importing only from its own stage or earlier ones
(docs/design.md section 13). Nothing here imports snakemake, so every piece is testable with
pytest alone.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    # The package's version (pyproject.toml), which the results cards and ONNX models report.
    __version__ = version("egcalib")
except PackageNotFoundError:  # the library used from a checkout that was never installed
    __version__ = "unknown"
